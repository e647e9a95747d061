"""Opening the stores of the configured database for the duration of one use case."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from algotrader.config import Settings
from algotrader.db.engine import Database, open_database
from algotrader.db.events import SqlEventStore
from algotrader.db.instruments import SqlInstrumentStore
from algotrader.db.runs import SqlRunStore
from algotrader.db.store import SqlBarStore
from algotrader.ports.runs import RunStore
from algotrader.ports.stores import BarStore, EventStore, InstrumentStore


@dataclass(frozen=True)
class Stores:
    """The stores of one open database, seen through their ports."""

    db: Database
    bars: BarStore
    runs: RunStore
    instruments: InstrumentStore
    events: EventStore


def stores_of(db: Database) -> Stores:
    """The stores of an open database (closing it stays the caller's job)."""
    return Stores(
        db=db,
        bars=SqlBarStore(db),
        runs=SqlRunStore(db),
        instruments=SqlInstrumentStore(db),
        events=SqlEventStore(db),
    )


@contextlib.contextmanager
def open_stores(settings: Settings | str) -> Iterator[Stores]:
    """Connect to the configured database (or a URL), migrating on first use; close the
    connections when the block ends."""
    db = open_database(settings)
    try:
        yield stores_of(db)
    finally:
        db.dispose()
