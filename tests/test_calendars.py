"""Exchange sessions from exchange_calendars, and IB's "N D" = N trading days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from algotrader.calendars import exchange_sessions
from algotrader.timeframes import parse_duration

NYSE = exchange_sessions()


def test_holidays_and_special_closures_are_not_sessions() -> None:
    for closed in (date(2024, 7, 4), date(2024, 11, 28), date(2012, 10, 29), date(2025, 1, 9)):
        assert not NYSE.is_session(closed)
    assert NYSE.is_session(date(2024, 11, 29))
    assert list(NYSE.sessions(date(2024, 12, 23), date(2024, 12, 27)).astype(str)) == [
        "2024-12-23", "2024-12-24", "2024-12-26", "2024-12-27"]


def test_early_closes_last_210_minutes() -> None:
    days = np.array(["2024-11-29", "2024-12-24", "2024-12-23"], dtype="datetime64[D]")
    assert list(NYSE.minutes_of(days)) == [210, 210, 390]
    assert NYSE.session_hours(date(2024, 11, 29)) == (
        datetime(2024, 11, 29, 14, 30, tzinfo=UTC), datetime(2024, 11, 29, 18, tzinfo=UTC))
    assert NYSE.session_hours(date(2024, 11, 28)) is None


def test_trading_days_count_back_from_the_last_session_that_opened() -> None:
    sunday = datetime(2024, 6, 16, 12, tzinfo=UTC)
    assert NYSE.trading_days_before(sunday, 1) == datetime(2024, 6, 14, 4, tzinfo=UTC)
    before_open = datetime(2024, 6, 14, 13, tzinfo=UTC)  # Friday 09:00 New York
    assert NYSE.trading_days_before(before_open, 1) == datetime(2024, 6, 13, 4, tzinfo=UTC)
    after_the_fourth = datetime(2024, 7, 5, 21, tzinfo=UTC)
    assert NYSE.trading_days_before(after_the_fourth, 2) == datetime(2024, 7, 3, 4, tzinfo=UTC)


def test_a_d_duration_is_trading_days() -> None:
    friday = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
    start = parse_duration("45 D").start_before(friday)
    assert len(NYSE.sessions(start.date(), friday.date())) == 45
    naive = parse_duration("1 D").start_before(friday.replace(tzinfo=None))
    assert naive == datetime(2024, 6, 14, 4, tzinfo=UTC).replace(tzinfo=None)
