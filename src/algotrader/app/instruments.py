"""Instruments: add one by hand, list them with their stored bars."""

from __future__ import annotations

from algotrader.app._stores import open_stores
from algotrader.config import Settings
from algotrader.ports.bars import InstrumentInfo
from algotrader.ports.stores import StoredInstrument


def add_instrument(settings: Settings, info: InstrumentInfo) -> bool:
    """Store ``info`` unless the symbol exists (then only its blank fields are filled).
    Returns True when it was created."""
    with open_stores(settings) as stores:
        return stores.instruments.ensure(info, "manual")


def list_instruments(settings: Settings) -> list[StoredInstrument]:
    """Every instrument with its stored bar counts per resolution."""
    with open_stores(settings) as stores:
        return stores.instruments.list()
