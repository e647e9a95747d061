"""Exports: the bars of the window the ingest fetched, whole files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from algotrader.app._stores import open_stores
from algotrader.app.export import export_bars
from algotrader.app.pipeline import store_bars
from algotrader.config import load_settings
from algotrader.ports.bars import InstrumentInfo
from algotrader.timeframes import parse_duration, parse_resolution


def test_a_bar_that_began_before_the_window_but_covers_it_is_exported(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    last_week = pd.DataFrame(
        {"open": [10.0], "high": [11.0], "low": [9.0], "close": [10.5], "volume": [1e6]},
        index=pd.DatetimeIndex([pd.Timestamp("2026-11-23", tz="UTC")], name="ts"),
    )
    with open_stores(settings) as stores:
        stores.instruments.ensure(InstrumentInfo("SPY"), "test")
        store_bars(stores.bars, "SPY", "1w", "test", last_week)

    monday = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    export = export_bars(settings, "SPY", parse_resolution("1w"), parse_duration("5 D"), now=monday)

    assert export.bars == 1
    assert json.loads(export.json_path.read_text())["bars"][0]["close"] == 10.5
