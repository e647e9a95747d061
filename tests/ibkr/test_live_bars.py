"""The IB live bar source against the simulator's replay feed (step mode), with the real
ib_async client on a real socket: completed bars once and in order, UTC, with the next bar's
open; after a dropped gateway it reconnects, backfills the gap (flagged) through pacing
violations, and never yields a bar twice."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest
from tests.ibkr.conftest import (
    FAST_RETRY,
    fast_pacer,
    feed_config,
    hold_client,
    settings_for,
    until,
)

from algotrader.errors import UserError
from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.live_bars import IbLiveBarSource, LiveBarsConfig
from algotrader.ibsim import IBSimulator, SimConfig
from algotrader.ports.trading import LiveBar

SYMBOLS = ("AAPL", "MSFT")


class _Run:
    """A bar source on its own connection and the bars it yielded so far."""

    def __init__(
        self, sim: IBSimulator, history_bars: int = 30, client_id: int = 3, attempts: int = 40
    ) -> None:
        self.client_id = client_id
        # A refused clientId is only noticed when the handshake times out: keep that short.
        self.conn = IbConnection(settings_for(sim, client_id, ib_timeout=0.5), readonly=True)
        retry = replace(FAST_RETRY, attempts=attempts)
        config = LiveBarsConfig(retry=retry, history_bars=history_bars)
        self.source = IbLiveBarSource(self.conn, config, pacer=fast_pacer())
        self.bars: list[LiveBar] = []
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, since: dict[str, datetime] | None = None) -> None:
        async def consume() -> None:
            try:
                async for bar in self.source.subscribe(SYMBOLS, "1m", since):
                    self.bars.append(bar)
            except UserError as exc:
                self.error = exc

        self._task = asyncio.create_task(consume())

    async def live(self) -> None:
        await until(lambda: self.source.live == set(SYMBOLS) or self.error is not None)
        assert self.error is None

    async def upto(self, completed: datetime) -> None:
        """Wait until every symbol's bar starting at ``completed`` was yielded."""
        await until(
            lambda: (
                all(any(b.symbol == s and b.start == completed for b in self.bars) for s in SYMBOLS)
                or self.error is not None
            )
        )
        assert self.error is None

    async def stop(self) -> None:
        await self.source.close()
        if self._task is not None:
            await self._task
        await self.conn.close()

    def of(self, symbol: str) -> list[LiveBar]:
        return [b for b in self.bars if b.symbol == symbol]


def _expected(sim: IBSimulator, symbol: str, after: datetime) -> pd.DataFrame:
    bars = sim.feed_bars(symbol)
    return bars[bars.index > pd.Timestamp(after)]


def _assert_same(got: list[LiveBar], expected: pd.DataFrame) -> None:
    assert [b.start for b in got] == [ts.to_pydatetime() for ts in expected.index]
    for bar, (_, row) in zip(got, expected.iterrows(), strict=True):
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            row["open"], row["high"], row["low"], row["close"], row["volume"],
        )  # fmt: skip
        assert bar.start.utcoffset() is not None and bar.start.utcoffset().total_seconds() == 0


def _run(body: object, config: SimConfig) -> None:
    async def main() -> None:
        async with IBSimulator(config) as sim:
            await asyncio.wait_for(body(sim), 60)  # type: ignore[operator]

    asyncio.run(main())


def test_each_completed_bar_comes_once_in_order_with_the_next_open() -> None:
    async def body(sim: IBSimulator) -> None:
        run = _Run(sim)
        run.start()
        await run.live()
        started = sim.feed_time
        for _ in range(6):
            completed = await sim.advance()
            await run.upto(completed)
        await run.stop()
        await sim.advance()  # completes the bar that was forming, to read its open
        for symbol in SYMBOLS:
            got = run.of(symbol)
            feed = sim.feed_bars(symbol).iloc[:-1]
            _assert_same(got, feed[feed.index >= pd.Timestamp(started)])
            assert not any(b.is_backfill for b in got)
            # The next bar's open is known when a bar completes: the price a MKT order gets.
            opens = sim.feed_bars(symbol)["open"].tolist()
            assert [b.next_open for b in got] == opens[len(opens) - len(got) :]

    _run(body, feed_config(SYMBOLS))


def test_since_resumes_with_the_bars_after_it_flagged_as_backfill() -> None:
    async def body(sim: IBSimulator) -> None:
        await sim.advance(4)
        mark = sim.feed_bars("AAPL").index[-3].to_pydatetime()  # two bars missed since
        run = _Run(sim)
        run.start({"AAPL": mark, "MSFT": mark})
        await run.live()
        completed = await sim.advance()
        await run.upto(completed)
        await run.stop()
        for symbol in SYMBOLS:
            got = run.of(symbol)
            _assert_same(got, _expected(sim, symbol, mark))
            assert [b.is_backfill for b in got] == [True, True, False]

    _run(body, feed_config(SYMBOLS))


@pytest.mark.parametrize("pacing", [False, True], ids=["plain", "pacing-violations"])
def test_a_dropped_gateway_is_reconnected_and_the_gap_backfilled_once(pacing: bool) -> None:
    async def body(sim: IBSimulator) -> None:
        # Two bars of history per live request: a longer gap needs a history walk too.
        run = _Run(sim, history_bars=2)
        run.start()
        await run.live()
        started = sim.feed_time
        for _ in range(3):
            await run.upto(await sim.advance())
        subscribed = run.source.subscriptions
        # The gateway drops right after the next bar; the client stays away for 4 more bars.
        hold_client(sim, run.client_id, True)
        sim.faults = replace(sim.faults, drop_after_advances=sim.replay.advances + 1)  # type: ignore[union-attr]
        await sim.advance()
        missed_from = sim.feed_time
        await sim.advance(4)
        if pacing:
            # The next historical requests (re-subscriptions and the walks) are refused once.
            first = sim.historical_requests + 1
            sim.faults = replace(sim.faults, pacing_violations=frozenset({first, first + 2}))
        hold_client(sim, run.client_id, False)
        await run.live()
        await run.upto(sim.feed_bars("AAPL").index[-1].to_pydatetime())
        for _ in range(2):
            await run.upto(await sim.advance())
        await run.stop()

        assert run.source.subscriptions >= subscribed + len(SYMBOLS)
        if pacing:
            assert sim.historical_requests >= first + 2  # the refused requests were retried
        for symbol in SYMBOLS:
            got = run.of(symbol)
            feed = sim.feed_bars(symbol)
            _assert_same(got, feed[feed.index >= pd.Timestamp(started)])  # once, in order
            held = 4 * (got[1].start - got[0].start)  # the 4 bars advanced while refused
            missed = [b for b in got if missed_from <= b.start < missed_from + held]
            assert len(missed) == 4 and all(b.is_backfill for b in missed)
            assert not any(b.is_backfill for b in got[-2:])  # live again afterwards
            assert not any(b.is_backfill for b in got[:3])

    _run(body, feed_config(SYMBOLS))


def test_a_gateway_that_stays_away_ends_the_stream_with_one_line() -> None:
    async def body(sim: IBSimulator) -> None:
        run = _Run(sim, attempts=3)
        run.start()
        await run.live()
        hold_client(sim, run.client_id, True)
        sim.faults = replace(sim.faults, drop_after_advances=sim.replay.advances + 1)  # type: ignore[union-attr]
        await sim.advance()
        await until(lambda: run.error is not None)
        assert "failed after 3 attempts" in str(run.error)
        await run.stop()

    _run(body, feed_config(SYMBOLS))
