"""``algotrader ingest``: fetch bars from a provider into the database, with indicators."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from algotrader.cli._common import console, parse_symbols, settings_from
from algotrader.cli.stream import publish
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.app.pipeline import IngestReport
    from algotrader.timeframes import Resolution

_EXAMPLES = """Examples:

  algotrader ingest -s AAPL -r 1d -d "5 Y"

  algotrader ingest -s AAPL,MSFT,SPY -r 1d,1h -d "30 D"

  algotrader ingest -s AAPL -r 1d --incremental

  algotrader ingest -s XYZ -r 1d --csv prices.csv      (the whole file)

  algotrader ingest -s AAPL -r 1m --lake s3://bucket/lake   (everything archived)

  algotrader ingest -s AAPL -r 1m -d "5 D" --to kafka    (publish to the price stream)
"""


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
    lines = [
        f"Fetched {report.fetched} rows from {label} for {report.symbol}.",
        f"Inserted {report.inserted} rows into DB{extra}.",
        f"Computed indicators for {report.symbol} @ {report.resolution}: {computed}.",
    ]
    if report.outside_window:
        lines.insert(
            1,
            f"Left out {report.outside_window} rows outside the requested window "
            "(drop -d/--start/--end to store the whole file).",
        )
    return lines


class ConsoleListener:
    """Prints the seed's lines as series start and finish (from any worker thread), under a
    progress bar when there are several series."""

    def __init__(self, what: str, total: int = 1) -> None:
        self._what = what
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if total > 1:
            self._progress = Progress(
                TextColumn("ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._progress.add_task("ingest", total=total)

    def __enter__(self) -> ConsoleListener:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def started(self, symbol: str, resolution: Resolution, provider_label: str) -> None:
        with self._lock:
            console.print(f"Running ingest pipeline: {symbol} / {resolution.name} / {self._what}")

    def finished(self, report: IngestReport, provider_label: str) -> None:
        with self._lock:
            for line in report_lines(report, provider_label):
                console.print(line)
            if self._progress is not None and self._task is not None:
                self._progress.advance(self._task)


def parse_resolutions(text: str) -> list[Resolution]:
    """``"1d,1h"`` -> resolutions; an empty list is refused."""
    from algotrader.timeframes import parse_resolution

    resolutions = [parse_resolution(r) for r in text.split(",") if r.strip()]
    if not resolutions:
        raise InvalidInputError("no resolution given", "pass -r 1d or -r 1d,1h")
    return resolutions


def _parse_time(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    from algotrader.timeframes import parse_instant

    return parse_instant(text, what)


def _source_of(source: str | None, csv: Path | None, lake: str | None, to: str) -> str | None:
    """The source the flags name (``--csv``/``--lake`` imply theirs), checked."""
    from algotrader.config import parse_source

    source = parse_source(source) if source is not None else None
    if csv is not None and source not in (None, "csv"):
        raise InvalidInputError(
            f"--csv reads a file but --source is {source!r}", "drop --source or --csv"
        )
    if lake is not None and source not in (None, "lake"):
        raise InvalidInputError(
            f"--lake reads the data lake but --source is {source!r}", "drop --source or --lake"
        )
    if to not in ("db", "kafka"):
        raise InvalidInputError(f"unknown destination --to {to!r}", "use --to db or --to kafka")
    return "csv" if csv is not None else ("lake" if lake is not None else source)


def ingest(
    ctx: typer.Context,
    symbol: str = typer.Option(
        ..., "-s", "--symbol", "--symbols", help="Symbol(s): AAPL or AAPL,MSFT,SPY."
    ),
    resolution: str = typer.Option(
        "1d", "-r", "--resolution", help="Bar size: 1m 5m 15m 30m 1h 1d 1w; several: 1d,1h."
    ),
    duration: str | None = typer.Option(
        None,
        "-d",
        "--duration",
        help='How far back, IB style: "5 Y", "6 M", "30 D" (trading days). Default "1 Y"; '
        "with --csv, the whole file.",
    ),
    start: str | None = typer.Option(None, "--start", help="First bar to fetch (ISO date, UTC)."),
    end: str | None = typer.Option(None, "--end", help="Fetch bars before this (ISO date, UTC)."),
    source: str | None = typer.Option(
        None, "--source", help="ibkr|ibsim|synthetic|csv|lake (default: ALGOTRADER_DATA_SOURCE)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="A CSV file of one symbol's bars."),
    incremental: bool = typer.Option(
        False, "--incremental", help="Fetch only what is missing after the last stored bar."
    ),
    replace_real_data: bool = typer.Option(
        False, "--replace-real-data", help="Let synthetic bars overwrite stored market data."
    ),
    lake: str | None = typer.Option(
        None, "--lake", help="Read the Parquet data lake at this folder or URL (--source lake)."
    ),
    to: str = typer.Option(
        "db", "--to", help="db: store in the database; kafka: publish to the price stream."
    ),
) -> None:
    """Fetch OHLCV bars into the database and compute their indicators."""
    from algotrader.app.ingest import IngestRequest, IngestWindow
    from algotrader.app.ingest import ingest as run
    from algotrader.timeframes import parse_duration

    symbols = parse_symbols(symbol)
    resolutions = parse_resolutions(resolution)
    source = _source_of(source, csv, lake, to)
    window = IngestWindow(
        duration=parse_duration(duration or "1 Y"),
        start=_parse_time(start, "--start"),
        end=_parse_time(end, "--end"),
        incremental=incremental,
        everything=source in ("csv", "lake") and duration is None and start is None,
    )
    request = IngestRequest(tuple(symbols), tuple(resolutions), window, source=source, csv_path=csv,
                            replace_real_data=replace_real_data, lake_url=lake)  # fmt: skip
    if to == "kafka":
        return publish(ctx, request)
    settings = settings_from(ctx)
    with ConsoleListener(window.describe(), len(symbols) * len(resolutions)) as listener:
        run(settings, request, listener)
    console.print("Ingestion complete.")


def register(app: typer.Typer) -> None:
    app.command("ingest", epilog=_EXAMPLES)(ingest)
