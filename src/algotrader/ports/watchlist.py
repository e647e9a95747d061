"""The watchlist the scheduler keeps fresh, and the bookkeeping of its refresh runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class WatchEntry:
    """One watched series and how its refreshes went (``failures``: failed in a row)."""

    symbol: str
    resolution: str
    source: str | None
    history: str
    added_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_bar_ts: datetime | None = None
    failures: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class SeriesOutcome:
    """How the refresh of one watched series went."""

    symbol: str
    resolution: str
    attempted_at: datetime
    ok: bool
    last_bar_ts: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class RefreshRecord:
    """One refresh run of one resolution: planned time, attempt (0 = the scheduled run, n = the
    n-th retry), outcome (``running`` until it ends) and counts."""

    resolution: str
    scheduled_for: datetime
    attempt: int
    catch_up: bool
    started_at: datetime
    outcome: str
    finished_at: datetime | None = None
    series: int = 0
    failed: int = 0
    bars_fetched: int = 0
    bars_stored: int = 0
    error: str | None = None
    id: int | None = None


class WatchlistStore(Protocol):
    def add(self, entries: list[WatchEntry]) -> list[bool]:
        """Add entries (an existing one gets the new source and history); True for new ones."""
        ...

    def remove(self, symbol: str, resolutions: list[str] | None) -> int:
        """Remove a symbol's entries (all, or those resolutions); returns how many went."""
        ...

    def entries(self, resolution: str | None = None) -> list[WatchEntry]: ...

    def record(self, outcome: SeriesOutcome) -> None:
        """Note a series' refresh outcome on its entry (if it is still watched)."""
        ...

    def claim(
        self, resolution: str, scheduled_for: datetime, attempt: int, *, catch_up: bool,
        started_at: datetime,
    ) -> int | None:
        """Start the run (resolution, scheduled_for, attempt): its id, or None when that run was
        already claimed (it ran, or is running, elsewhere)."""
        ...

    def finish(self, run: RefreshRecord) -> None:
        """Store the outcome and counts of claimed run ``run.id``."""
        ...

    def last_scheduled(self, resolution: str) -> datetime | None:
        """The planned time of the latest scheduled run (attempt 0) of ``resolution``."""
        ...

    def runs(self, resolution: str | None = None, limit: int = 50) -> list[RefreshRecord]:
        """The latest runs, newest planned time first."""
        ...
