"""The replay feed as the real ib_async client sees it: live bars (keepUpToDate), 5-second
real-time bars and market data, in step mode (``advance``) and in speed mode."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from ib_async import IB, BarDataList, MarketOrder, Stock
from tests.ibsim.conftest import until

from algotrader.ibsim import IBSimulator, SimulatorError, start_in_thread

AAPL = Stock("AAPL", "SMART", "USD")
OHLCV = ["open", "high", "low", "close", "volume"]


async def _live(ib: IB, symbol: str = "AAPL", duration: str = "1 D") -> BarDataList:
    contract = Stock(symbol, "SMART", "USD")
    return await ib.reqHistoricalDataAsync(
        contract, "", duration, "1 min", "TRADES", True, formatDate=2, keepUpToDate=True
    )


def _row(bar: Any) -> list[float]:
    return [bar.open, bar.high, bar.low, bar.close, bar.volume]


def _frame_row(frame: pd.DataFrame, i: int) -> list[float]:
    return [float(frame[c].iloc[i]) for c in OHLCV]


async def _barrier(ib: IB) -> None:
    """Everything the simulator sent before this answer has been processed by the client."""
    await asyncio.wait_for(ib.reqCurrentTimeAsync(), 10)


def test_keep_up_to_date_answers_history_plus_the_forming_bar(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await _live(ib)
        released = sim.feed_bars("AAPL")
        assert len(released) == 30 and len(bars) == 31  # 30 complete + the forming one
        assert [b.date for b in bars[:-1]] == list(released.index)
        assert [_row(b) for b in bars[:-1]] == [_frame_row(released, i) for i in range(30)]
        forming = bars[-1]
        assert forming.date == sim.feed_time
        assert forming.open == forming.high == forming.low == forming.close == sim.price("AAPL")
        assert forming.volume == 0

    run_with_ib(body, feed_config())


def test_advance_completes_the_bar_then_opens_the_next(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    events: list[tuple[bool, list[float]]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await _live(ib)
        bars.updateEvent += lambda b, new: events.append((new, _row(b[-1])))
        forming_at = sim.feed_time
        completed_at = await sim.advance()
        await until(lambda: any(new for new, _ in events))
        assert completed_at == forming_at and sim.feed_time > completed_at
        completed = sim.feed_bars("AAPL")
        assert completed.index[-1] == completed_at
        assert [new for new, _ in events] == [False, True]  # replaced, then appended
        assert len(bars) == 32 and bars[-2].date == completed_at
        assert _row(bars[-2]) == _frame_row(completed, -1)  # the completed bar is bars[-2]
        assert bars[-1].date == sim.feed_time
        assert _row(bars[-1]) == 4 * [sim.price("AAPL")] + [0.0]

    run_with_ib(body, feed_config())


def test_one_new_bar_per_advanced_bar(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await _live(ib)
        new_bars: list[Any] = []
        bars.updateEvent += lambda b, new: new and new_bars.append(b[-2])
        await sim.advance(5)
        await until(lambda: len(new_bars) >= 5)
        await _barrier(ib)
        released = sim.feed_bars("AAPL")
        assert len(new_bars) == 5
        assert [b.date for b in new_bars] == list(released.index[-5:])
        assert [_row(b) for b in new_bars] == [_frame_row(released, i) for i in range(-5, 0)]

    run_with_ib(body, feed_config())


def test_cancel_historical_data_stops_the_updates(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await _live(ib)
        await sim.advance()
        await until(lambda: len(bars) == 32)
        ib.cancelHistoricalData(bars)
        await _barrier(ib)  # the cancel has reached the simulator
        other = await _live(ib, "AAPL")  # a second subscription keeps streaming
        await sim.advance(2)
        await until(lambda: len(other) == len(bars) + 2)
        await _barrier(ib)
        assert len(bars) == 32

    run_with_ib(body, feed_config())


def test_real_time_bars_aggregate_exactly_to_the_feed_bars(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = (await ib.qualifyContractsAsync(AAPL))[0]
        live = ib.reqRealTimeBars(aapl, 5, "TRADES", True)
        await _barrier(ib)
        await sim.advance(3)
        await until(lambda: len(live) >= 36)
        released = sim.feed_bars("AAPL").iloc[-3:]
        assert len(live) == 36  # 12 five-second bars per minute
        for i, start in enumerate(released.index):
            pieces = live[12 * i : 12 * (i + 1)]
            assert [p.time for p in pieces] == [
                start + pd.Timedelta(seconds=5 * k) for k in range(12)
            ]
            aggregate = [
                pieces[0].open_,
                max(p.high for p in pieces),
                min(p.low for p in pieces),
                pieces[-1].close,
                sum(p.volume for p in pieces),
            ]
            assert aggregate == _frame_row(released, i)
            assert all(a.close == b.open_ for a, b in itertools.pairwise(pieces))
        ib.cancelRealTimeBars(live)
        await _barrier(ib)
        await sim.advance()
        await _barrier(ib)
        assert len(live) == 36

    run_with_ib(body, feed_config())


def test_market_data_follows_the_last_price(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = (await ib.qualifyContractsAsync(AAPL))[0]
        ticker = ib.reqMktData(aapl)
        await until(lambda: ticker.last == sim.price("AAPL"))
        for _ in range(3):
            await sim.advance()
            opened = sim.feed_time
            await until(lambda: ticker.last == sim.price("AAPL"))
            assert ticker.bid < ticker.last < ticker.ask
            assert ticker.lastSize > 0 and sim.feed_time == opened
        [snapshot] = await asyncio.wait_for(ib.reqTickersAsync(aapl), 10)
        assert snapshot.last == sim.price("AAPL")
        ib.cancelMktData(aapl)
        await _barrier(ib)
        last = ticker.last
        await sim.advance()
        await _barrier(ib)
        assert ticker.last == last  # cancelled: no more ticks

    run_with_ib(body, feed_config())


def test_speed_mode_streams_bars_on_its_own(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    # 600x: one 1-minute bar every 0.1 s. Only counts are asserted, never durations.
    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await _live(ib)
        completed: list[Any] = []
        bars.updateEvent += lambda b, new: new and completed.append(b[-2])
        await until(lambda: len(completed) >= 3, timeout=60)
        released = sim.feed_bars("AAPL")
        for bar in completed[:3]:
            assert _row(bar) == [float(v) for v in released.loc[bar.date, OHLCV]]

    run_with_ib(body, feed_config(speed=600.0), timeout=90)


def test_without_a_feed_the_controls_refuse(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        with pytest.raises(SimulatorError, match="no feed"):
            await sim.advance()

    run_with_ib(body, connect=False)


def test_a_simulator_thread_is_driven_from_another_thread(
    feed_config: Callable[..., Any],
) -> None:
    with start_in_thread(feed_config()) as handle:

        async def main() -> None:
            ib = IB()
            await ib.connectAsync(handle.host, handle.port, clientId=1, timeout=5)
            try:
                bars = await _live(ib)
                completed = await asyncio.to_thread(handle.advance, 2)
                await until(lambda: len(bars) == 33)
                assert bars[-2].date == completed == handle.feed_bars("AAPL").index[-1]
                assert bars[-1].date == handle.feed_time
                assert handle.orders_received == 0
                trade = ib.placeOrder(bars.contract, MarketOrder("BUY", 1))
                await until(lambda: handle.orders_received == 1)
                await until(trade.isDone)
                assert trade.fills[0].execution.price == bars[-1].open
            finally:
                ib.disconnect()
                await asyncio.sleep(0.01)

        asyncio.run(main())
