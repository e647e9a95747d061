"""The replay feed: a bar series played forward, which is the simulator's market and clock.

A :class:`FeedConfig` names the symbols, the bar size and where the bars come from (explicit
per-symbol frames, or the bar provider given to the simulator, else the synthetic one). The
first ``history_bars`` bars are history when the session starts; the next bar is *forming*: its
open is the last price, the price a market order fills at. Each step completes the forming bar
(its full OHLCV becomes known) and opens the next one::

    history ... | bar t-1 | bar t (forming: only its open is known) | bar t+1 ...
                                ^ feed_time = start of bar t = the simulator's "now"

:class:`ReplayFeed` is that series and position, pure data with no I/O; the server turns each
step into wire messages (:mod:`algotrader.ibsim.handlers.streaming`). In step mode
(``speed=None``) the feed moves only when the controller calls ``advance``; with ``speed=N`` an
asyncio task advances one bar every ``bar_seconds / N`` real seconds.

:func:`split_bar` cuts a bar into the 5-second real-time bars TWS would have streamed during it,
deterministically and so that they aggregate exactly back to the bar.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ibsim.history import BarProvider
from algotrader.timeframes import Resolution, parse_resolution

REALTIME_BAR_SECONDS = 5
_COLUMNS = ("open", "high", "low", "close", "volume")
# Bars fetched per provider call while replaying: large enough that fetching is rare.
_CHUNK_BARS = 5_000
_MIN_CHUNK = timedelta(days=7)
_MAX_EMPTY_CHUNKS = 4  # consecutive empty windows (holidays, weekends) before "exhausted"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """What the simulator replays (``SimConfig.feed``).

    - ``symbols``: the instruments the feed drives (they must be in ``SimConfig.instruments``).
    - ``bar_size``: a timeframe (``"1m"``, ``"5m"``, ``"1h"``...); clients asking for history at
      this bar size get the feed's bars, live updates included.
    - ``history_bars``: bars already complete when the simulator starts (the forming bar is the
      next one). With gaps in a symbol's series, this counts steps of the common timeline.
    - ``speed``: ``None`` is step mode (the feed moves only on ``advance``); ``N`` replays at N
      times real time (``60`` with 1-minute bars: one bar per second).
    - ``bars``: explicit per-symbol frames (UTC index of bar starts, open/high/low/close/volume),
      e.g. a stored series; without them the bars come from the provider given to the simulator
      (``IBSimulator(config, provider)``), else from the synthetic provider, fetched forward in
      chunks from ``start`` as the replay needs them.
    - ``start``: where the provider's series begins (UTC; the first bar at or after it is the
      first history bar); ``None`` means midnight a week before the simulator's clock
      (``SimConfig.clock``, else now). Ignored with ``bars``.
    - ``use_rth``: regular trading hours only (what the provider is asked for).
    """

    symbols: tuple[str, ...]
    bar_size: str = "1m"
    history_bars: int = 100
    speed: float | None = None
    bars: Mapping[str, pd.DataFrame] | None = field(default=None, compare=False)
    start: datetime | None = None
    use_rth: bool = True

    def __post_init__(self) -> None:
        symbols = tuple(s.strip().upper() for s in self.symbols if s.strip())
        if not symbols:
            raise InvalidInputError("the feed needs at least one symbol", "pass symbols=...")
        object.__setattr__(self, "symbols", symbols)
        resolution = parse_resolution(self.bar_size)
        if not resolution.is_intraday or resolution.seconds % REALTIME_BAR_SECONDS:
            raise InvalidInputError(
                f"feed bar size {self.bar_size!r} is not an intraday bar size",
                "use 1m, 5m, 15m, 30m or 1h",
            )
        if self.history_bars < 1:
            raise InvalidInputError("history_bars must be at least 1", "pass history_bars >= 1")
        if self.speed is not None and self.speed <= 0:
            raise InvalidInputError(f"invalid speed {self.speed}", "pass a speed above 0")

    @property
    def resolution(self) -> Resolution:
        return parse_resolution(self.bar_size)

    @property
    def seconds_per_bar(self) -> float | None:
        """Real seconds between two bars in speed mode; None in step mode."""
        return None if self.speed is None else self.resolution.seconds / self.speed


class FeedExhausted(RuntimeError):
    """The replayed series has no further bar."""


class Bar(NamedTuple):
    """One bar's values (its start is kept beside it)."""

    open: float
    high: float
    low: float
    close: float
    volume: float


