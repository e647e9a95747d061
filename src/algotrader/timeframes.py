"""Resolutions ("1m" .. "1w") and durations ("5 Y", "30 D"): parse, validate, map to IB.

>>> parse_resolution("1h").ib_bar_size
'1 hour'
>>> parse_duration("5 Y").ib_str
'5 Y'
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.symbols import shorten

# The instants algotrader can hold: pandas' nanosecond timestamps (1677-09-21 .. 2262-04-11),
# with a margin so that rounding a bar to its day or week never leaves the range.
EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Resolution:
    """A bar size. ``name`` is what users type and what is stored in ``market_prices``."""

    name: str
    seconds: int
    ib_bar_size: str
    pandas_freq: str

    @property
    def is_intraday(self) -> bool:
        return self.seconds < 86_400

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return self.name


RESOLUTIONS: dict[str, Resolution] = {
    r.name: r
    for r in (
        Resolution("1m", 60, "1 min", "1min"),
        Resolution("5m", 300, "5 mins", "5min"),
        Resolution("15m", 900, "15 mins", "15min"),
        Resolution("30m", 1800, "30 mins", "30min"),
        Resolution("1h", 3600, "1 hour", "1h"),
        Resolution("1d", 86_400, "1 day", "1D"),
        Resolution("1w", 604_800, "1 week", "W-MON"),
    )
}

_RESOLUTION_ALIASES = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "1hour": "1h",
    "1day": "1d",
    "d": "1d",
    "1week": "1w",
    "w": "1w",
}


# IB's own barSizeSetting strings ("5 mins") name the same resolutions.
_IB_BAR_SIZES = {r.ib_bar_size.replace(" ", ""): r.name for r in RESOLUTIONS.values()}


def parse_resolution(text: str) -> Resolution:
    """``"1d"`` -> :class:`Resolution`; an unknown one raises with the closest valid names."""
    key = str(text).strip().lower().replace(" ", "")
    key = _RESOLUTION_ALIASES.get(key, key)
    key = _IB_BAR_SIZES.get(key, key)
    if key in RESOLUTIONS:
        return RESOLUTIONS[key]
    close = difflib.get_close_matches(key, list(RESOLUTIONS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InvalidInputError(
        f"unknown resolution {shorten(str(text))!r}", f"{hint}use one of {', '.join(RESOLUTIONS)}"
    )


_DURATION_RE = re.compile(r"^\s*([0-9]{1,10})\s*([SDWMY])\s*$", re.ASCII)
_UNIT_NAMES = {"S": "seconds", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


@dataclass(frozen=True, slots=True)
class Duration:
    """An IB-style look-back: ``count`` units of S(econds), D(ays), W(eeks), M(onths), Y(ears).

    As with IB, ``D`` counts trading days (exchange sessions, see :mod:`algotrader.calendars`);
    the other units are calendar spans.
    """

    count: int
    unit: str

    @property
    def ib_str(self) -> str:
        return f"{self.count} {self.unit}"

    def __str__(self) -> str:
        return self.ib_str

    def start_before(self, end: datetime) -> datetime:
        """The instant this duration before ``end`` (calendar months and years; ``D``: the
        local midnight starting the ``count``-th latest session that had opened by ``end``)."""
        start: datetime | None
        if self.unit == "D":
            start = _trading_days_before(end, self.count)
        else:
            offset = {
                "S": pd.DateOffset(seconds=self.count),
                "W": pd.DateOffset(weeks=self.count),
                "M": pd.DateOffset(months=self.count),
                "Y": pd.DateOffset(years=self.count),
            }[self.unit]
            try:
                start = (pd.Timestamp(end) - offset).to_pydatetime()
            except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
                start = None
        if start is None or _as_utc(start) < EARLIEST:
            raise InvalidInputError(
                f"duration {self.ib_str!r} reaches back before {EARLIEST:%Y-%m-%d}, the earliest "
                "date algotrader supports",
                "use a shorter duration",
            )
        return start

    @property
    def approx_seconds(self) -> float:
        per = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 30.4375 * 86_400, "Y": 365.25 * 86_400}
        return self.count * per[self.unit]


def _trading_days_before(end: datetime, count: int) -> datetime:
    from algotrader.calendars import exchange_sessions

    aware = end if end.tzinfo is not None else end.replace(tzinfo=UTC)
    try:
        start = exchange_sessions().trading_days_before(aware, count)
    except (OverflowError, ValueError, NotImplementedError, pd.errors.OutOfBoundsDatetime):
        raise InvalidInputError(
            f"duration {count} D reaches before year 1", "use a shorter duration"
        ) from None
    return start if end.tzinfo is not None else start.replace(tzinfo=None)


def parse_duration(text: str) -> Duration:
    """``"5 Y"`` -> :class:`Duration`. Units are IB's: S, D, W, M, Y (``"5 Years"`` is refused)."""
    match = _DURATION_RE.match(str(text).upper()) if len(str(text)) < 40 else None
    if not match or int(match.group(1)) <= 0:
        raise InvalidInputError(
            f"invalid duration {shorten(str(text))!r}",
            'use "<count> <unit>" with unit S, D, W, M or Y, e.g. "5 Y", "30 D" or "6 M"',
        )
    return Duration(int(match.group(1)), match.group(2))


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_instant(moment: datetime | pd.Timestamp, what: str) -> datetime:
    """``moment`` (naive = UTC) as a UTC datetime, refused when algotrader cannot hold it."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    if not pd.Timestamp(EARLIEST) <= stamp <= pd.Timestamp(LATEST):
        raise InvalidInputError(
            f"{what} {stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d} is outside the dates "
            "algotrader supports",
            f"give a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}",
        )
    return stamp.to_pydatetime()


def parse_instant(text: str, what: str) -> datetime:
    """``"2024-01-31"`` or an ISO datetime (naive = UTC) -> a UTC datetime, e.g. for --start.

    >>> parse_instant("2024-01-31T15:30:00-05:00", "--start").isoformat()
    '2024-01-31T20:30:00+00:00'
    """
    try:
        stamp = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError, OverflowError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise InvalidInputError(
            f"invalid {what} {shorten(str(text))!r}",
            "use an ISO date or datetime such as 2024-01-31 or 2024-01-31T15:30:00Z",
        )
    return check_instant(stamp, what)


# IB's "step size" table (historical_limitations): the longest durationStr each bar size accepts
# in one request. Daily and weekly bars accept any number of years.
IB_MAX_DURATION: dict[str, Duration] = {
    "1 min": Duration(1, "W"),
    "5 mins": Duration(1, "M"),
    "15 mins": Duration(1, "M"),
    "30 mins": Duration(1, "M"),
    "1 hour": Duration(1, "M"),
    "1 day": Duration(30, "Y"),
    "1 week": Duration(30, "Y"),
}
