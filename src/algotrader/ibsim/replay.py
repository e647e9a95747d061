"""Driving the replay feed: steps (``advance``), speed mode, and what each step does to the
market (prices, fills), the clients (streamed messages) and the faults (drops)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from algotrader.ibsim.config import SimulatorError
from algotrader.ibsim.feed import FeedConfig, FeedExhausted, ReplayFeed, forming_view
from algotrader.ibsim.history import BarProvider

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator

log = logging.getLogger("algotrader.ibsim")

# The feed's own synthetic provider may generate bars "from the future" of the wall clock:
# they are invented anyway, and a replay must be able to run past today.
_FUTURE = timedelta(days=3650)


def _feed_provider() -> BarProvider:
    # Imported late, like the simulator's default provider: the CLI need not load pandas maths.
    from algotrader.data.providers.synthetic import SyntheticProvider

    return SyntheticProvider(clock=lambda: datetime.now(UTC) + _FUTURE)


class Replay:
    """The feed of one simulator, and the only thing that moves it.

    :meth:`advance` completes the forming bar of every feed symbol, fills what it reached,
    streams the updates, and returns once they are written to every socket. In speed mode a
    task calls it every ``bar_seconds / speed`` real seconds.
    """

    def __init__(
        self,
        sim: IBSimulator,
        config: FeedConfig,
        provider: BarProvider | None,
        start_clock: datetime,
    ) -> None:
        self.sim = sim
        unknown = [s for s in config.symbols if s not in sim.instruments]
        if unknown:
            raise SimulatorError(f"feed symbols not in the instrument table: {unknown}")
        self.feed = ReplayFeed(config, provider or _feed_provider(), start_clock)
        self.advances = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        sim.engine.external = frozenset(config.symbols)
        for symbol in config.symbols:
            last = self.feed.last_price(symbol)
            if last is not None:
                sim.prices.set(sim.instruments[symbol], last)

    @classmethod
    def create(cls, sim: IBSimulator, provider: BarProvider | None) -> Replay | None:
        """The replay of ``sim.config.feed``, or None without a feed."""
        config = sim.config
        if config.feed is None:
            return None
        clock = config.clock() if config.clock else datetime.now(UTC)
        return cls(sim, config.feed, provider, clock)

    @property
    def time(self) -> datetime:
        return self.feed.time

    def serves(self, symbol: str, bar_seconds: int) -> bool:
        """Whether history of ``symbol`` at this bar size comes from the feed."""
        return symbol in self.feed.symbols and bar_seconds == self.feed.resolution.seconds

    def history(self, symbol: str, start: datetime, end: datetime, forming: bool) -> pd.DataFrame:
        """Released bars of ``symbol`` in ``[start, end)``, plus the forming bar (its open only)
        if ``forming``: what TWS answers for an end time of ``''`` during a session."""
        done = self.feed.released(symbol)
        index = pd.DatetimeIndex(done.index)
        bars = done[(index >= pd.Timestamp(start)) & (index < pd.Timestamp(end))]
        bar = self.feed.forming(symbol) if forming else None
        if bar is None:
            return bars
        o, h, lo, c, v = forming_view(bar)
        row = pd.DataFrame(
            {"open": [o], "high": [h], "low": [lo], "close": [c], "volume": [v]},
            index=pd.DatetimeIndex([self.feed.timeline[self.feed.position]]),
        )
        return pd.concat([bars, row]) if len(bars) else row

    # -- moving ----------------------------------------------------------------------------

    async def advance(self, n: int = 1) -> datetime:
        """Complete the next ``n`` bars; return the start of the last one completed."""
        if n < 1:
            raise ValueError(f"advance needs n >= 1, got {n}")
        async with self._lock:
            completed = self.feed.time
            for _ in range(n):
                completed = self._step()
                self.advances += 1
                await self._flush()
                if self.advances == self.sim.faults.drop_after_advances:
                    log.warning(
                        "ibsim: dropping every client after advance %d (fault)", self.advances
                    )
                    self.sim.drop_all_connections()
            return completed

    def _step(self) -> datetime:
        try:
            completed = self.feed.step()
        except FeedExhausted as exc:
            raise SimulatorError(str(exc)) from exc
        now = self.feed.time
        streaming, engine = self.sim.streaming, self.sim.engine
        for symbol in self.feed.symbols:
            inst = self.sim.instruments[symbol]
            done = self.feed.bar_at(symbol, completed)
            if done is not None:
                engine.match_bar(inst, done.high, done.low, completed)
                streaming.bar_completed(symbol, completed, done)
            new = self.feed.forming(symbol)
            if new is not None:
                streaming.bar_opened(symbol, now, new)
            last = self.feed.last_price(symbol)  # the new open; in a gap, the last close
            if last is not None:
                engine.set_price(inst, last)  # fills what the open gaps through
        return completed

    async def _flush(self) -> None:
        sessions = list(self.sim.live_sessions())
        if sessions:
            await asyncio.gather(*(s.flush() for s in sessions))

    def start(self) -> None:
        interval = self.feed.config.seconds_per_bar
        if interval is not None:
            self._task = asyncio.create_task(self._run(interval), name="ibsim-feed")

    async def _run(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while True:
            # Scheduled on a fixed grid, so a slow step does not make the replay drift.
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += interval
            try:
                await self.advance()
            except SimulatorError as exc:
                log.warning("ibsim: the replay stops: %s", exc)
                return
            except Exception as exc:  # keep the bug visible, stop replaying
                log.exception("ibsim: feed step failed")
                self.sim.failures.append(f"feed step failed: {exc!r}")
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class FeedControl:
    """The feed controls of :class:`~algotrader.ibsim.server.IBSimulator` (a mixin).

    :meth:`advance` moves the feed, :attr:`feed_time` is the forming bar's start (the
    simulator's "now"), :meth:`feed_bars` the bars released so far.
    """

    replay: Replay | None = None  # until the simulator has built it

    def _replay(self) -> Replay:
        if self.replay is None:
            raise SimulatorError("this simulator has no feed (SimConfig.feed)")
        return self.replay

    async def advance(self, n: int = 1) -> datetime:
        """Complete the next ``n`` bars of every feed symbol; their messages are written when
        this returns. Returns the start (UTC) of the last bar completed."""
        return await self._replay().advance(n)

    @property
    def feed_time(self) -> datetime:
        """The forming bar's start (UTC): the simulator's "now" with a feed."""
        return self._replay().time

    def feed_bars(self, symbol: str) -> pd.DataFrame:
        """The bars of ``symbol`` completed so far (UTC bar starts; the forming bar excluded)."""
        return self._replay().feed.released(symbol.upper()).copy()
