"""``algotrader ingest``: fetch bars from a provider into the database, with indicators."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from algotrader.cli._common import console, open_db, parse_symbols, settings_from
from algotrader.config import Settings
from algotrader.data.ingest import IngestReport, IngestWindow, ingest_symbol
from algotrader.data.providers import BarProvider, get_provider
from algotrader.db.store import BarStore
from algotrader.timeframes import Resolution, parse_duration, parse_resolution


def report_lines(report: IngestReport, label: str) -> list[str]:
    """The seed's console lines for one ingest (seed 000, section 6)."""
    kept = []
    if report.updated:
        kept.append(f"{report.updated} updated")
    if report.unchanged:
        kept.append(f"{report.unchanged} unchanged")
    extra = f" ({', '.join(kept)})" if kept else ""
    computed = f"{report.indicator_rows} rows updated"
    if not report.indicator_rows:
        computed += " (nothing changed)"
    return [
        f"Fetched {report.fetched} rows from {label} for {report.symbol}.",
        f"Inserted {report.inserted} rows into DB{extra}.",
        f"Computed indicators for {report.symbol} @ {report.resolution}: {computed}.",
    ]


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield progress


class _TakingTurns:
    """A :class:`BarStore` whose calls from several threads take turns (SQLite has one writer
    at a time, and its busy handler cannot resolve a read-then-write upgrade)."""

    def __init__(self, store: BarStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


def _ingest_concurrently(
    store: BarStore,
    provider: BarProvider,
    jobs: list[tuple[str, Resolution]],
    window: IngestWindow,
    what: str,
) -> list[IngestReport]:
    """``ingest_symbol`` for every job on ``provider.max_concurrency`` threads; reports in input
    order. All jobs are attempted; the first failure is raised once the others are done."""
    lock = threading.Lock()
    shared: Any = store if store.db.is_postgres else _TakingTurns(store)

    def one(symbol: str, resolution: Resolution) -> IngestReport:
        with lock:
            console.print(f"Running ingest pipeline: {symbol} / {resolution.name} / {what}")
        report = ingest_symbol(shared, provider, symbol, resolution, window)
        with lock:
            for line in report_lines(report, provider.label):
                console.print(line)
        return report

    workers = min(int(getattr(provider, "max_concurrency", 1)), len(jobs))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ingest")
    futures = [pool.submit(one, symbol, resolution) for symbol, resolution in jobs]
    try:
        wait(futures)
    except BaseException:  # Ctrl-C: drop what has not started, stop what has
        for future in futures:
            future.cancel()
        close = getattr(provider, "close", None)
        if close is not None:
            close()  # running jobs end "interrupted" at their next request
        raise
    finally:
        pool.shutdown(wait=True)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]


def run_ingest(
    settings: Settings,
    symbols: list[str],
    resolutions: list[Resolution],
    window: IngestWindow,
    *,
    source: str | None = None,
    csv_path: Path | None = None,
    show_progress: bool = True,
) -> list[IngestReport]:
    """Ingest every (symbol, resolution), printing the seed's lines; used by several commands.

    A provider that serves several series at once (``max_concurrency`` > 1, the IBKR provider)
    gets them on that many threads; the others go one after another.
    """
    provider = get_provider(source or settings.data_source, settings, csv_path)
    db = open_db(settings)
    store = BarStore(db)
    reports: list[IngestReport] = []
    what = f"duration={window.duration}" if window.duration else "incremental"
    if window.incremental:
        what = "incremental"
    jobs = [(symbol, resolution) for symbol in symbols for resolution in resolutions]
    try:
        if getattr(provider, "max_concurrency", 1) > 1 and len(jobs) > 1:
            reports = _ingest_concurrently(store, provider, jobs, window, what)
            console.print("Ingestion complete.")
            return reports
        with _progress(show_progress and len(jobs) > 1) as progress:
            overall = progress.add_task("ingest", total=len(jobs)) if progress else None
            for symbol, resolution in jobs:
                console.print(f"Running ingest pipeline: {symbol} / {resolution.name} / {what}")
                report = ingest_symbol(store, provider, symbol, resolution, window)
                for line in report_lines(report, provider.label):
                    console.print(line)
                reports.append(report)
                if progress is not None and overall is not None:
                    progress.advance(overall)
        console.print("Ingestion complete.")
    finally:
        close = getattr(provider, "close", None)
        if close is not None:
            close()  # e.g. disconnect from IB (a concurrent ingest's threads end "interrupted")
        db.dispose()
    return reports


def ingest(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol", "--symbols", help="AAPL or AAPL,MSFT,SPY"),
    resolution: str = typer.Option(
        "1d", "-r", "--resolution", help="1m 5m 15m 30m 1h 1d 1w; several: 1d,1h"
    ),
    duration: str = typer.Option(
        "1 Y", "-d", "--duration", help='How far back, IB style: "5 Y", "30 D".'
    ),
    source: str | None = typer.Option(
        None, "--source", help="ibkr, ibsim, synthetic or csv (default: ALGOTRADER_DATA_SOURCE)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="The CSV file for --source csv."),
    incremental: bool = typer.Option(
        False, "--incremental", help="Fetch only what is missing after the last stored bar."
    ),
) -> None:
    """Fetch OHLCV bars into the database and compute their indicators."""
    symbols = parse_symbols(symbol)
    resolutions = [parse_resolution(r) for r in resolution.split(",") if r.strip()]
    window = IngestWindow(duration=parse_duration(duration), incremental=incremental)
    if csv is not None and source is None:
        source = "csv"
    settings = settings_from(ctx)
    run_ingest(settings, symbols, resolutions, window, source=source, csv_path=csv)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
