"""Time as the scheduler sees it: the system clock, or a fake one a test drives.

The scheduler never sleeps by itself: it asks its clock to wait (until a deadline or until it
is woken up), so a test can hand it a clock that jumps ahead instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time (timezone-aware, UTC)."""
        ...

    def wait(self, wakeup: threading.Event, seconds: float | None) -> None:
        """Return after ``seconds`` (None: indefinitely) or as soon as ``wakeup`` is set."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, wakeup: threading.Event, seconds: float | None) -> None:
        wakeup.wait(seconds)