class Piece(NamedTuple):
    """One 5-second real-time bar."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def _frame(bars: pd.DataFrame) -> pd.DataFrame:
    index = pd.DatetimeIndex(bars.index)
    index = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
    out = bars.loc[:, list(_COLUMNS)].astype("float64")
    out.index = index
    return out[~out.index.duplicated()].sort_index()


class ReplayFeed:
    """The bar series of every feed symbol and the replay position (no I/O, not thread-safe).

    ``timeline`` is the union of all symbols' bar starts; ``position`` indexes the forming bar in
    it. A symbol with no bar at a time (a gap in a stored series) simply sends nothing then.
    """

    def __init__(
        self,
        config: FeedConfig,
        provider: BarProvider | None = None,
        now: datetime | None = None,
    ) -> None:
        self.config = config
        self.resolution = config.resolution
        self._provider = provider
        self._frames: dict[str, pd.DataFrame] = {}
        self._bars: dict[str, dict[int, Bar]] = {}  # by bar start in ns: fast per-step lookups
        self._empty_chunks = 0
        if config.bars is not None:
            missing = [s for s in config.symbols if s not in {k.upper() for k in config.bars}]
            if missing:
                raise InvalidInputError(
                    f"no feed bars for {', '.join(missing)}", "give a frame for every feed symbol"
                )
            given = {k.upper(): v for k, v in config.bars.items()}
            self._frames = {s: _frame(given[s]) for s in config.symbols}
            self._cursor: datetime | None = None  # explicit frames: nothing more to fetch
        else:
            if provider is None:
                raise InvalidInputError("the feed needs bars or a bar provider", "pass bars=...")
            start = config.start or _default_start(now or datetime.now(UTC))
            self._frames = {s: _frame(pd.DataFrame(columns=list(_COLUMNS))) for s in config.symbols}
            self._cursor = start.astimezone(UTC)
        self.timeline = pd.DatetimeIndex([], tz=UTC)
        self._rebuild_timeline()
        self.position = config.history_bars
        self._ensure(self.position + 1)
        if len(self.timeline) <= self.position:
            raise InvalidInputError(
                f"the feed has {len(self.timeline)} bars, fewer than history_bars + 1 = "
                f"{self.position + 1}",
                "pass fewer history_bars or more bars",
            )

    # -- loading ---------------------------------------------------------------------------

    def _rebuild_timeline(self) -> None:
        index = pd.DatetimeIndex([], tz=UTC)
        for symbol, frame in self._frames.items():
            index = index.union(pd.DatetimeIndex(frame.index))
            values = frame.loc[:, list(_COLUMNS)].to_numpy(dtype="float64").tolist()
            keys = pd.DatetimeIndex(frame.index).as_unit("ns").asi8.tolist()
            self._bars[symbol] = {k: Bar(*row) for k, row in zip(keys, values, strict=True)}
        self.timeline = index

    def _ensure(self, size: int) -> None:
        """Fetch from the provider until the timeline has ``size`` bars (or none are left)."""
        while len(self.timeline) < size and self._cursor is not None:
            if not self._fetch_chunk():
                self._empty_chunks += 1
                if self._empty_chunks >= _MAX_EMPTY_CHUNKS:
                    self._cursor = None
            else:
                self._empty_chunks = 0

    def _fetch_chunk(self) -> bool:
        assert self._cursor is not None and self._provider is not None
        begin = self._cursor
        end = begin + max(_MIN_CHUNK, self.resolution.timedelta * _CHUNK_BARS)
        self._cursor = end
        got = False
        for symbol in self.config.symbols:
            bars = self._provider.fetch_bars(
                symbol, self.resolution, begin, end, use_rth=self.config.use_rth
            )
            if len(bars):
                got = True
                self._frames[symbol] = pd.concat([self._frames[symbol], _frame(bars)])
        if got:
            self._rebuild_timeline()
        return got

    # -- the position ----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.config.symbols

    @property
    def time(self) -> datetime:
        """The forming bar's start: the simulator's "now"."""
        return self.timeline[self.position].to_pydatetime()

    def bar_at(self, symbol: str, at: datetime | pd.Timestamp) -> Bar | None:
        """``symbol``'s full bar starting at ``at``, or None (no bar then)."""
        return self._bars[symbol].get(pd.Timestamp(at).value)

    def forming(self, symbol: str) -> Bar | None:
        """The full forming bar of ``symbol`` (only its open may be shown), or None."""
        return self._bars[symbol].get(self.timeline[self.position].value)

    def released(self, symbol: str) -> pd.DataFrame:
        """The completed bars of ``symbol`` so far (all bars before the forming one)."""
        frame = self._frames[symbol]
        return frame[frame.index < self.timeline[self.position]]

    def last_price(self, symbol: str) -> float | None:
        """The forming bar's open, else the last completed close, else None."""
        bar = self.forming(symbol)
        if bar is not None:
            return bar.open
        done = self.released(symbol)
        return float(done["close"].iloc[-1]) if len(done) else None

    def step(self) -> datetime:
        """Complete the forming bar; return its start. Raises :class:`FeedExhausted` at the end."""
        self._ensure(self.position + 2)
        if self.position + 1 >= len(self.timeline):
            raise FeedExhausted(f"the replay has no bar after {self.time.isoformat()}")
        completed = self.time
        self.position += 1
        return completed


