"""A :class:`~algotrader.ports.trading.LiveBarSource` that replays bar frames as if live.

Time moves one bar step at a time over the union of the frames' timestamps. At each step the
bars starting then *begin*: their open is quoted to the :class:`Market` (the paper broker fills
the orders waiting for it), and the bars before them *complete*: they are yielded with
``next_open`` set. So a bar is yielded only once the next one has started, as with IB's
``keepUpToDate``, and the last bar of each frame (still forming) never is.

``speed`` paces the replay: 60 plays one minute of bars per second; 0 runs as fast as the
consumer takes them. ``since`` skips the bars already processed (a restarted session resumes
after them); quotes before or at ``since`` are skipped too, so an order left waiting by a
stopped session fills at the first new open, as it would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ports.trading import LiveBar
from algotrader.timeframes import parse_resolution


class Market(Protocol):
    """Receives the first price of each new bar (the paper broker fills at it)."""

    def quote(self, symbol: str, ts: datetime, price: float) -> int: ...


class ReplayBarSource:
    """Replays ``frames`` (symbol -> OHLCV frame with a UTC index) as completed live bars.

    Args:
        frames: the bars to replay per symbol (oldest first).
        market: told each bar's open as it begins (None: nobody).
        speed: bar time per wall time (60: a 1-minute bar per second); 0 = no waiting.
    """

    name = "replay"

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        market: Market | None = None,
        speed: float = 0.0,
    ) -> None:
        if speed < 0:
            raise InvalidInputError(
                f"invalid --speed {speed:g}", "use 0 (as fast as possible) or more"
            )
        self.frames = {s.upper(): f for s, f in frames.items()}
        self.market = market
        self.speed = speed
        self._closed = False

    def subscribe(
        self,
        symbols: Sequence[str],
        bar_size: str,
        since: Mapping[str, datetime] | None = None,
    ) -> AsyncIterator[LiveBar]:
        missing = [s for s in symbols if s not in self.frames]
        if missing:
            raise InvalidInputError(
                f"nothing to replay for {', '.join(missing)}",
                "ingest it first, or use --replay synthetic",
            )
        res = parse_resolution(bar_size)
        return self._run(list(symbols), res.name, res.seconds, dict(since or {}))

    async def close(self) -> None:
        self._closed = True

    async def _run(
        self, symbols: list[str], bar_size: str, seconds: float, since: dict[str, datetime]
    ) -> AsyncIterator[LiveBar]:
        tables = {s: _table(self.frames[s]) for s in symbols}
        steps = np.unique(np.concatenate([t[0] for t in tables.values()]))
        position = dict.fromkeys(symbols, 0)
        pause = seconds / self.speed if self.speed > 0 else 0.0
        for step in steps:
            if self._closed:
                return
            start = pd.Timestamp(step, tz="UTC").to_pydatetime()
            beginning: list[tuple[str, float]] = []
            for symbol in symbols:
                stamps, values = tables[symbol]
                i = position[symbol]
                if i >= len(stamps) or stamps[i] != step:
                    continue
                position[symbol] = i + 1
                after = since.get(symbol)
                if after is not None and start <= after:
                    continue
                beginning.append((symbol, float(values[i, 0])))
                previous = pd.Timestamp(stamps[i - 1], tz="UTC") if i > 0 else None
                if previous is not None and (after is None or previous > after):
                    yield _bar(symbol, bar_size, previous, values[i - 1], values[i, 0])
            # The orders the completed bars led to are in: the new bars open, and fill them.
            if self.market is not None:
                for symbol, price in beginning:
                    self.market.quote(symbol, start, price)
            await asyncio.sleep(pause)


def _table(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    return index.tz_localize(None).to_numpy("datetime64[ns]"), values


def _bar(
    symbol: str, bar_size: str, stamp: pd.Timestamp, row: np.ndarray, next_open: float
) -> LiveBar:
    o, h, low, c, v = (float(x) for x in row)
    start = stamp.to_pydatetime()
    return LiveBar(symbol, bar_size, start, o, h, low, c, v, next_open=float(next_open))
