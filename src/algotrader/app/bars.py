"""Stored bars for research: make sure they are there (fetching what is missing), then load them
with every stored signal and event of the symbol aligned to them without look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from algotrader.app._stores import Stores, open_stores
from algotrader.app.ingest import IngestListener, IngestRequest, IngestWindow, ingest
from algotrader.config import Settings, parse_source
from algotrader.errors import DataNotFoundError
from algotrader.ml.align import attach_signals
from algotrader.timeframes import Duration, Resolution

DEFAULT_FETCH = Duration(5, "Y")


def missing_parts(
    bounds: tuple[datetime, datetime, int] | None,
    resolution: Resolution,
    duration: Duration,
    now: datetime | None = None,
) -> list[IngestWindow]:
    """The ingests that make the store cover ``duration`` back from ``now`` at both ends.

    Nothing stored, or history starting too late: the whole window (re-fetching what is there is
    idempotent). The newest bar too old: an incremental ingest. Weekends, holidays and nights are
    allowed for (daily bars may end the last session before a long weekend).
    """
    now = now or datetime.now(UTC)
    wanted = duration.start_before(now)
    if bounds is None:
        return [IngestWindow(duration)]
    parts = []
    if bounds[0] > wanted + _edge_slack(resolution, start=True):
        parts.append(IngestWindow(duration))
    if bounds[1] < now - _edge_slack(resolution, start=False):
        parts.append(IngestWindow(incremental=True))
    return parts


def _edge_slack(resolution: Resolution, *, start: bool) -> timedelta:
    if resolution.name == "1w":
        return timedelta(days=14)
    if not resolution.is_intraday:
        # The first session after `wanted` may start days later (weekends, holidays); the last
        # one may lie before a weekend plus a holiday.
        return timedelta(days=7) if start else timedelta(days=4)
    return timedelta(days=4) if start else timedelta(days=3) + resolution.timedelta


def ensure_bars(
    settings: Settings,
    symbol: str,
    resolution: Resolution,
    duration: Duration = DEFAULT_FETCH,
    *,
    source: str | None = None,
    listener: IngestListener | None = None,
) -> None:
    """Fetch through the ingest pipeline whatever the store lacks of ``duration`` back from now
    (at the start and at the end of that window)."""
    source = parse_source(source) if source is not None else None  # even when nothing is missing
    with open_stores(settings) as stores:
        bounds = stores.bars.bounds(symbol, resolution.name)
    for window in missing_parts(bounds, resolution, duration):
        request = IngestRequest((symbol,), (resolution,), window, source=source)
        ingest(settings, request, listener)


def fetch_command(symbol: str, resolution: str, duration: Duration | None) -> str:
    """The command that fetches what a backtest needs (quoted in error messages)."""
    return f'algotrader ingest -s {symbol} -r {resolution} -d "{duration or DEFAULT_FETCH}"'


def slice_to_duration(frame: pd.DataFrame, duration: Duration | None) -> pd.DataFrame:
    """The last ``duration`` of ``frame`` (ending at its last bar)."""
    if duration is None or frame.empty:
        return frame
    start = pd.Timestamp(duration.start_before(frame.index[-1].to_pydatetime()))
    return frame[frame.index >= start]


def load_bars(
    stores: Stores, symbol: str, resolution: Resolution, duration: Duration | None = None
) -> pd.DataFrame:
    """Stored bars with indicators, sliced to ``duration``, with the symbol's signals and events
    (:func:`with_signals`); one clear line when there are none."""
    frame = slice_to_duration(stores.bars.load_bars(symbol, resolution.name), duration)
    if frame.empty:
        raise DataNotFoundError(
            f"no {resolution.name} bars of {symbol} in the database",
            f"fetch them with `{fetch_command(symbol, resolution.name, duration)}` "
            "or add --auto-fetch",
        )
    return with_signals(stores, symbol, frame)


def load_window(
    stores: Stores, symbol: str, resolution: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """The stored bars of ``[start, end]`` (both included) as :func:`load_bars` gives them, for
    reruns of stored runs; empty when none are left."""
    stop = pd.Timestamp(end) + pd.Timedelta(microseconds=1)
    frame = stores.bars.load_bars(symbol, resolution, start, stop.to_pydatetime())
    return with_signals(stores, symbol, frame) if not frame.empty else frame


def with_signals(stores: Stores, symbol: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus ``signal:<source>[:<name>]``, ``regime`` and ``event:<kind>`` columns from
    what was stored about ``symbol`` up to its last bar (see :mod:`algotrader.ml.align`).

    A signal stamped ``s`` shows on the bars at or after ``s``; an event counts on the first bar
    at or after its timestamp. Only what the window can see makes a column, so signals or events
    stamped after its last bar (a later forecast, a coming earnings date) leave it unchanged.
    Without any, ``frame`` comes back as it is.
    """
    first, last = (pd.Timestamp(frame.index[k]).to_pydatetime() for k in (0, -1))
    signals = stores.events.signals(symbol, end=last)
    events = stores.events.events(symbol, start=first, end=last)
    if signals.empty and events.empty:
        return frame
    return attach_signals(frame, signals, events)
