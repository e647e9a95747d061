"""Import market events, symbol events and external signals from CSV or JSON-lines files.

Every row of a file is parsed and validated before any is written; imports are idempotent (see
:mod:`algotrader.data.events` for the formats).
"""

from __future__ import annotations

from pathlib import Path

from algotrader.app._stores import open_stores
from algotrader.config import Settings
from algotrader.data.events import read_events, read_signals
from algotrader.ports.stores import UpsertReport


def import_events(settings: Settings, path: Path) -> list[UpsertReport]:
    """Rows with a symbol go to ``symbol_events``, the others to ``market_events``."""
    market, symbol = read_events(path)
    with open_stores(settings) as stores:
        return [
            stores.events.upsert("market_events", market),
            stores.events.upsert("symbol_events", symbol),
        ]


def import_signals(settings: Settings, path: Path) -> UpsertReport:
    """External signals (symbol, ts, source, name, value, payload) into ``external_signals``."""
    records = read_signals(path)
    with open_stores(settings) as stores:
        return stores.events.upsert("external_signals", records)
