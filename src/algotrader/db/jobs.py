"""The ``jobs`` table behind the :class:`~algotrader.ports.jobs.JobStore` port.

Exactly once: an attempt runs inside one transaction that first locks the job's row
(``SELECT ... FOR UPDATE``); the backtest runs it stores and the job's result are written on that
transaction and committed together. A worker killed mid-job leaves nothing behind (its
transaction dies with its connection), so the job can simply run again; a second attempt at a job
that has already succeeded finds it finished and does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping

from algotrader.db.engine import Database
from algotrader.db.models import BacktestRun, Base, Job
from algotrader.db.queue import ProcrastinateQueue
from algotrader.db.runs import SqlRunStore
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.jobs import FINAL_STATES, JobRecord, JobState
from algotrader.ports.runs import RunRecord

_JOBS = Base.metadata.tables[Job.__tablename__]
_RUNS = Base.metadata.tables[BacktestRun.__tablename__]
_RUN_COLUMNS = tuple(f.name for f in fields(RunRecord) if f.name not in ("id", "created_at"))
_OPEN = ("queued", "running")


def _now() -> datetime:
    return datetime.now(UTC)


def _record(row: RowMapping) -> JobRecord:
    return JobRecord(
        id=int(row["id"]),
        kind=row["kind"],
        payload=dict(row["payload"] or {}),
        state=row["state"],
        attempts=int(row["attempts"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker=row["worker"],
        result=row["result"],
        error=row["error"],
        queue_id=row["queue_id"],
    )


@dataclass
class _Attempt:
    """The job's row locked on ``conn``; :meth:`succeed` records the result on it."""

    job_id: int
    conn: Connection
    db: Database
    runs: SqlRunStore = field(init=False)

    def __post_init__(self) -> None:
        self.runs = SqlRunStore(self.db, self.conn)

    def succeed(self, result: dict[str, Any]) -> None:
        self.conn.execute(
            update(_JOBS)
            .where(_JOBS.c.id == self.job_id)
            .values(state="succeeded", result=result, error=None, finished_at=_now())
        )


class SqlJobStore:
    """Jobs in PostgreSQL, queued through procrastinate. Cheap to create; holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue = ProcrastinateQueue(db)

    def submit(self, kind: str, payload: dict[str, Any]) -> JobRecord:
        with self.db.engine.begin() as conn:
            values = {"kind": kind, "payload": payload, "state": "queued", "attempts": 0}
            key = conn.execute(_JOBS.insert().values(created_at=_now(), **values))
            job_id = int(key.inserted_primary_key[0])  # type: ignore[index]
            queue_id = self.queue.enqueue(job_id, conn)
            conn.execute(update(_JOBS).where(_JOBS.c.id == job_id).values(queue_id=queue_id))
        return self.get(job_id)

    def get(self, job_id: int) -> JobRecord:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_JOBS).where(_JOBS.c.id == job_id)).mappings().first()
        if row is None:
            raise DataNotFoundError(f"no job with id {job_id}", "see `algotrader jobs list`")
        return _record(row)

    def latest(self, limit: int = 50, state: str | None = None) -> list[JobRecord]:
        query = select(_JOBS).order_by(_JOBS.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(_JOBS.c.state == state)
        with self.db.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def start(self, job_id: int, worker: str) -> JobRecord | None:
        with self.db.engine.begin() as conn:
            changed = conn.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.state.in_(_OPEN))
                .values(
                    state="running",
                    attempts=_JOBS.c.attempts + 1,
                    worker=worker,
                    started_at=_now(),
                )
            ).rowcount
        return self.get(job_id) if changed else None

    @contextlib.contextmanager
    def attempt(self, job_id: int) -> Iterator[_Attempt | None]:
        with self.db.engine.begin() as conn:
            state = conn.execute(
                select(_JOBS.c.state).where(_JOBS.c.id == job_id).with_for_update()
            ).scalar()
            yield (
                None if state is None or state in FINAL_STATES else _Attempt(job_id, conn, self.db)
            )

    def finish(self, job_id: int, state: JobState, error: str | None) -> None:
        finished = None if state == "queued" else _now()
        with self.db.engine.begin() as conn:
            conn.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.state.in_(_OPEN))
                .values(state=state, error=error, finished_at=finished)
            )

    def cancel(self, job_id: int) -> JobRecord:
        with self.db.engine.begin() as conn:
            row = (
                conn.execute(select(_JOBS).where(_JOBS.c.id == job_id).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                raise DataNotFoundError(f"no job with id {job_id}", "see `algotrader jobs list`")
            if row["state"] in FINAL_STATES:
                raise InvalidInputError(
                    f"job {job_id} has already {row['state']}", "there is nothing to cancel"
                )
            removed = row["queue_id"] is not None and self.queue.cancel(row["queue_id"], conn)
            if removed or row["state"] == "queued":
                conn.execute(
                    update(_JOBS)
                    .where(_JOBS.c.id == job_id)
                    .values(state="cancelled", finished_at=_now(), error="cancelled by the user")
                )
        return self.get(job_id)
