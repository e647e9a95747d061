"""APScheduler triggers that follow an exchange calendar (``exchange_calendars``).

* :class:`AfterCloseTrigger` fires ``delay`` after every session's close: early closes (the day
  after Thanksgiving, July 3) and holidays come from the calendar, not from a cron line.
* :class:`InSessionTrigger` fires every ``every`` from the open (open + every, open + 2 every,
  ...) up to the close, and at the close when the session is not a whole number of periods,
  each ``delay`` later (so the bar that just ended is complete).

Regular hours only (pre- and post-market count as closed). Times are UTC. The calendars ship
their holiday rules in the package: upgrade ``exchange_calendars`` once a year.

(The platform-wide calendar helpers are planned for ``algotrader.calendars``; until they land,
the few lines needed here stay in the services package.)
"""

from __future__ import annotations

import difflib
import warnings
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from apscheduler.triggers.base import BaseTrigger

from algotrader.errors import InvalidInputError

_NS = 1_000_000_000


@lru_cache(maxsize=8)
def _sessions(calendar: str) -> tuple[np.ndarray, np.ndarray]:
    """Opens and closes of every session the calendar knows, as UTC nanoseconds."""
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 still reads tz-aware Series.values (deprecated in pandas 3).
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            cal = xcals.get_calendar(calendar)
    except xcals.errors.InvalidCalendarName:
        names = xcals.get_calendar_names(include_aliases=False)
        close = difflib.get_close_matches(calendar.upper(), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"unknown exchange calendar {calendar!r}", f"{hint}use an ISO MIC such as XNYS"
        ) from None
    return pd.DatetimeIndex(cal.opens).asi8, pd.DatetimeIndex(cal.closes).asi8


def check_calendar(calendar: str) -> None:
    """Raise one clear line when ``calendar`` is not a known exchange calendar."""
    _sessions(calendar)


def _ns(moment: datetime) -> int:
    return int(pd.Timestamp(moment).tz_convert(UTC).value)


def _utc(ns: int) -> datetime:
    return pd.Timestamp(ns, tz=UTC).to_pydatetime()


def _start(previous_fire_time: datetime | None, now: datetime) -> int:
    """Fire times at or after this instant qualify: strictly after the previous fire (missed
    ones included, APScheduler coalesces them), or from ``now`` for the first one."""
    if previous_fire_time is None:
        return _ns(now)
    return _ns(previous_fire_time) + 1000


def _beyond(calendar: str) -> InvalidInputError:
    return InvalidInputError(
        f"the {calendar} calendar has no sessions this far ahead",
        "upgrade exchange_calendars (its holiday rules ship with the package)",
    )


class AfterCloseTrigger(BaseTrigger):
    """Fires ``delay`` after each session's close."""

    __slots__ = ("calendar", "delay")

    def __init__(self, calendar: str, delay: timedelta) -> None:
        check_calendar(calendar)
        self.calendar = calendar
        self.delay = delay

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fires = _sessions(self.calendar)[1] + int(self.delay.total_seconds() * _NS)
        i = int(np.searchsorted(fires, _start(previous_fire_time, now), side="left"))
        if i == len(fires):
            raise _beyond(self.calendar)
        return _utc(int(fires[i]))

    def __str__(self) -> str:
        return f"{self.calendar} close + {self.delay}"


class InSessionTrigger(BaseTrigger):
    """Fires every ``every`` during each session (see the module docstring), ``delay`` late."""

    __slots__ = ("calendar", "delay", "every")

    def __init__(self, calendar: str, every: timedelta, delay: timedelta) -> None:
        check_calendar(calendar)
        if every <= timedelta(0):
            raise InvalidInputError("the refresh period must be positive", "e.g. --every 15")
        self.calendar = calendar
        self.every = every
        self.delay = delay

    def session_fires(self, open_ns: int, close_ns: int) -> np.ndarray:
        """The fire times of one session, without the delay."""
        step = int(self.every.total_seconds() * _NS)
        times = np.arange(open_ns + step, close_ns + 1, step, dtype=np.int64)
        if not len(times) or times[-1] != close_ns:
            times = np.append(times, np.int64(close_ns))
        return times

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        opens, closes = _sessions(self.calendar)
        delay = int(self.delay.total_seconds() * _NS)
        start = _start(previous_fire_time, now)
        # The first session whose last fire (at its close) is not before `start` has the answer.
        i = int(np.searchsorted(closes + delay, start, side="left"))
        if i == len(closes):
            raise _beyond(self.calendar)
        fires = self.session_fires(int(opens[i]), int(closes[i])) + delay
        return _utc(int(fires[np.searchsorted(fires, start, side="left")]))

    def __str__(self) -> str:
        return f"{self.calendar} every {self.every} in session + {self.delay}"
