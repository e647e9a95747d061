"""Ingest use case: fetch bars of many (symbol, resolution) pairs from a provider into the store.

The window is ``duration`` back from now (or ``start``/``end``, or everything a file holds), or
only what is missing after the last stored bar (``incremental``). Series are fetched
concurrently when the provider can (``max_concurrency``); each one is stored through
:mod:`algotrader.app.pipeline` under its writer lock. A chunked fetch that was interrupted resumes
where it stopped instead of spending IB's pacing budget on chunks it already stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from algotrader.app._stores import Stores, open_stores
from algotrader.app.pipeline import IngestReport, store_bars, store_chunks
from algotrader.config import Settings
from algotrader.data.providers import get_provider, is_synthetic
from algotrader.errors import DataNotFoundError, InvalidInputError, UserError
from algotrader.observability import metrics
from algotrader.ports.bars import BarProvider
from algotrader.timeframes import Duration, Resolution, check_instant

log = logging.getLogger(__name__)

# The earliest instant a whole-file (CSV) ingest asks for: before any market data.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class IngestWindow:
    """Which bars to fetch: ``duration`` back from ``end`` (now by default), ``[start, end)``,
    everything the source has (``everything``, for files), or only what is missing after the last
    stored bar (``incremental``)."""

    duration: Duration | None = None
    start: datetime | None = None
    end: datetime | None = None
    incremental: bool = False
    everything: bool = False

    def describe(self) -> str:
        if self.incremental:
            return "incremental"
        if self.everything:
            return "whole file"
        return f"duration={self.duration}" if self.duration else "window"


@dataclass(frozen=True)
class IngestRequest:
    """Every (symbol, resolution) pair of ``symbols`` x ``resolutions`` from ``source``."""

    symbols: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    window: IngestWindow
    source: str | None = None
    csv_path: Path | None = None
    replace_real_data: bool = False
    lake_url: str | None = None  # the lake source's location (a folder or an fsspec URL)


class IngestListener(Protocol):
    """What a front end hears while an ingest runs (calls may come from worker threads)."""

    def started(self, symbol: str, resolution: Resolution, provider_label: str) -> None: ...

    def finished(self, report: IngestReport, provider_label: str) -> None: ...


class _Silent:
    def started(self, symbol: str, resolution: Resolution, provider_label: str) -> None:
        return None

    def finished(self, report: IngestReport, provider_label: str) -> None:
        return None


def ingest(
    settings: Settings,
    request: IngestRequest,
    listener: IngestListener | None = None,
    *,
    provider: BarProvider | None = None,
) -> list[IngestReport]:
    """Ingest every series of ``request``; reports come back in request order.

    All series are attempted; the first failure is raised after the others have finished (and
    been reported to ``listener``). ``provider`` replaces the one ``request.source`` names (the
    caller then closes it).
    """
    heard = listener or _Silent()
    if provider is not None:
        return _ingest_all(settings, request, provider, heard)
    provider = get_provider(
        request.source or settings.data_source, settings, request.csv_path, url=request.lake_url
    )
    try:
        return _ingest_all(settings, request, provider, heard)
    finally:
        provider.close()


def _ingest_all(
    settings: Settings, request: IngestRequest, provider: BarProvider, heard: IngestListener
) -> list[IngestReport]:
    pairs = [(s, r) for s in request.symbols for r in request.resolutions]
    with open_stores(settings) as stores:
        workers = max(1, min(provider.max_concurrency, len(pairs)))
        if workers == 1:
            # In the calling thread, so that Ctrl-C stops the ingest where it is.
            return _one_after_another(stores, provider, request, pairs, heard)
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = [
                pool.submit(_ingest_one, stores, provider, request, s, r, heard) for s, r in pairs
            ]
            errors = [error for f in futures if (error := f.exception()) is not None]
            if errors:
                raise errors[0]
            return [f.result() for f in futures]
        finally:
            # On an error or Ctrl-C, queued series are dropped; running ones end when the
            # caller closes the provider.
            pool.shutdown(wait=False, cancel_futures=True)


def _one_after_another(
    stores: Stores,
    provider: BarProvider,
    request: IngestRequest,
    pairs: list[tuple[str, Resolution]],
    heard: IngestListener,
) -> list[IngestReport]:
    reports: list[IngestReport] = []
    first_error: UserError | None = None
    for symbol, resolution in pairs:
        try:
            reports.append(_ingest_one(stores, provider, request, symbol, resolution, heard))
        except UserError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return reports


def _ingest_one(
    stores: Stores,
    provider: BarProvider,
    request: IngestRequest,
    symbol: str,
    resolution: Resolution,
    listener: IngestListener,
) -> IngestReport:
    listener.started(symbol, resolution, provider.label)
    report = ingest_symbol(
        stores,
        provider,
        symbol,
        resolution,
        request.window,
        replace_real_data=request.replace_real_data,
    )
    listener.finished(report, provider.label)
    return report


def ingest_symbol(
    stores: Stores,
    provider: BarProvider,
    symbol: str,
    resolution: Resolution,
    window: IngestWindow,
    *,
    replace_real_data: bool = False,
) -> IngestReport:
    """Fetch one series from ``provider`` and store it with its indicators (one clear error if
    the provider has no such symbol or no bars). Counted in the ingest metrics."""
    started = time.perf_counter()
    try:
        report = _ingest_symbol(
            stores, provider, symbol, resolution, window, replace_real_data=replace_real_data
        )
    except BaseException:
        metrics.record_ingest_failure(provider.name, resolution.name)
        raise
    seconds = time.perf_counter() - started
    metrics.record_ingest(
        report.source, resolution.name, fetched=report.fetched, stored=report.written,
        seconds=seconds,
    )  # fmt: skip
    return report


def _ingest_symbol(
    stores: Stores,
    provider: BarProvider,
    symbol: str,
    resolution: Resolution,
    window: IngestWindow,
    *,
    replace_real_data: bool = False,
) -> IngestReport:
    symbol = symbol.strip().upper()
    start, end = resolve_window(stores, symbol, resolution, window)
    info = provider.describe(symbol)  # connects; the provider's name is final from here on
    _refuse_synthetic_over_real(stores, provider, symbol, resolution, replace_real_data)
    if provider.streams_chunks:
        stores.instruments.ensure(info, provider.name)  # before the first chunk (foreign key)
        report = _ingest_chunked(stores, provider, symbol, resolution, start, end)
        if report.fetched == 0 and stores.bars.bounds(symbol, resolution.name) is None:
            raise _no_bars(provider, symbol, resolution, start, end)
        return report
    bars = provider.fetch_bars(symbol, resolution, start, end)
    outside = 0 if window.incremental else int(bars.attrs.get("outside_window", 0))
    if bars.empty and stores.bars.dirty_from(symbol, resolution.name) is None:
        if window.incremental and stores.bars.bounds(symbol, resolution.name):
            return IngestReport.nothing(symbol, resolution.name, provider.name)
        if outside:
            raise _all_outside(provider, symbol, outside, bars.attrs.get("source_span"))
        raise _no_bars(provider, symbol, resolution, start, end)
    # Only once the bars are fetched and valid: a refused file or request writes nothing.
    stores.instruments.ensure(info, provider.name)
    log.info("fetched %d %s bars of %s from %s", len(bars), resolution.name, symbol, provider.name)
    report = store_bars(stores.bars, symbol, resolution.name, provider.name, bars)
    return replace(report, outside_window=outside) if outside else report


def resolve_window(
    stores: Stores, symbol: str, resolution: Resolution, window: IngestWindow
) -> tuple[datetime, datetime]:
    """The [start, end) to fetch for ``window`` (incremental: from the last stored bar on)."""
    end = check_instant(window.end, "the window's end") if window.end else datetime.now(UTC)
    if window.start is not None:
        check_instant(window.start, "the window's start")
    if window.incremental:
        bounds = stores.bars.bounds(symbol, resolution.name)
        if bounds is not None:
            # The last stored bar is fetched again: it may have been a partial (still forming) bar.
            return bounds[1], end
    if window.start is not None:
        return window.start, end
    if window.everything:
        return _EARLIEST, end
    if window.duration is None:
        raise InvalidInputError("no duration given", 'pass -d/--duration, e.g. -d "1 Y"')
    return window.duration.start_before(end), end


def _ingest_chunked(
    stores: Stores,
    provider: BarProvider,
    symbol: str,
    resolution: Resolution,
    start: datetime,
    end: datetime,
) -> IngestReport:
    """Walk ``[start, end)`` in chunks; after an interrupted walk, fetch only what it missed."""
    reports = [
        store_chunks(
            stores.bars,
            symbol,
            resolution.name,
            provider.name,
            provider.iter_bars(symbol, resolution, lo, hi),
            walk_start=lo,
        )
        for lo, hi in _ranges_to_fetch(stores, symbol, resolution, start, end)
    ]
    if not reports:  # an interrupted walk had already stored everything asked for
        return IngestReport.nothing(symbol, resolution.name, provider.name)
    return IngestReport.combined(reports)


def _ranges_to_fetch(
    stores: Stores, symbol: str, resolution: Resolution, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end)`` as a whole, unless an interrupted walk left a marker: then the hole it
    did not reach, and what came after the last stored bar."""
    progress = stores.bars.fetch_progress(symbol, resolution.name)
    bounds = stores.bars.bounds(symbol, resolution.name)
    if progress is None or bounds is None:
        yield start, end
        return
    hole_start = min(start, progress.start)
    if hole_start < progress.reached:
        yield hole_start, progress.reached
    # The last stored bar is fetched again: it may have been still forming.
    if bounds[1] < end:
        yield bounds[1], end


