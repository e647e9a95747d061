"""``market_events``, ``symbol_events`` and ``external_signals``: idempotent upserts by key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, and_, select, tuple_

from algotrader.db.engine import Database
from algotrader.db.models import Base, ExternalSignal, MarketEvent, SymbolEvent
from algotrader.ports.stores import UpsertReport

# Each table's natural key: a re-import of the same row updates it instead of adding another.
_KEYS: dict[str, tuple[Table, tuple[str, ...]]] = {
    "market_events": (
        Base.metadata.tables[MarketEvent.__tablename__],
        ("source", "kind", "name", "ts"),
    ),
    "symbol_events": (
        Base.metadata.tables[SymbolEvent.__tablename__],
        ("symbol", "source", "kind", "name", "ts"),
    ),
    "external_signals": (
        Base.metadata.tables[ExternalSignal.__tablename__],
        ("symbol", "source", "name", "ts"),
    ),
}


class SqlEventStore:
    """Events and external signals in the database. Cheap to create; holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, table_name: str, records: list[dict[str, Any]]) -> UpsertReport:
        """Insert new rows and update changed ones of ``table_name``, in one transaction."""
        table, keys = _KEYS[table_name]
        if not records:
            return UpsertReport(table_name, 0, 0, 0)
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for record in records:
            latest[tuple(record[k] for k in keys)] = record  # a later duplicate row wins
        inserted = updated = 0
        with self.db.engine.begin() as conn:
            existing = _existing(conn, table, keys, list(latest))
            key_cols = [table.c[k] for k in keys]
            for key, record in latest.items():
                row = existing.get(key)
                if row is None:
                    conn.execute(table.insert().values(**record))
                    inserted += 1
                elif any(row[c] != record[c] for c in record):
                    match = and_(*(c == v for c, v in zip(key_cols, key, strict=True)))
                    conn.execute(table.update().where(match).values(**record))
                    updated += 1
        return UpsertReport(table_name, inserted, updated, len(latest) - inserted - updated)


def _existing(
    conn: Any, table: Table, keys: tuple[str, ...], wanted: list[tuple[Any, ...]]
) -> dict[tuple[Any, ...], Any]:
    key_cols = [table.c[k] for k in keys]
    found: dict[tuple[Any, ...], Any] = {}
    for lo in range(0, len(wanted), 500):
        batch = wanted[lo : lo + 500]
        for row in conn.execute(select(table).where(tuple_(*key_cols).in_(batch))).mappings():
            found[tuple(row[k] for k in keys)] = row
    return found
