"""Instruments: add one by hand or a file of them, list them with their stored bars."""

from __future__ import annotations

from pathlib import Path

from algotrader.app._stores import open_stores
from algotrader.config import Settings
from algotrader.data.events import read_instruments
from algotrader.ports.bars import InstrumentInfo
from algotrader.ports.stores import StoredInstrument


def add_instrument(settings: Settings, info: InstrumentInfo) -> bool:
    """Store ``info`` unless the symbol exists (then only its blank fields are filled).
    Returns True when it was created."""
    with open_stores(settings) as stores:
        return stores.instruments.ensure(info, "manual")


def import_instruments(settings: Settings, path: Path) -> tuple[int, int]:
    """Add the instruments of a CSV or JSON-lines file (symbol; name, sector, industry), every
    row checked before any is written; existing ones get only their blank fields filled.
    Returns (created, already there)."""
    infos = read_instruments(path)
    with open_stores(settings) as stores:
        created = sum(stores.instruments.ensure(info, "manual") for info in infos)
    return created, len(infos) - created


def list_instruments(settings: Settings) -> list[StoredInstrument]:
    """Every instrument with its stored bar counts per resolution."""
    with open_stores(settings) as stores:
        return stores.instruments.list()
