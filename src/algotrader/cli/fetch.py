"""``algotrader fetch``: ingest, then export the bars with indicators as JSON and a PNG chart
(the seed 002 ``fetch_market_data`` workflow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from algotrader.cli._common import console, open_db, parse_symbols, settings_from
from algotrader.cli.ingest import run_ingest
from algotrader.config import Settings
from algotrader.data.ingest import IngestWindow
from algotrader.data.providers import is_synthetic
from algotrader.db.store import BarStore
from algotrader.plotting import price_chart
from algotrader.timeframes import parse_duration, parse_resolution


def export_bars(settings: Settings, symbol: str, resolution: str) -> tuple[Path, Path]:
    """Write ``<data>/exports/SYMBOL_RES.json`` (bars + indicators) and ``SYMBOL_RES_plot.png``."""
    db = open_db(settings)
    try:
        store = BarStore(db)
        frame = store.load_bars(symbol, resolution)
        sources = store.sources(symbol, resolution)
    finally:
        db.dispose()
    out = settings.data_dir / "exports"
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{symbol}_{resolution}.json"
    records = [
        {
            "ts": ts.isoformat(),
            **{
                k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in zip(frame.columns, row, strict=True)
            },
        }
        for ts, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    doc = {
        "symbol": symbol,
        "resolution": resolution,
        "sources": sorted(sources),
        "synthetic": is_synthetic(sources),
        "bars": records,
    }
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    tmp.replace(json_path)  # never a half-written export
    png = price_chart(
        frame,
        symbol,
        resolution,
        out / f"{symbol}_{resolution}_plot.png",
        synthetic=is_synthetic(sources),
    )
    return json_path, png


def fetch(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol"),
    duration: str = typer.Option("2 Y", "-d", "--duration"),
    resolution: str = typer.Option("1d", "-r", "--resolution"),
    source: str | None = typer.Option(None, "--source"),
) -> None:
    """Ingest SYMBOL, then write a JSON export of its bars with indicators and a PNG chart."""
    symbols = parse_symbols(symbol)
    res = parse_resolution(resolution)
    window = IngestWindow(duration=parse_duration(duration))
    settings = settings_from(ctx)
    run_ingest(settings, symbols, [res], window, source=source)
    for sym in symbols:
        json_path, png = export_bars(settings, sym, res.name)
        console.print(f"Saved data: {json_path}")
        console.print(f"Saved plot: {png}")


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch)
