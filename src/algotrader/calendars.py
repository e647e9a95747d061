"""Exchange sessions: trading days, holidays and early closes, from ``exchange_calendars``.

The platform's one source of session knowledge: the TWS simulator, the synthetic provider and
IB-style durations (``"30 D"`` means 30 trading days, as IB counts them) ask here. The sessions
come from the maintained `exchange_calendars <https://github.com/gerrymanoim/exchange_calendars>`_
library (NYSE: holidays, special closures such as 2012-10-29, early closes at 13:00), from 1990
to about a year ahead; outside that span every weekday counts as a full session.

>>> from datetime import date
>>> nyse = exchange_sessions()
>>> nyse.is_session(date(2024, 11, 28)), nyse.regular_minutes(date(2024, 11, 29))
(False, 210)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

DEFAULT_EXCHANGE = "XNYS"
_FIRST = "1990-01-01"
_WEEKMASK = "1111100"
REGULAR_OPEN = time(9, 30)  # every NYSE session since 1990 opened at 09:30 New York time
FULL_SESSION_MINUTES = 390


@dataclass(frozen=True)
class ExchangeSessions:
    """The sessions of one exchange as numpy data (fast for vectorised bar generation).

    ``busdays`` is a ``numpy.busdaycalendar`` whose business days are the sessions (use it with
    ``np.is_busday``, ``np.busday_offset``, ``np.busday_count``). ``short_days`` are the sessions
    that close early and ``short_minutes`` how many minutes each lasts (sorted by day).
    """

    exchange: str
    timezone: str
    busdays: np.busdaycalendar
    short_days: np.ndarray
    short_minutes: np.ndarray

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_session(self, day: date) -> bool:
        """True when the exchange trades on ``day``."""
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self.busdays))

    def sessions(self, first: date, last: date) -> np.ndarray:
        """The session dates in ``[first, last]`` (``datetime64[D]``)."""
        lo, hi = np.datetime64(first, "D"), np.datetime64(last, "D")
        if hi < lo:
            return np.empty(0, dtype="datetime64[D]")
        days = np.arange(lo, hi + np.timedelta64(1, "D"), dtype="datetime64[D]")
        return days[np.is_busday(days, busdaycal=self.busdays)]

    def minutes_of(self, days: np.ndarray) -> np.ndarray:
        """Regular-session minutes of each session in ``days`` (390, or fewer on early closes)."""
        days = np.asarray(days, dtype="datetime64[D]")
        out = np.full(days.shape, FULL_SESSION_MINUTES, dtype=np.int64)
        if self.short_days.size and days.size:
            pos = np.searchsorted(self.short_days, days)
            pos = np.minimum(pos, self.short_days.size - 1)
            hit = self.short_days[pos] == days
            out[hit] = self.short_minutes[pos[hit]]
        return out

    def regular_minutes(self, day: date) -> int:
        """Regular-session minutes of ``day`` (0 when it is not a session)."""
        if not self.is_session(day):
            return 0
        return int(self.minutes_of(np.array([np.datetime64(day, "D")]))[0])

    def session_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """The regular session of ``day`` as (open, close) in UTC, or None on a closed day."""
        minutes = self.regular_minutes(day)
        if not minutes:
            return None
        opened = datetime.combine(day, REGULAR_OPEN, self.tz)
        return opened.astimezone(UTC), (opened + timedelta(minutes=minutes)).astimezone(UTC)

    def sessions_back(self, last: date, count: int) -> date:
        """The ``count``-th session counting back from ``last`` (itself the first, if a session)."""
        day = np.busday_offset(
            np.datetime64(last, "D"), -(max(count, 1) - 1), roll="backward", busdaycal=self.busdays
        )
        return pd.Timestamp(day).date()

    def last_session_opened(self, moment: datetime) -> date:
        """The latest session whose regular open is at or before ``moment``."""
        local = _aware(moment).astimezone(self.tz)
        day = local.date()
        if local.time() < REGULAR_OPEN:
            day -= timedelta(days=1)
        return self.sessions_back(day, 1)

    def trading_days_before(self, end: datetime, count: int) -> datetime:
        """Where ``count`` trading days back from ``end`` begin, as IB counts ``"N D"``: the
        local midnight of the ``count``-th latest session that had opened by ``end`` (in UTC).

        ``"1 D"`` on a Sunday is Friday's session; a holiday is not a trading day.
        """
        first = self.sessions_back(self.last_session_opened(end), count)
        return datetime.combine(first, time(0), self.tz).astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=4)
def exchange_sessions(exchange: str = DEFAULT_EXCHANGE) -> ExchangeSessions:
    """The sessions of ``exchange`` (an ``exchange_calendars`` code; NYSE by default)."""
    import exchange_calendars as xcals  # ~0.3 s to import: only when sessions are needed

    with warnings.catch_warnings():
        # exchange_calendars 4.x reads Series.values, which pandas 3.1 deprecates for tz data.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        calendar = xcals.get_calendar(exchange, start=_FIRST)
    schedule = calendar.schedule
    sessions = schedule.index.to_numpy().astype("datetime64[D]")
    weekdays = np.arange(sessions[0], sessions[-1] + np.timedelta64(1, "D"))
    weekdays = weekdays[np.is_busday(weekdays, weekmask=_WEEKMASK)]
    holidays = np.setdiff1d(weekdays, sessions)
    minutes = ((schedule["close"] - schedule["open"]).dt.total_seconds() // 60).to_numpy()
    short = minutes < FULL_SESSION_MINUTES
    return ExchangeSessions(
        exchange=exchange,
        timezone=str(calendar.tz),
        busdays=np.busdaycalendar(weekmask=_WEEKMASK, holidays=holidays),
        short_days=sessions[short],
        short_minutes=minutes[short].astype(np.int64),
    )
