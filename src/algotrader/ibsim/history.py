"""Historical-bar requests as TWS interprets them: end time, duration, bar size, wire format.

The bars themselves come from a :class:`BarProvider` (the synthetic provider by default); this
module only turns a ``reqHistoricalData`` request into a provider window and the provider's frame
into ``historicalData`` bar fields, with IB's error codes and texts for bad requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from algotrader.calendars import exchange_sessions
from algotrader.errors import InvalidInputError
from algotrader.timeframes import (
    IB_MAX_DURATION,
    RESOLUTIONS,
    Duration,
    Resolution,
    parse_duration,
)

HMDS = "Historical Market Data Service error message:"

# Every bar size TWS accepts; only those with a Resolution are simulated.
IB_BAR_SIZES: tuple[str, ...] = (
    "1 secs", "5 secs", "10 secs", "15 secs", "30 secs", "1 min", "2 mins", "3 mins", "5 mins",
    "10 mins", "15 mins", "20 mins", "30 mins", "1 hour", "2 hours", "3 hours", "4 hours",
    "8 hours", "1 day", "1 week", "1 month",
)
_BY_BAR_SIZE: dict[str, Resolution] = {r.ib_bar_size: r for r in RESOLUTIONS.values()}

SUPPORTED_WHAT_TO_SHOW: tuple[str, ...] = ("TRADES", "MIDPOINT")
_IB_WHAT_TO_SHOW: frozenset[str] = frozenset({
    "TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST", "HISTORICAL_VOLATILITY",
    "OPTION_IMPLIED_VOLATILITY", "REBATE_RATE", "FEE_RATE", "YIELD_BID", "YIELD_ASK",
    "YIELD_BID_ASK", "YIELD_LAST", "SCHEDULE", "AGGTRADES",
})
_WHAT_LABEL = {"TRADES": "Trades", "MIDPOINT": "Midpoint"}

_END_UTC_DASH = re.compile(r"^(\d{8})-(\d{2}:\d{2}:\d{2})$")
_END_SPACED = re.compile(r"^(\d{8}) +(\d{2}:\d{2}:\d{2})(?: +(\S+))?$")

INVALID_END_TEXT = (
    "End Date/Time: The date, time, or time-zone entered is invalid. The correct format is "
    "yyyymmdd hh:mm:ss xx/xxxx where yyyymmdd and xx/xxxx are optional. E.g.: 20031126 15:59:00 "
    "US/Eastern  Note that there is a space between the date and time, and between the time and "
    "time-zone.  If no date is specified, current date is assumed. If no time-zone is specified, "
    "local time-zone is assumed(deprecated).  You can also provide yyyymmddd-hh:mm:ss time is in "
    "UTC. Note that there is a dash between the date and time in UTC notation."
)
MISSING_TZ_WARNING = (
    "Warning: You submitted request with date-time attributes without explicit time zone. "
    "Please switch to use yyyymmdd-hh:mm:ss in UTC or use instrument time zone, like US/Eastern. "
    "Implied time zone functionality will be removed in the next API release"
)


class BarProvider(Protocol):
    """Where bars come from: ``algotrader.data.providers.synthetic.SyntheticProvider`` fits.

    ``use_rth=False`` asks for the extended hours too (``useRTH=0``)."""

    def fetch_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime,
        *, use_rth: bool = True,
    ) -> pd.DataFrame: ...

    def head_timestamp(self, symbol: str) -> datetime: ...


class RequestRejected(Exception):
    """TWS would answer the request with this error (code and text) instead of data."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


@dataclass(frozen=True, slots=True)
class EndTime:
    """The parsed ``endDateTime``: the instant, and whether TWS would warn (2174) about no zone."""

    at: datetime
    zone_missing: bool = False


def parse_end(text: str, now: datetime, login_tz: ZoneInfo) -> EndTime:
    """``''`` (now), ``yyyymmdd-hh:mm:ss`` (UTC) or ``yyyymmdd hh:mm:ss [zone]`` -> UTC instant.

    Without a zone TWS assumes its login time zone and warns with 2174; later TWS versions refuse
    it, so clients should always send a zone. The result is capped at ``now`` (IB has no future).
    """
    text = text.strip()
    if not text:
        return EndTime(now)
    zone_missing = False
    if m := _END_UTC_DASH.match(text):
        day, clock, tz = m.group(1), m.group(2), ZoneInfo("UTC")
    elif m := _END_SPACED.match(text):
        day, clock = m.group(1), m.group(2)
        if m.group(3):
            try:
                tz = ZoneInfo(m.group(3))
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise RequestRejected(10314, INVALID_END_TEXT) from exc
        else:
            tz, zone_missing = login_tz, True
    else:
        raise RequestRejected(10314, INVALID_END_TEXT)
    try:
        # Parsed as UTC only to satisfy strptime; the wall-clock fields are then put in `tz`.
        local = datetime.strptime(day + clock + "+0000", "%Y%m%d%H:%M:%S%z")
    except ValueError as exc:
        raise RequestRejected(10314, INVALID_END_TEXT) from exc
    return EndTime(min(local.replace(tzinfo=tz).astimezone(UTC), now), zone_missing)


