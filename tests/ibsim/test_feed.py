"""The replay feed itself: 5-second bars that aggregate exactly, its configuration's checks, and
a stored series (explicit frames, with a gap) replayed to the real client as given."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from ib_async import IB, Stock
from tests.ibsim.conftest import FEED_START, until

from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.errors import InvalidInputError
from algotrader.ibsim import FeedConfig, IBSimulator, SimulatorError
from algotrader.ibsim.feed import Bar, split_bar
from algotrader.ibsim.handlers.streaming import update_fields
from algotrader.ibsim.history import format_bars
from algotrader.ibsim.session import BarSubscription
from algotrader.timeframes import RESOLUTIONS

START = datetime(2024, 6, 10, 14, 0, tzinfo=UTC)


def _bar(o: float, h: float, lo: float, c: float, v: float) -> Bar:
    return Bar(o, h, lo, c, v)


@pytest.mark.parametrize(
    ("bar", "seconds"),
    [
        (_bar(100.0, 101.37, 99.52, 100.91, 12_345.0), 60),  # up: open, low, high, close
        (_bar(100.0, 100.4, 98.01, 98.5, 7.0), 60),  # down, fewer shares than pieces
        (_bar(50.0, 50.0, 50.0, 50.0, 0.0), 60),  # flat, no trades
        (_bar(10.03, 10.5, 9.97, 10.03, 123_456.0), 300),  # 5-minute bar: 60 pieces
        (_bar(200.0, 200.01, 199.99, 200.0, 1_000.0), 3600),  # 720 pieces on a 2-cent range
    ],
)
def test_five_second_bars_aggregate_exactly_to_their_bar(bar: Bar, seconds: int) -> None:
    pieces = split_bar(START, bar, seconds)
    assert len(pieces) == seconds // 5
    assert [p.time for p in pieces] == [
        START + pd.Timedelta(seconds=5 * k) for k in range(len(pieces))
    ]
    assert pieces[0].open == bar.open and pieces[-1].close == bar.close
    assert max(p.high for p in pieces) == bar.high
    assert min(p.low for p in pieces) == bar.low
    assert sum(p.volume for p in pieces) == bar.volume
    for p in pieces:
        assert bar.low <= p.low <= min(p.open, p.close) <= max(p.open, p.close) <= p.high
        assert p.high <= bar.high and p.volume >= 0
        assert all(round(x, 2) == x for x in (p.open, p.high, p.low, p.close))


def test_fractional_volumes_split_to_their_total() -> None:
    pieces = split_bar(START, _bar(1.0, 1.2, 0.9, 1.1, 10.5), 60)
    assert sum(p.volume for p in pieces) == pytest.approx(10.5)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"symbols": ()}, "at least one symbol"),
        ({"bar_size": "1d"}, "not an intraday bar size"),
        ({"history_bars": 0}, "history_bars"),
        ({"speed": -1.0}, "invalid speed"),
    ],
)
def test_feed_config_refuses_bad_values(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        FeedConfig(**{"symbols": ("AAPL",), **kwargs})


@pytest.mark.parametrize("size", [0.0, -5.0])
def test_max_fill_size_must_be_positive(make_config: Callable[..., Any], size: float) -> None:
    with pytest.raises(InvalidInputError, match="max_fill_size"):
        make_config(max_fill_size=size)


def test_explicit_frames_need_every_symbol_and_enough_bars(
    make_config: Callable[..., Any],
) -> None:
    frame = _stored("AAPL").iloc[:10]
    with pytest.raises(InvalidInputError, match="no feed bars for MSFT"):
        IBSimulator(make_config(feed=FeedConfig(("AAPL", "MSFT"), bars={"AAPL": frame})))
    with pytest.raises(InvalidInputError, match="fewer than history_bars"):
        IBSimulator(make_config(feed=FeedConfig(("AAPL",), history_bars=10, bars={"aapl": frame})))


def _stored(symbol: str) -> pd.DataFrame:
    provider = SyntheticProvider(clock=lambda: datetime(2024, 6, 15, tzinfo=UTC))
    return provider.fetch_bars(symbol, "1m", FEED_START, datetime(2024, 6, 11, tzinfo=UTC))


def test_a_stored_series_with_a_gap_replays_as_given(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    aapl, msft = _stored("AAPL"), _stored("MSFT")
    gap = msft.index[22]
    msft = msft.drop(index=gap)  # MSFT did not trade in that minute
    feed = FeedConfig(("AAPL", "MSFT"), "1m", history_bars=20, bars={"AAPL": aapl, "MSFT": msft})

    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await ib.reqHistoricalDataAsync(
            Stock("MSFT", "SMART", "USD"), "", "1 D", "1 min", "TRADES", True,
            formatDate=2, keepUpToDate=True,
        )  # fmt: skip
        await sim.advance(5)
        await asyncio.wait_for(ib.reqCurrentTimeAsync(), 10)
        await until(lambda: bars[-1].date == sim.feed_time)
        released = sim.feed_bars("MSFT")
        assert gap not in released.index and sim.feed_bars("AAPL").index[22] == gap
        assert [b.date for b in bars[:-1]] == list(released.index)
        assert [[b.open, b.high, b.low, b.close, b.volume] for b in bars[:-1]] == (
            released[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
        )
        assert list(released.index) == list(msft.index[:24])  # as given, nothing invented

    run_with_ib(body, make_config(feed=feed))


@pytest.mark.parametrize("format_date", [1, 2])
@pytest.mark.parametrize("what", ["TRADES", "MIDPOINT"])
@pytest.mark.parametrize("volume", [12_345.0, 0.0, 10.5])
def test_updates_carry_what_history_shows_for_the_same_bar(
    format_date: int, what: str, volume: float
) -> None:
    bar = Bar(100.0, 101.37, 99.52, 100.91, volume)
    frame = pd.DataFrame([bar._asdict()], index=pd.DatetimeIndex([START]))
    resolution = RESOLUTIONS["1m"]
    sub = BarSubscription("AAPL", what, format_date, "US/Eastern")
    date, o, h, lo, c, shown, wap, count = format_bars(
        frame, resolution, what, format_date, "US/Eastern"
    )
    update = update_fields(7, sub, START, bar, resolution)
    assert update == [90, 7, count, date, o, c, h, lo, wap, shown]


def test_advancing_past_the_last_bar_is_an_error(make_config: Callable[..., Any]) -> None:
    frame = _stored("AAPL").iloc[:33]
    config = make_config(feed=FeedConfig(("AAPL",), history_bars=30, bars={"AAPL": frame}))

    async def main() -> None:
        async with IBSimulator(config) as sim:
            assert await sim.advance(2) == frame.index[31]
            with pytest.raises(SimulatorError, match="no bar after"):
                await sim.advance()
            assert sim.feed_time == frame.index[32]  # the last bar stays forming
            assert len(sim.feed_bars("AAPL")) == 32

    asyncio.run(main())


def test_symbols_outside_the_feed_have_no_live_data(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    codes: list[int] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
        [ticker] = await asyncio.wait_for(ib.reqTickersAsync(msft), 10)
        ib.reqRealTimeBars(msft, 5, "TRADES", True)
        await asyncio.wait_for(ib.reqCurrentTimeAsync(), 10)
        assert math.isnan(ticker.last)  # no price

    run_with_ib(body, feed_config(symbols=("AAPL",)))
    assert codes == [354, 354]
