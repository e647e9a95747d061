"""``backtest_runs`` and ``studies`` behind the :class:`~algotrader.ports.runs.RunStore` port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from algotrader.db.engine import Database
from algotrader.db.models import BacktestRun, Base, Study
from algotrader.errors import DataNotFoundError
from algotrader.ports.runs import RunRecord, StudyRecord

_RUNS = Base.metadata.tables[BacktestRun.__tablename__]
_STUDIES = Base.metadata.tables[Study.__tablename__]
_RUN_COLUMNS = tuple(f.name for f in fields(RunRecord))
_STUDY_COLUMNS = tuple(f.name for f in fields(StudyRecord))
_ASSIGNED = ("id", "created_at")


class SqlRunStore:
    """Runs and studies in the database. Cheap to create; holds no connection, unless it is
    given one: then every read and write happens in that connection's transaction (a job's
    attempt stores its runs together with its result, or not at all)."""

    def __init__(self, db: Database, conn: Connection | None = None) -> None:
        self.db = db
        self._conn = conn

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self.db.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self.db.engine.connect() as conn:
            yield conn

    def add(self, record: RunRecord) -> int:
        with self._begin() as conn:
            return _insert_run(conn, record)

    def get(self, run_id: int) -> RunRecord:
        with self._connect() as conn:
            row = conn.execute(select(_RUNS).where(_RUNS.c.id == run_id)).mappings().first()
        if row is None:
            raise DataNotFoundError(
                f"no backtest run with id {run_id}", "see `algotrader runs list` for the ids"
            )
        return _run(row)

    def latest(self, limit: int = 50, *, kinds: tuple[str, ...] | None = None) -> list[RunRecord]:
        query = select(_RUNS).order_by(_RUNS.c.id.desc()).limit(limit)
        if kinds is not None:
            query = query.where(_RUNS.c.kind.in_(kinds))
        with self._connect() as conn:
            return [_run(r) for r in conn.execute(query).mappings()]

    def add_study(
        self, study: StudyRecord, points: list[RunRecord], best: int | None
    ) -> tuple[int, list[int]]:
        values = {k: getattr(study, k) for k in _STUDY_COLUMNS if k not in _ASSIGNED}
        with self._begin() as conn:
            key = conn.execute(_STUDIES.insert().values(**values)).inserted_primary_key
            assert key is not None
            study_id = int(key[0])
            ids = [_insert_run(conn, point, study_id=study_id) for point in points]
            if best is not None:
                conn.execute(
                    _STUDIES.update().where(_STUDIES.c.id == study_id).values(best_run_id=ids[best])
                )
        return study_id, ids

    def get_study(self, study_id: int) -> StudyRecord:
        with self._connect() as conn:
            row = conn.execute(select(_STUDIES).where(_STUDIES.c.id == study_id)).mappings().first()
        if row is None:
            raise DataNotFoundError(
                f"no study with id {study_id}", "see `algotrader studies list` for the ids"
            )
        return StudyRecord(**{k: row[k] for k in _STUDY_COLUMNS})

    def studies(self, limit: int = 50) -> list[StudyRecord]:
        query = select(_STUDIES).order_by(_STUDIES.c.id.desc()).limit(limit)
        with self._connect() as conn:
            return [
                StudyRecord(**{k: r[k] for k in _STUDY_COLUMNS})
                for r in conn.execute(query).mappings()
            ]


def _insert_run(conn: Connection, record: RunRecord, *, study_id: int | None = None) -> int:
    values: dict[str, Any] = {k: getattr(record, k) for k in _RUN_COLUMNS if k not in _ASSIGNED}
    if study_id is not None:
        values["study_id"] = study_id
    key = conn.execute(_RUNS.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _run(row: Any) -> RunRecord:
    return RunRecord(**{k: row[k] for k in _RUN_COLUMNS})
