"""The ``instruments`` table: what each symbol is, and which bars are stored for it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import func, select

from algotrader.db.engine import Database
from algotrader.db.models import Base, Instrument, MarketPrice
from algotrader.ports.bars import InstrumentInfo
from algotrader.ports.stores import StoredInstrument

_TABLE = Base.metadata.tables[Instrument.__tablename__]


class SqlInstrumentStore:
    """Reads and writes ``instruments``. Cheap to create; holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, info: InstrumentInfo, source: str | None = None) -> bool:
        """Insert the instrument if it is missing; fill in its blanks if it exists.

        Returns True when the row was created. Existing values are never overwritten: the first
        source to describe a field wins, so a later CSV cannot erase IB's contract id.
        """
        values: dict[str, Any] = {f.name: getattr(info, f.name) for f in fields(info)}
        values["symbol"] = info.symbol.upper()
        values["source"] = source
        with self.db.engine.begin() as conn:
            existing = (
                conn.execute(select(_TABLE).where(_TABLE.c.symbol == values["symbol"]))
                .mappings()
                .first()
            )
            if existing is None:
                insert = self.db.dialect.insert(_TABLE)
                stmt = insert.values(**values).on_conflict_do_nothing(index_elements=["symbol"])
                return bool(conn.execute(stmt).rowcount)
            blanks = {k: v for k, v in values.items() if v is not None and existing[k] is None}
            if blanks:
                conn.execute(
                    _TABLE.update().where(_TABLE.c.symbol == values["symbol"]).values(**blanks)
                )
            return False

    def get(self, symbol: str) -> InstrumentInfo | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.symbol == symbol)).mappings().first()
        return _info(row) if row is not None else None

    def list(self) -> list[StoredInstrument]:
        """Every instrument, by symbol, with its stored bar counts per resolution."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_TABLE).order_by(_TABLE.c.symbol)).mappings().all()
            counts = conn.execute(
                select(MarketPrice.symbol, MarketPrice.resolution, func.count()).group_by(
                    MarketPrice.symbol, MarketPrice.resolution
                )
            ).all()
        bars: dict[str, dict[str, int]] = {}
        for symbol, resolution, count in counts:
            bars.setdefault(symbol, {})[resolution] = int(count)
        return [StoredInstrument(_info(r), r["source"], bars.get(r["symbol"], {})) for r in rows]


def _info(row: Any) -> InstrumentInfo:
    return InstrumentInfo(**{f.name: row[f.name] for f in fields(InstrumentInfo)})