def _default_start(now: datetime) -> datetime:
    day = (now.astimezone(UTC) - timedelta(days=7)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def forming_view(bar: Bar) -> Bar:
    """What is known of a bar at its first update: open as OHLC, no volume yet."""
    return Bar(bar.open, bar.open, bar.open, bar.open, 0.0)


def _path(bar: Bar, pieces: int) -> list[float]:
    """Prices at the ``pieces + 1`` piece boundaries: open -> low -> high -> close on an up (or
    flat) bar, open -> high -> low -> close on a down bar, turning at 1/3 and 2/3."""
    o, h, lo, c = bar.open, bar.high, bar.low, bar.close
    first, second = (lo, h) if c >= o else (h, lo)
    i1 = max(1, round(pieces / 3))
    i2 = min(pieces - 1, max(i1 + 1, round(2 * pieces / 3)))
    knots = [(0, o), (i1, first), (i2, second), (pieces, c)]
    out: list[float] = []
    for (a, pa), (b, pb) in itertools.pairwise(knots):
        for k in range(a, b):
            out.append(pa + (pb - pa) * (k - a) / (b - a))
    out.append(c)
    # Rounded to cents but kept inside the bar's range; the knots themselves stay exact.
    exact = {0: o, i1: first, i2: second, pieces: c}
    return [exact.get(k, min(h, max(lo, round(p, 2)))) for k, p in enumerate(out)]


def split_bar(start: datetime, bar: Bar, bar_seconds: int) -> list[Piece]:
    """The 5-second bars of one bar: first open = open, last close = close, highest high = high,
    lowest low = low, volumes summing to the volume (whole shares when the volume is whole)."""
    pieces = max(1, bar_seconds // REALTIME_BAR_SECONDS)
    if pieces < 3:  # no path to draw (feeds have 1-minute bars or longer)
        return [Piece(start, *bar)]
    prices = _path(bar, pieces)
    volume = bar.volume
    whole = volume.is_integer()
    share = (volume // pieces) if whole else volume / pieces
    out: list[Piece] = []
    for k in range(pieces):
        a, b = prices[k], prices[k + 1]
        # The knots sit on boundaries, so a piece's extremes are its two ends.
        vol = share if k < pieces - 1 else volume - share * (pieces - 1)
        out.append(
            Piece(
                start + timedelta(seconds=REALTIME_BAR_SECONDS * k), a, max(a, b), min(a, b), b, vol
            )
        )
    return out
