"""Export stored bars with their indicators: a JSON document and a PNG chart (seed 002's
``fetch_market_data`` workflow)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from algotrader.app._stores import open_stores
from algotrader.config import Settings
from algotrader.data.providers import is_synthetic
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.timeframes import Duration, Resolution


@dataclass(frozen=True)
class Export:
    """Where an export was written and what it holds."""

    json_path: Path
    chart_path: Path
    bars: int
    synthetic: bool


def _first_bar_start(resolution: Resolution, duration: Duration, now: datetime | None) -> datetime:
    """Where the window's bars start. A bar that began before the window but covers part of it
    belongs to it: ingest fetched it for that window (last week's bar in "5 D" on a Monday)."""
    began = duration.start_before(now or datetime.now(UTC))
    return began - resolution.timedelta + timedelta(microseconds=1)


def export_bars(
    settings: Settings,
    symbol: str,
    resolution: Resolution,
    duration: Duration | None = None,
    *,
    now: datetime | None = None,
) -> Export:
    """Write ``<data>/exports/SYMBOL_RES.json`` (bars + indicators of the last ``duration`` before
    ``now``, or everything stored) and ``SYMBOL_RES_plot.png``; the JSON appears whole or not at
    all."""
    from algotrader.plotting import price_chart

    start = _first_bar_start(resolution, duration, now) if duration else None
    with open_stores(settings) as stores:
        frame = stores.bars.load_bars(symbol, resolution.name, start)
        sources = stores.bars.sources(symbol, resolution.name)
    if frame.empty:
        raise DataNotFoundError(
            f"no {resolution.name} bars of {symbol} stored"
            + (f" in the last {duration}" if duration else ""),
            f'ingest them first: algotrader ingest -s {symbol} -r {resolution.name} -d "2 Y"',
        )
    out = settings.data_dir / "exports"
    json_path = out / f"{symbol}_{resolution.name}.json"
    synthetic = is_synthetic(sources)
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
        "resolution": resolution.name,
        "sources": sorted(sources),
        "synthetic": synthetic,
        "bars": records,
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        tmp.replace(json_path)  # never a half-written export
        png = price_chart(
            frame,
            symbol,
            resolution.name,
            out / f"{symbol}_{resolution.name}_plot.png",
            synthetic=synthetic,
        )
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write the export to {out} ({exc.strerror or exc})",
            "make that folder writable or set ALGOTRADER_DATA_DIR / --data-dir",
        ) from None
    return Export(json_path, png, len(frame), synthetic)
