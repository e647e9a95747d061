"""The ``universes`` table behind :class:`~algotrader.ports.universes.UniverseStore`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from algotrader.db.engine import Database
from algotrader.db.models import Base, UniverseList
from algotrader.ports.universes import Universe

_LISTS = Base.metadata.tables[UniverseList.__tablename__]


def _universe(row: RowMapping) -> Universe:
    return Universe(row["name"], tuple(row["symbols"]), row["created_at"], row["updated_at"])


class SqlUniverseStore:
    """Named symbol lists in the database (SQLite or PostgreSQL). Cheap to create."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, name: str, symbols: tuple[str, ...], at: datetime) -> bool:
        values = {"symbols": list(symbols), "updated_at": at}
        replace = update(_LISTS).where(_LISTS.c.name == name).values(**values)
        with self.db.engine.begin() as conn:
            if conn.execute(replace).rowcount:
                return False
        try:
            with self.db.engine.begin() as conn:
                conn.execute(_LISTS.insert().values(name=name, created_at=at, **values))
        except IntegrityError:  # created meanwhile by another process: replace it instead
            with self.db.engine.begin() as conn:
                conn.execute(replace)
            return False
        return True

    def get(self, name: str) -> Universe | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_LISTS).where(_LISTS.c.name == name)).mappings().first()
        return _universe(row) if row is not None else None

    def all(self) -> list[Universe]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_LISTS).order_by(_LISTS.c.name)).mappings()
            return [_universe(r) for r in rows]

    def delete(self, name: str) -> bool:
        with self.db.engine.begin() as conn:
            return bool(conn.execute(delete(_LISTS).where(_LISTS.c.name == name)).rowcount)