def _refuse_synthetic_over_real(
    stores: Stores, provider: BarProvider, symbol: str, resolution: Resolution, allowed: bool
) -> None:
    if allowed or not is_synthetic({provider.name}):
        return
    real = sorted(s for s in stores.bars.sources(symbol, resolution.name) if not is_synthetic({s}))
    if real:
        raise InvalidInputError(
            f"{symbol} {resolution.name} holds market data from {', '.join(real)} and "
            f"{provider.label} would overwrite it with synthetic bars",
            "ingest another symbol, or pass --replace-real-data if that is what you want",
        )


def _all_outside(
    provider: BarProvider, symbol: str, outside: int, span: tuple[datetime, datetime] | None
) -> UserError:
    held = f" (it runs from {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d})" if span else ""
    return DataNotFoundError(
        f"all {outside} bars of {symbol} in {provider.label} lie outside the requested window"
        f"{held}",
        "drop -d/--start/--end to store the whole file, or give a window that overlaps it",
    )


def _no_bars(
    provider: BarProvider, symbol: str, resolution: Resolution, start: datetime, end: datetime
) -> UserError:
    first = f"{start:%Y-%m-%d %H:%M}" if start > _EARLIEST else "the beginning"
    return DataNotFoundError(
        f"{provider.label} returned no {resolution.name} bars for {symbol} "
        f"between {first} and {end:%Y-%m-%d %H:%M} UTC",
        "try a longer duration, another resolution, or check the symbol",
    )
