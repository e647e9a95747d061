"""The ingest pipeline: provider -> validation -> store -> indicators -> store.

Idempotent: bars equal to what is stored are not written again. Indicators are recomputed over
the full stored history and written back from the first bar whose value can have changed: the
first new or changed bar, or an earlier one recorded by an interrupted run (``series_state``).
Every indicator is causal (a value depends only on bars up to its own), so bars before that point
keep their stored values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from algotrader.data.providers.base import BarProvider
from algotrader.db.store import BarStore, StoredSeries
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.frames import OHLCV_COLUMNS, empty_bars
from algotrader.indicators import compute_indicators
from algotrader.timeframes import Duration, Resolution

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
_EMPTY_BARS = empty_bars()


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

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def store_bars(
    store: BarStore,
    symbol: str,
    resolution: str,
    source: str,
    bars: pd.DataFrame,
    *,
    progress: Progress | None = None,
    log_counts: bool = True,
) -> IngestReport:
    """Merge validated ``bars`` into the stored series and refresh its indicators.

    ``bars`` must be a validated bar frame (see :mod:`algotrader.data.validation`).
    ``log_counts=False``: the caller logs the counts (``store_chunks``, whose bars are stored
    before this indicator pass).
    """
    started = time.perf_counter()
    stored = store.load_series(symbol, resolution, source)
    dirty = store.dirty_from(symbol, resolution)
    old = stored.bars

    if old.empty:
        inserted, updated, unchanged = len(bars), 0, 0
        first_changed = bars.index[0] if len(bars) else None
        merged, from_new_rows = bars, np.ones(len(bars), dtype=bool)
    else:
        changed, pos = _changed_rows(stored, bars)
        exists = pos >= 0
        inserted = int((~exists).sum())
        updated = int(changed.sum()) - inserted
        unchanged = len(bars) - int(changed.sum())
        first_changed = bars.index[changed][0] if changed.any() else None
        if first_changed is None:
            merged = old
            from_new_rows = np.zeros(len(old), dtype=bool)
        else:
            keep_old = np.ones(len(old), dtype=bool)
            keep_old[pos[exists]] = False
            merged = pd.concat([old[keep_old], bars[list(OHLCV_COLUMNS)]])
            from_new_rows = np.concatenate(
                [np.zeros(int(keep_old.sum()), bool), np.ones(len(bars), bool)]
            )
            order = np.argsort(pd.DatetimeIndex(merged.index).asi8, kind="stable")
            merged, from_new_rows = merged.iloc[order], from_new_rows[order]

    candidates = [t for t in (first_changed, dirty) if t is not None]
    recompute_from = min(candidates) if candidates else None
    indicator_rows = 0
    if recompute_from is not None and len(merged):
        full = pd.concat([merged, compute_indicators(merged)], axis=1)
        tail = merged.index >= recompute_from
        rows, mine = full[tail], from_new_rows[tail]
        indicator_rows = len(rows)
        theirs = rows[~mine]
        # New bars: written with their source. Stored bars after the change point (possibly from
        # another source): only their values are refreshed.
        store.write_bars(
            symbol,
            resolution,
            source,
            rows[mine],
            dirty_from=recompute_from,
            clear_dirty_from=None if len(theirs) else recompute_from,
            all_new=old.empty,
            on_chunk=progress,
        )
        if len(theirs):
            store.write_bars(
                symbol,
                resolution,
                source,
                theirs,
                clear_dirty_from=recompute_from,
                update_source=False,
                on_chunk=progress,
            )
    elif progress is not None:
        progress(len(bars))

    if log_counts:
        _log_counts(symbol, resolution, source, len(bars), inserted, updated, unchanged,
                    indicator_rows)
    return IngestReport(
        symbol=symbol,
        resolution=resolution,
        source=source,
        fetched=len(bars),
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        indicator_rows=indicator_rows,
        first_ts=bars.index[0].to_pydatetime() if len(bars) else None,
        last_ts=bars.index[-1].to_pydatetime() if len(bars) else None,
        seconds=time.perf_counter() - started,
    )


def store_chunks(
    store: BarStore,
    symbol: str,
    resolution: str,
    source: str,
    chunks: Iterable[pd.DataFrame],
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Store validated chunks as they arrive, then refresh indicators once.

    For slow sources (IBKR walks history backwards in many requests): each chunk's new or changed
    bars are committed at once, with a marker that indicators must be recomputed from there. A
    crash loses nothing already fetched; the final pass (or the next run) recomputes from the
    earliest marker over the full stored history.
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
        stored = store.load_series(symbol, resolution, source, lo, hi + timedelta(microseconds=1))
        changed, pos = _changed_rows(stored, chunk)
        fetched += len(chunk)
        new_rows = int((pos < 0).sum())
        inserted += new_rows
        updated += int(changed.sum()) - new_rows
        unchanged += len(chunk) - int(changed.sum())
        if changed.any():
            rows = chunk[changed]
            store.write_bars(
                symbol, resolution, source, rows, dirty_from=rows.index[0].to_pydatetime()
            )
        if progress is not None:
            progress(len(chunk))
    final = store_bars(store, symbol, resolution, source, _EMPTY_BARS, log_counts=False)
    _log_counts(symbol, resolution, source, fetched, inserted, updated, unchanged,
                final.indicator_rows)
    return IngestReport(
        symbol=symbol,
        resolution=resolution,
        source=source,
        fetched=fetched,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        indicator_rows=final.indicator_rows,
        first_ts=first,
        last_ts=last,
        seconds=time.perf_counter() - started,
    )


def _log_counts(
    symbol: str, resolution: str, source: str, fetched: int, inserted: int, updated: int,
    unchanged: int, indicator_rows: int,
) -> None:
    log.info(
        "%s %s from %s: %d fetched, %d inserted, %d updated, %d unchanged, %d indicator rows",
        symbol, resolution, source, fetched, inserted, updated, unchanged, indicator_rows,
    )


def _changed_rows(stored: StoredSeries, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
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


@dataclass(frozen=True)
class IngestWindow:
    """Which bars to fetch: ``duration`` back from ``end`` (now by default), or only what is
    missing after the last stored bar when ``incremental``."""

    duration: Duration | None = None
    start: datetime | None = None
    end: datetime | None = None
    incremental: bool = False


def resolve_window(
    store: BarStore, symbol: str, resolution: Resolution, window: IngestWindow
) -> tuple[datetime, datetime]:
    """The [start, end) to fetch for ``window`` (incremental: from the last stored bar on)."""
    end = window.end or datetime.now(UTC)
    if window.incremental:
        bounds = store.bounds(symbol, resolution.name)
        if bounds is not None:
            # The last stored bar is fetched again: it may have been a partial (still forming) bar.
            return bounds[1], end
    if window.start is not None:
        return window.start, end
    if window.duration is None:
        raise InvalidInputError("no duration given", 'pass -d/--duration, e.g. -d "1 Y"')
    return window.duration.start_before(end), end


def ingest_symbol(
    store: BarStore,
    provider: BarProvider,
    symbol: str,
    resolution: Resolution,
    window: IngestWindow,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Fetch ``symbol`` from ``provider`` and store it with its indicators (one clear error if
    the provider has no such symbol or no bars)."""
    symbol = symbol.strip().upper()
    start, end = resolve_window(store, symbol, resolution, window)
    info = provider.describe(symbol)
    iter_chunks = getattr(provider, "iter_bars", None)
    if iter_chunks is not None:
        store.ensure_instrument(info, provider.name)  # before the first chunk's rows (FK)
        report = store_chunks(
            store,
            symbol,
            resolution.name,
            provider.name,
            iter_chunks(symbol, resolution, start, end),
            progress=progress,
        )
        if report.fetched == 0 and store.bounds(symbol, resolution.name) is None:
            raise DataNotFoundError(
                f"{provider.label} returned no {resolution.name} bars for {symbol} "
                f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC",
                "try a longer duration, another resolution, or check the symbol",
            )
        return report
    bars = provider.fetch_bars(symbol, resolution, start, end)
    # Only once the bars are fetched and valid: a refused file or request writes nothing.
    store.ensure_instrument(info, provider.name)
    if bars.empty and store.dirty_from(symbol, resolution.name) is None:
        if window.incremental and store.bounds(symbol, resolution.name):
            return IngestReport(
                symbol, resolution.name, provider.name, 0, 0, 0, 0, 0, None, None, 0
            )
        raise DataNotFoundError(
            f"{provider.label} returned no {resolution.name} bars for {symbol} "
            f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC",
            "try a longer duration, another resolution, or check the symbol",
        )
    log.info("fetched %d %s bars of %s from %s", len(bars), resolution.name, symbol, provider.name)
    return store_bars(store, symbol, resolution.name, provider.name, bars, progress=progress)
