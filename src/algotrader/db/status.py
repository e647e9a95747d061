"""Counts for monitoring (what a service's metrics scrape reads): jobs per kind and state, the
oldest queued job, orders per status, watched series per resolution."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text

from algotrader.db.engine import Database
from algotrader.db.models import Base, Job, Order, WatchlistEntry

_JOBS = Base.metadata.tables[Job.__tablename__]
_ORDERS = Base.metadata.tables[Order.__tablename__]
_WATCH = Base.metadata.tables[WatchlistEntry.__tablename__]


def ping(db: Database) -> None:
    """Raise when the database does not answer."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def jobs_by_kind_and_state(db: Database) -> dict[tuple[str, str], int]:
    query = select(_JOBS.c.kind, _JOBS.c.state, func.count()).group_by(
        _JOBS.c.kind, _JOBS.c.state
    )
    with db.engine.connect() as conn:
        return {(kind, state): int(n) for kind, state, n in conn.execute(query)}


def oldest_queued_job(db: Database) -> datetime | None:
    """When the oldest job still waiting to start was submitted."""
    query = select(func.min(_JOBS.c.created_at)).where(_JOBS.c.state == "queued")
    with db.engine.connect() as conn:
        return conn.execute(query).scalar()  # type: ignore[no-any-return]


def orders_by_status(db: Database) -> dict[str, int]:
    query = select(_ORDERS.c.status, func.count()).group_by(_ORDERS.c.status)
    with db.engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(query)}


def watchlist_by_resolution(db: Database) -> dict[str, int]:
    query = select(_WATCH.c.resolution, func.count()).group_by(_WATCH.c.resolution)
    with db.engine.connect() as conn:
        return {resolution: int(n) for resolution, n in conn.execute(query)}
