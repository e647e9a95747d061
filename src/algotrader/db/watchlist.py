"""The ``watchlist`` and ``refresh_runs`` tables behind
:class:`~algotrader.ports.watchlist.WatchlistStore`."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from algotrader.db.engine import Database
from algotrader.db.models import Base, RefreshRun, WatchlistEntry
from algotrader.ports.watchlist import RefreshRecord, SeriesOutcome, WatchEntry

_WATCH = Base.metadata.tables[WatchlistEntry.__tablename__]
_RUNS = Base.metadata.tables[RefreshRun.__tablename__]
_ENTRY_FIELDS = tuple(f.name for f in fields(WatchEntry))
_RUN_FIELDS = tuple(f.name for f in fields(RefreshRecord))


def _entry(row: RowMapping) -> WatchEntry:
    return WatchEntry(**{k: row[k] for k in _ENTRY_FIELDS})


def _run(row: RowMapping) -> RefreshRecord:
    return RefreshRecord(**{k: row[k] for k in _RUN_FIELDS})


class SqlWatchlistStore:
    """The watchlist in the database (SQLite or PostgreSQL). Cheap to create."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, entries: list[WatchEntry]) -> list[bool]:
        added = []
        with self.db.engine.begin() as conn:
            for entry in entries:
                key = (_WATCH.c.symbol == entry.symbol, _WATCH.c.resolution == entry.resolution)
                changed = conn.execute(
                    update(_WATCH).where(*key).values(source=entry.source, history=entry.history)
                ).rowcount
                if not changed:
                    conn.execute(
                        _WATCH.insert().values(
                            symbol=entry.symbol,
                            resolution=entry.resolution,
                            source=entry.source,
                            history=entry.history,
                            added_at=entry.added_at,
                            failures=0,
                        )
                    )
                added.append(not changed)
        return added

    def remove(self, symbol: str, resolutions: list[str] | None) -> int:
        query = delete(_WATCH).where(_WATCH.c.symbol == symbol)
        if resolutions is not None:
            query = query.where(_WATCH.c.resolution.in_(resolutions))
        with self.db.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    def entries(self, resolution: str | None = None) -> list[WatchEntry]:
        query = select(_WATCH).order_by(_WATCH.c.symbol, _WATCH.c.resolution)
        if resolution is not None:
            query = query.where(_WATCH.c.resolution == resolution)
        with self.db.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query).mappings()]

    def record(self, outcome: SeriesOutcome) -> None:
        key = (_WATCH.c.symbol == outcome.symbol, _WATCH.c.resolution == outcome.resolution)
        values: dict[str, Any]
        if outcome.ok:
            values = {
                "last_attempt_at": outcome.attempted_at,
                "last_success_at": outcome.attempted_at,
                "last_bar_ts": outcome.last_bar_ts,
                "failures": 0,
                "last_error": None,
            }
        else:
            values = {
                "last_attempt_at": outcome.attempted_at,
                "failures": _WATCH.c.failures + 1,
                "last_error": outcome.error,
            }
        with self.db.engine.begin() as conn:
            conn.execute(update(_WATCH).where(*key).values(**values))

    def claim(
        self,
        resolution: str,
        scheduled_for: datetime,
        attempt: int,
        *,
        catch_up: bool,
        started_at: datetime,
    ) -> int | None:
        row = {
            "resolution": resolution,
            "scheduled_for": scheduled_for,
            "attempt": attempt,
            "catch_up": catch_up,
            "started_at": started_at,
            "outcome": "running",
            "series": 0,
            "failed": 0,
            "bars_fetched": 0,
            "bars_stored": 0,
        }
        try:
            with self.db.engine.begin() as conn:
                key = conn.execute(_RUNS.insert().values(**row)).inserted_primary_key
        except IntegrityError:
            return None  # the unique (resolution, scheduled_for, attempt): claimed already
        assert key is not None
        return int(key[0])

    def finish(self, run: RefreshRecord) -> None:
        assert run.id is not None
        values = {k: getattr(run, k) for k in _RUN_FIELDS if k != "id"}
        with self.db.engine.begin() as conn:
            conn.execute(update(_RUNS).where(_RUNS.c.id == run.id).values(**values))

    def last_scheduled(self, resolution: str) -> datetime | None:
        query = select(func.max(_RUNS.c.scheduled_for)).where(
            _RUNS.c.resolution == resolution, _RUNS.c.attempt == 0
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar()  # type: ignore[no-any-return]

    def runs(self, resolution: str | None = None, limit: int = 50) -> list[RefreshRecord]:
        query = select(_RUNS).order_by(_RUNS.c.scheduled_for.desc(), _RUNS.c.attempt.desc())
        if resolution is not None:
            query = query.where(_RUNS.c.resolution == resolution)
        with self.db.engine.connect() as conn:
            return [_run(r) for r in conn.execute(query.limit(limit)).mappings()]
