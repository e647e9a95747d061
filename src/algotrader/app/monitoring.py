"""What a running service reports about the platform's state: is the database there, how deep
and how old is the job queue, how many orders are in each status, how many series are watched.

A service opens one :class:`StatusReader` and reads it on every scrape of its metrics and every
``/healthz`` request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from algotrader.config import Settings
from algotrader.db import status
from algotrader.db.engine import Database, open_database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformStatus:
    """Counts read from the database at one moment."""

    jobs: dict[tuple[str, str], int]
    oldest_queued_age_seconds: float
    orders: dict[str, int]
    watchlist: dict[str, int]


class StatusReader:
    """Reads :class:`PlatformStatus` from one open database connection pool."""

    def __init__(self, settings: Settings) -> None:
        self._db: Database = open_database(settings)

    def healthy(self) -> tuple[bool, str]:
        """(True, "ok") when the database answers, else (False, the reason)."""
        try:
            status.ping(self._db)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()
            return False, reason[0] if reason else type(exc).__name__
        return True, "ok"

    def read(self) -> PlatformStatus | None:
        """The counts now, or None when the database does not answer."""
        try:
            return self._read()
        except SQLAlchemyError as exc:
            log.warning("status: the database did not answer (%s)", type(exc).__name__)
            return None

    def _read(self) -> PlatformStatus:
        oldest = status.oldest_queued_job(self._db)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        return PlatformStatus(
            jobs=status.jobs_by_kind_and_state(self._db),
            oldest_queued_age_seconds=max(0.0, age),
            orders=status.orders_by_status(self._db),
            watchlist=status.watchlist_by_resolution(self._db),
        )

    def close(self) -> None:
        self._db.dispose()
