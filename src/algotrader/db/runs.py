"""The ``backtest_runs`` table behind the :class:`~algotrader.ports.runs.RunStore` port."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import select

from algotrader.db.engine import Database
from algotrader.db.models import BacktestRun, Base
from algotrader.errors import DataNotFoundError
from algotrader.ports.runs import RunRecord

_TABLE = Base.metadata.tables[BacktestRun.__tablename__]
_COLUMNS = tuple(f.name for f in fields(RunRecord))


class SqlRunStore:
    """Backtest runs in the database. Cheap to create; holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, record: RunRecord) -> int:
        values = {k: getattr(record, k) for k in _COLUMNS if k not in ("id", "created_at")}
        with self.db.engine.begin() as conn:
            key = conn.execute(_TABLE.insert().values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def get(self, run_id: int) -> RunRecord:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.id == run_id)).mappings().first()
        if row is None:
            raise DataNotFoundError(
                f"no backtest run with id {run_id}", "see `algotrader runs list` for the ids"
            )
        return _record(row)

    def latest(self, limit: int = 50) -> list[RunRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_TABLE).order_by(_TABLE.c.id.desc()).limit(limit)).mappings()
            return [_record(r) for r in rows]


def _record(row: object) -> RunRecord:
    return RunRecord(**{k: row[k] for k in _COLUMNS})  # type: ignore[index]
