"""Storing bars: validated bars -> merged series -> indicators -> database, under the series lock.

Idempotent: bars equal to what is stored are not written again. Indicators are recomputed over
the full stored history and written back from the first bar whose value can have changed: the
first new or changed bar, or an earlier one recorded by an interrupted run (``series_state``).
Every indicator is causal (a value depends only on bars up to its own), so bars before that point
keep their stored values.

Each read-compute-write holds the series' writer lock (``BarStore.lock``), so concurrent ingests
of one series take turns and never leave wrong indicators behind. Every ingest front end
(CLI, scheduler, stream consumer, live loop) stores bars through :func:`store_bars` or
:func:`store_chunks`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from algotrader.frames import OHLCV_COLUMNS, empty_bars
from algotrader.indicators import compute_indicators
from algotrader.ports.stores import BarStore, FetchProgress, SeriesWriter, StoredSeries

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class IngestReport:
    """What one ingest of one (symbol, resolution) did."""

    symbol: str
    resolution: str
    source: str
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    indicator_rows: int
    first_ts: datetime | None
    last_ts: datetime | None
    seconds: float
    # bars the source had but left out because they lie outside the requested window
    outside_window: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    @classmethod
    def nothing(cls, symbol: str, resolution: str, source: str) -> IngestReport:
        """The report of an ingest that had nothing to fetch."""
        return cls(symbol, resolution, source, 0, 0, 0, 0, 0, None, None, 0.0)

    @classmethod
    def combined(cls, reports: list[IngestReport]) -> IngestReport:
        """One report for several ingests of the same series (e.g. a resumed walk's parts)."""
        first = reports[0]
        starts = [r.first_ts for r in reports if r.first_ts is not None]
        ends = [r.last_ts for r in reports if r.last_ts is not None]
        return cls(
            symbol=first.symbol,
            resolution=first.resolution,
            source=first.source,
            fetched=sum(r.fetched for r in reports),
            inserted=sum(r.inserted for r in reports),
            updated=sum(r.updated for r in reports),
            unchanged=sum(r.unchanged for r in reports),
            indicator_rows=sum(r.indicator_rows for r in reports),
            first_ts=min(starts, default=None),
            last_ts=max(ends, default=None),
            seconds=sum(r.seconds for r in reports),
        )


@dataclass(frozen=True)
class _Merge:
    """Incoming bars compared with the stored series: ``merged`` is the series once they are
    stored, ``from_new_rows`` marks its rows that come from them, ``is_new`` those of them that
    were not stored at all, ``kept`` the stored rows that stay as they are (in order, the rest of
    ``merged``)."""

    merged: pd.DataFrame
    from_new_rows: np.ndarray
    is_new: np.ndarray
    kept: np.ndarray
    inserted: int
    updated: int
    unchanged: int
    first_changed: datetime | None


@dataclass(frozen=True)
class _Cached:
    """A series as stored at ``revision``: its OHLCV and each row's source (an index into
    ``names``)."""

    revision: int
    bars: pd.DataFrame
    sources: np.ndarray
    names: tuple[str, ...]

    def seen_by(self, source: str) -> StoredSeries:
        same = self.sources == self.names.index(source) if source in self.names else None
        return StoredSeries(self.bars, np.zeros(len(self.bars), bool) if same is None else same)

    def after(self, merge: _Merge, source: str, revision: int) -> _Cached:
        """The series once ``merge`` (of bars from ``source``) is written, at ``revision``."""
        names = self.names if source in self.names else (*self.names, source)
        sources = np.empty(len(merge.merged), dtype=np.int16)
        sources[merge.from_new_rows] = names.index(source)
        sources[~merge.from_new_rows] = self.sources[merge.kept]
        return _Cached(revision, merge.merged, sources, names)


class SeriesCache:
    """The stored OHLCV of the series a long-running writer keeps writing (the stream
    consumer), kept in memory between writes so that a write reads only the series' revision
    instead of its whole history.

    An entry is used only while the series' revision, which every write by any process bumps,
    is the one it was taken at; otherwise the series is read again. An entry is taken out for
    the duration of a write and put back only once the write has committed, so a failed write
    never leaves a stale copy behind. Each row's source is kept, so bars of several sources
    share one entry. Beyond ``max_bars`` bars in all (about 50 bytes a bar), the least recently
    used series are dropped.
    """

    def __init__(self, max_bars: int = 5_000_000) -> None:
        self.max_bars = max_bars
        self._entries: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._bars = 0
        self._guard = threading.Lock()  # writers store several series side by side
        self.hits = 0
        self.misses = 0

    def take(self, key: tuple[str, str], series: SeriesWriter, source: str) -> _Cached:
        """Series ``key`` (symbol, resolution) as stored now: from memory when current."""
        with self._guard:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._bars -= len(entry.bars)
        current = entry is not None and entry.revision == series.revision()
        with self._guard:
            self.hits += current
            self.misses += not current
        if entry is not None and current:
            return entry
        stored = series.load(source)
        if stored.same_source.all():
            return _Cached(0, stored.bars, np.zeros(len(stored.bars), np.int16), (source,))
        codes, names = pd.factorize(series.row_sources())
        return _Cached(0, stored.bars, codes.astype(np.int16), tuple(str(n) for n in names))

    def put(self, key: tuple[str, str], entry: _Cached) -> None:
        """Keep ``entry``, the series as committed at ``entry.revision``."""
        if len(entry.bars) > self.max_bars:
            return
        with self._guard:
            replaced = self._entries.pop(key, None)
            self._bars += len(entry.bars) - (len(replaced.bars) if replaced else 0)
            self._entries[key] = entry
            while self._bars > self.max_bars:
                _, dropped = self._entries.popitem(last=False)
                self._bars -= len(dropped.bars)


def store_bars(
    store: BarStore,
    symbol: str,
    resolution: str,
    source: str,
    bars: pd.DataFrame,
    *,
    progress: Progress | None = None,
    cache: SeriesCache | None = None,
) -> IngestReport:
    """Merge validated ``bars`` into the stored series and refresh its indicators.

    ``bars`` must be a validated bar frame (see :mod:`algotrader.data.validation`). A writer
    that stores the same series again and again passes a :class:`SeriesCache`, so the stored
    history is read once rather than on every call.
    """
    report = _store_bars(store, symbol, resolution, source, bars, progress, cache)
    _log(report)
    return report


def _log(report: IngestReport) -> None:
    log.info(
        "%s %s from %s: %d fetched, %d inserted, %d updated, %d unchanged, %d indicator rows",
        report.symbol,
        report.resolution,
        report.source,
        report.fetched,
        report.inserted,
        report.updated,
        report.unchanged,
        report.indicator_rows,
    )


def _store_bars(
    store: BarStore,
    symbol: str,
    resolution: str,
    source: str,
    bars: pd.DataFrame,
    progress: Progress | None,
    cache: SeriesCache | None = None,
) -> IngestReport:
    started = time.perf_counter()
    with store.lock(symbol, resolution) as series:
        before = None if cache is None else cache.take((symbol, resolution), series, source)
        stored = series.load(source) if before is None else before.seen_by(source)
        merge = _merge(stored, bars)
        recompute_from = min(
            (t for t in (merge.first_changed, series.dirty_from()) if t is not None), default=None
        )
        indicator_rows = 0
        if recompute_from is not None and len(merge.merged):
            indicator_rows = _write_indicators(series, source, merge, recompute_from, progress)
        elif progress is not None:
            progress(len(bars))
        after = None if before is None else before.after(merge, source, series.revision())
    if cache is not None and after is not None:  # once committed (SQLite: as the lock ends)
        cache.put((symbol, resolution), after)
    return IngestReport(
        symbol=symbol,
        resolution=resolution,
        source=source,
        fetched=len(bars),
        inserted=merge.inserted,
        updated=merge.updated,
        unchanged=merge.unchanged,
        indicator_rows=indicator_rows,
        first_ts=bars.index[0].to_pydatetime() if len(bars) else None,
        last_ts=bars.index[-1].to_pydatetime() if len(bars) else None,
        seconds=time.perf_counter() - started,
    )


def _merge(stored: StoredSeries, bars: pd.DataFrame) -> _Merge:
    old = stored.bars
    if old.empty:
        first = bars.index[0].to_pydatetime() if len(bars) else None
        every = np.ones(len(bars), dtype=bool)
        nothing_kept = np.zeros(0, dtype=bool)
        return _Merge(bars[list(OHLCV_COLUMNS)], every, every, nothing_kept, len(bars), 0, 0,
                      first)  # fmt: skip
    changed, pos = changed_rows(stored, bars)
    exists = pos >= 0
    inserted = int((~exists).sum())
    updated = int(changed.sum()) - inserted
    unchanged = len(bars) - int(changed.sum())
    if not changed.any():
        none = np.zeros(len(old), dtype=bool)
        return _Merge(old, none, none, ~none, inserted, updated, unchanged, None)
    keep_old = np.ones(len(old), dtype=bool)
    keep_old[pos[exists]] = False
    kept = int(keep_old.sum())
    merged = pd.concat([old[keep_old], bars[list(OHLCV_COLUMNS)]])
    from_new_rows = np.concatenate([np.zeros(kept, bool), np.ones(len(bars), bool)])
    is_new = np.concatenate([np.zeros(kept, bool), ~exists])
    order = np.argsort(pd.DatetimeIndex(merged.index).asi8, kind="stable")
    first = bars.index[changed][0].to_pydatetime()
    return _Merge(
        merged.iloc[order],
        from_new_rows[order],
        is_new[order],
        keep_old,
        inserted,
        updated,
        unchanged,
        first,
    )


def _write_indicators(
    series: SeriesWriter,
    source: str,
    merge: _Merge,
    recompute_from: datetime,
    progress: Progress | None,
) -> int:
    tail = merge.merged.index >= recompute_from
    indicators = compute_indicators(merge.merged)
    rows = pd.concat([merge.merged[tail], indicators[tail]], axis=1)
    mine = merge.from_new_rows[tail]
    theirs = rows[~mine]
    # Only new rows: PostgreSQL COPYs them straight into the table.
    all_new = bool(merge.is_new[tail].all())
    # New bars: written with their source. Stored bars after the change point (possibly from
    # another source): only their values are refreshed.
    series.write_bars(
        source,
        rows[mine],
        dirty_from=recompute_from,
        clear_dirty_from=None if len(theirs) else recompute_from,
        all_new=all_new,
        on_chunk=progress,
    )
    if len(theirs):
        series.write_bars(
            source,
            theirs,
            clear_dirty_from=recompute_from,
            update_source=False,
            on_chunk=progress,
        )
    return len(rows)


def store_chunks(
    store: BarStore,
    symbol: str,
    resolution: str,
    source: str,
    chunks: Iterable[pd.DataFrame],
    *,
    walk_start: datetime | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Store validated chunks as they arrive (newest first, contiguous), then refresh indicators.

    For slow sources (IBKR walks history backwards in many requests): each chunk's new or changed
    bars are committed at once, with a marker that indicators must be recomputed from there, and
    (when ``walk_start`` is given) how far back the walk has got, so a re-run after a kill fetches
    only ``[walk_start, oldest bar stored)``. The final pass recomputes indicators once.
    """
    started = time.perf_counter()
    fetched = inserted = updated = unchanged = 0
    first: datetime | None = None
    last: datetime | None = None
    for chunk in chunks:
        if chunk.empty:
            continue
        lo, hi = chunk.index[0].to_pydatetime(), chunk.index[-1].to_pydatetime()
        first = lo if first is None else min(first, lo)
        last = hi if last is None else max(last, hi)
        walk = FetchProgress(walk_start, first) if walk_start is not None else None
        with store.lock(symbol, resolution) as series:
            stored = series.load(source, lo, hi + timedelta(microseconds=1))
            changed, pos = changed_rows(stored, chunk)
            series.write_bars(
                source, chunk[changed], dirty_from=lo if changed.any() else None, fetch=walk
            )
        fetched += len(chunk)
        new_rows = int((pos < 0).sum())
        inserted += new_rows
        updated += int(changed.sum()) - new_rows
        unchanged += len(chunk) - int(changed.sum())
        if progress is not None:
            progress(len(chunk))
    if walk_start is not None:
        with store.lock(symbol, resolution) as series:
            series.set_fetch_progress(None)  # the walk is complete
    final = _store_bars(store, symbol, resolution, source, empty_bars(), None)
    report = IngestReport(
        symbol,
        resolution,
        source,
        fetched,
        inserted,
        updated,
        unchanged,
        final.indicator_rows,
        first,
        last,
        time.perf_counter() - started,
    )
    _log(report)
    return report


def store_raw_bars(
    store: BarStore, symbol: str, resolution: str, source: str, bars: pd.DataFrame
) -> IngestReport:
    """Write validated ``bars`` without computing indicators, for writers that must not wait
    for them (the stream consumer).

    The new or changed rows are written (indicators NULL) in one transaction with the series'
    marker set to the first of them, so :func:`refresh_indicators`, run as a separate job,
    recomputes from there. Bars equal to the stored ones are not written again.
    """
    started = time.perf_counter()
    lo, hi = bars.index[0].to_pydatetime(), bars.index[-1].to_pydatetime()
    with store.lock(symbol, resolution) as series:
        stored = series.load(source, lo, hi + timedelta(microseconds=1))
        changed, pos = changed_rows(stored, bars)
        if changed.any():
            series.write_bars(
                source,
                bars[changed],
                dirty_from=bars.index[changed][0].to_pydatetime(),
                all_new=not (pos >= 0).any(),
            )
    new_rows = int((pos < 0).sum())
    report = IngestReport(
        symbol,
        resolution,
        source,
        len(bars),
        new_rows,
        int(changed.sum()) - new_rows,
        len(bars) - int(changed.sum()),
        0,
        lo,
        hi,
        time.perf_counter() - started,
    )
    log.debug("%s %s from %s: %d raw bars written", symbol, resolution, source, report.written)
    return report


def refresh_indicators(store: BarStore, symbol: str, resolution: str) -> int:
    """Recompute a series' indicators from its marker (left by :func:`store_raw_bars` or an
    interrupted ingest); returns the rows rewritten, 0 when the series had no marker."""
    if store.dirty_from(symbol, resolution) is None:
        return 0
    return _store_bars(store, symbol, resolution, "", empty_bars(), None).indicator_rows


def changed_rows(stored: StoredSeries, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``bars`` are new or differ from the stored ones (values or source), and
    each row's position in the stored series (-1 when new)."""
    if stored.bars.empty:
        return np.ones(len(bars), dtype=bool), np.full(len(bars), -1, dtype=np.intp)
    pos = stored.bars.index.get_indexer(bars.index)
    exists = pos >= 0
    changed = ~exists
    old = stored.bars.to_numpy()[pos[exists]]
    new = bars[list(OHLCV_COLUMNS)].to_numpy()[exists]
    changed[exists] = (new != old).any(axis=1) | ~stored.same_source[pos[exists]]
    return changed, pos