def resolution_for(bar_size: str) -> Resolution:
    """The simulated resolution of an IB bar size; IB's own 321 text for an invalid one."""
    if bar_size in _BY_BAR_SIZE:
        return _BY_BAR_SIZE[bar_size]
    if bar_size in IB_BAR_SIZES:
        # A size TWS knows but the simulator does not generate: fail fast with 162 rather than
        # imitate data we do not have.
        raise RequestRejected(
            162,
            f"{HMDS}ibsim does not simulate bar size {bar_size!r}; "
            f"use one of {', '.join(_BY_BAR_SIZE)}",
        )
    raise RequestRejected(
        321,
        "Error validating request.-'bP' : cause - Historical data bar size setting is invalid. "
        f"Legal ones are: {', '.join(IB_BAR_SIZES)}",
    )


def duration_for(text: str, bar_size: str) -> Duration:
    """The parsed ``durationStr``, refused with 162 "Time length exceed max." past IB's limit."""
    try:
        duration = parse_duration(text)
    except InvalidInputError as exc:
        raise RequestRejected(
            321,
            "Error validating request.-'bP' : cause - Historical data query duration format "
            f"is invalid: {text!r}",
        ) from exc
    limit = IB_MAX_DURATION.get(bar_size)
    if limit is not None and duration.approx_seconds > limit.approx_seconds:
        raise RequestRejected(162, f"{HMDS}Time length exceed max.")
    return duration


def check_what_to_show(what: str) -> str:
    what = what.upper()
    if what in SUPPORTED_WHAT_TO_SHOW:
        return what
    if what in _IB_WHAT_TO_SHOW:
        raise RequestRejected(
            162,
            f"{HMDS}ibsim does not simulate whatToShow={what}; "
            f"use one of {', '.join(SUPPORTED_WHAT_TO_SHOW)}",
        )
    raise RequestRejected(
        321, f"Error validating request.-'bP' : cause - Invalid what to show: {what}"
    )


def no_data_text(symbol: str, exchange: str, what: str) -> str:
    return f"{HMDS}HMDS query returned no data: {symbol}@{exchange} {_WHAT_LABEL.get(what, what)}"


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def request_window(
    end: datetime, duration: Duration, resolution: Resolution, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """The provider window ``[start, end)`` for a request ending at ``end`` (UTC).

    ``D`` durations count trading days (exchange sessions, holidays excluded) as TWS does, so
    ``"1 D"`` on a Sunday is Friday's session; ``S/W/M/Y`` are calendar spans. Daily and weekly
    bars are keyed by session date at 00:00 UTC, so their window is widened to whole session
    dates, the start's date included (a bar belongs to a window its session overlaps).
    """
    sessions = exchange_sessions()
    last_session = sessions.last_session_opened(end)
    start = duration.start_before(end)  # D: the local midnight of the first session
    if resolution.is_intraday:
        return start, end
    first_day = start.astimezone(tz).date()
    if resolution.seconds >= 7 * 86_400:
        first_day -= timedelta(days=first_day.weekday())  # the Monday that keys its week
    return _utc_midnight(first_day), _utc_midnight(last_session + timedelta(days=1))


def format_bars(
    bars: pd.DataFrame, resolution: Resolution, what: str, format_date: int, tz_name: str
) -> list[object]:
    """The flat ``(date, open, high, low, close, volume, WAP, barCount) * n`` field list.

    Daily/weekly dates are ``YYYYMMDD`` whatever ``formatDate`` is; intraday dates are
    ``YYYYMMDD HH:MM:SS <zone>`` in the instrument's zone (formatDate 1) or epoch seconds (2).
    MIDPOINT bars carry -1 for volume, WAP and count, as IB sends them.
    """
    index = pd.DatetimeIndex(bars.index)
    if not resolution.is_intraday:
        dates = list(index.tz_convert("UTC").strftime("%Y%m%d"))
    elif format_date == 2:
        dates = [str(int(s)) for s in index.as_unit("s").asi8]
    else:
        dates = list(index.tz_convert(tz_name).strftime("%Y%m%d %H:%M:%S ") + tz_name)
    o, h, low, c, v = (bars[col].to_numpy(dtype="float64") for col in
                       ("open", "high", "low", "close", "volume"))
    out: list[object] = []
    if what == "MIDPOINT":
        for i, day in enumerate(dates):
            out += [day, float(o[i]), float(h[i]), float(low[i]), float(c[i]), -1, -1, -1]
        return out
    wap = np.round((h + low + c) / 3.0, 4)
    for i, day in enumerate(dates):
        volume = float(v[i])
        shown: object = int(volume) if volume.is_integer() else volume
        count = max(1, int(volume // 100)) if volume > 0 else 0
        out += [day, float(o[i]), float(h[i]), float(low[i]), float(c[i]), shown,
                float(wap[i]), count]
    return out


def format_range_end(at: datetime, tz_name: str) -> str:
    """The start/end stamps of a historicalData message (ib_async ignores them; TWS's style)."""
    return at.astimezone(ZoneInfo(tz_name)).strftime("%Y%m%d %H:%M:%S ") + tz_name
