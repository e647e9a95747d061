"""``algotrader demo``: the README's main job on the embedded default (no IB account needed)."""

from __future__ import annotations

import time

import typer

from algotrader.cli._common import console, open_db, parse_symbols
from algotrader.cli.app import settings_from
from algotrader.cli.ingest import run_ingest
from algotrader.config import mask_url
from algotrader.data.ingest import IngestWindow
from algotrader.db.store import BarStore
from algotrader.plotting import plot_path, price_chart
from algotrader.timeframes import parse_duration, parse_resolution

DEMO_SYMBOLS = "AAPL,MSFT,SPY"


def demo(
    ctx: typer.Context,
    symbols: str = typer.Option(DEMO_SYMBOLS, "-s", "--symbols", help="Symbols to ingest."),
) -> None:
    """Ingest a few symbols (synthetic data) at 1d and 1h, compute indicators, draw a chart."""
    started = time.perf_counter()
    settings = settings_from(ctx)
    chosen = parse_symbols(symbols)
    console.print(f"algotrader demo: synthetic data into {mask_url(settings.db_url)}")
    reports = run_ingest(settings, chosen, [parse_resolution("1d")], IngestWindow(parse_duration("5 Y")),
                         source="synthetic")
    reports += run_ingest(settings, chosen, [parse_resolution("1h")], IngestWindow(parse_duration("3 M")),
                          source="synthetic")
    db = open_db(settings)
    try:
        frame = BarStore(db).load_bars(chosen[0], "1d")
    finally:
        db.dispose()
    chart = price_chart(frame, chosen[0], "1d", plot_path(settings.plots_dir, chosen[0], "1d"),
                        synthetic=True)
    bars = sum(r.fetched for r in reports)
    console.print()
    console.print(f"Demo complete in {time.perf_counter() - started:.1f}s: {len(chosen)} symbols x "
                  f"(1d, 1h), {bars:,} synthetic bars with indicators stored.")
    console.print(f"Database: {mask_url(settings.db_url)}")
    console.print(f"Saved plot: {chart}")
    console.print("Next: `algotrader instruments list`, `algotrader db check`, "
                  "`algotrader ingest -s TSLA -r 1h -d \"30 D\" --source synthetic`.")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
