"""``algotrader fetch``: ingest, then export the bars with indicators as JSON and a PNG chart
(the seed 002 ``fetch_market_data`` workflow)."""

from __future__ import annotations

import typer

from algotrader.cli._common import console, parse_symbols, settings_from
from algotrader.cli.ingest import ConsoleListener


def fetch(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol", help="Symbol(s): AAPL or AAPL,MSFT."),
    duration: str = typer.Option(
        "2 Y", "-d", "--duration", help='How far back to fetch and export, e.g. "2 Y".'
    ),
    resolution: str = typer.Option("1d", "-r", "--resolution", help="Bar size: 1m ... 1w."),
    source: str | None = typer.Option(
        None, "--source", help="ibkr, ibsim or synthetic (default: ALGOTRADER_DATA_SOURCE)."
    ),
) -> None:
    """Ingest SYMBOL, then write a JSON export of its last DURATION of bars with indicators and
    a PNG chart under <data dir>/exports."""
    from algotrader.app.export import export_bars
    from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
    from algotrader.config import parse_source
    from algotrader.timeframes import parse_duration, parse_resolution

    symbols = parse_symbols(symbol)
    source = parse_source(source) if source is not None else None
    res = parse_resolution(resolution)
    window = IngestWindow(duration=parse_duration(duration))
    settings = settings_from(ctx)
    with ConsoleListener(window.describe(), len(symbols)) as listener:
        ingest(settings, IngestRequest(tuple(symbols), (res,), window, source=source), listener)
    console.print("Ingestion complete.")
    for sym in symbols:
        export = export_bars(settings, sym, res, window.duration)
        console.print(f"Saved data: {export.json_path} ({export.bars} bars)")
        console.print(f"Saved plot: {export.chart_path}")


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch)
