"""Opening the stores of the configured database for the duration of one use case."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from algotrader.config import Settings
from algotrader.db.engine import Database, open_database
from algotrader.db.events import SqlEventStore
from algotrader.db.instruments import SqlInstrumentStore
from algotrader.db.ml_models import SqlModelStore
from algotrader.db.orders import SqlOrderLog
from algotrader.db.runs import SqlRunStore
from algotrader.db.store import SqlBarStore
from algotrader.db.trading import SqlTradingStore
from algotrader.ports.orders import OrderLog
from algotrader.ports.runs import RunStore
from algotrader.ports.stores import BarStore, EventStore, InstrumentStore, ModelStore
from algotrader.ports.trading_state import TradingStore

_DEFAULT_DATA_DIR = Settings.model_fields["data_dir"].default


@dataclass(frozen=True)
class Stores:
    """The stores of one open database, seen through their ports."""

    db: Database
    bars: BarStore
    runs: RunStore
    instruments: InstrumentStore
    events: EventStore
    models: ModelStore
    orders: OrderLog
    trading: TradingStore


def stores_of(db: Database, data_dir: Path | None = None) -> Stores:
    """The stores of an open database (closing it stays the caller's job); model artefacts live
    under ``data_dir`` (default: the default data directory)."""
    return Stores(
        db=db,
        bars=SqlBarStore(db),
        runs=SqlRunStore(db),
        instruments=SqlInstrumentStore(db),
        events=SqlEventStore(db),
        models=SqlModelStore(db, data_dir if data_dir is not None else _DEFAULT_DATA_DIR),
        orders=SqlOrderLog(db),
        trading=SqlTradingStore(db),
    )


@contextlib.contextmanager
def open_stores(settings: Settings | str) -> Iterator[Stores]:
    """Connect to the configured database (or a URL), migrating on first use; close the
    connections when the block ends."""
    db = open_database(settings)
    try:
        yield stores_of(db, settings.data_dir if isinstance(settings, Settings) else None)
    finally:
        db.dispose()
