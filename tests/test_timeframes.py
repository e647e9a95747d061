"""timeframes: resolutions and durations parse, round-trip, and refuse garbage cleanly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrader.errors import InvalidInputError
from algotrader.timeframes import (
    EARLIEST,
    RESOLUTIONS,
    Duration,
    Resolution,
    check_instant,
    parse_duration,
    parse_instant,
    parse_resolution,
)

UNITS = "SDWMY"
resolutions = st.sampled_from(list(RESOLUTIONS.values()))
durations = st.builds(Duration, st.integers(1, 10**9), st.sampled_from(UNITS))


@given(resolutions)
def test_property_resolution_name_round_trips(res: Resolution) -> None:
    assert parse_resolution(res.name) is res
    assert parse_resolution(str(res)) is res


@given(resolutions, st.sampled_from(["", " ", "  "]), st.booleans())
def test_property_resolution_ignores_case_and_surrounding_space(
    res: Resolution, pad: str, upper: bool
) -> None:
    text = res.name.upper() if upper else res.name
    assert parse_resolution(f"{pad}{text}{pad}") is res


def test_ib_bar_size_parses_back_to_its_resolution() -> None:
    for res in RESOLUTIONS.values():
        assert parse_resolution(res.ib_bar_size) is res


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_property_garbage_resolution_raises_only_invalid_input(text: str) -> None:
    try:
        res = parse_resolution(text)
    except InvalidInputError as err:
        assert "\n" not in str(err)
        assert "use one of" in str(err)
    else:
        assert res in RESOLUTIONS.values()


def test_unknown_resolution_suggests_the_closest() -> None:
    with pytest.raises(InvalidInputError, match="did you mean '15m'"):
        parse_resolution("15mm")


@given(durations)
def test_property_duration_round_trips_through_its_ib_string(duration: Duration) -> None:
    assert parse_duration(duration.ib_str) == duration
    assert parse_duration(str(duration)) == duration


@given(st.integers(1, 10**6), st.sampled_from(UNITS), st.sampled_from(["", " ", "   "]))
def test_property_duration_accepts_lower_case_and_any_spacing(
    count: int, unit: str, space: str
) -> None:
    assert parse_duration(f" {count}{space}{unit.lower()} ") == Duration(count, unit)


@settings(max_examples=300)
@given(st.text(max_size=50))
def test_property_garbage_duration_raises_only_invalid_input(text: str) -> None:
    try:
        duration = parse_duration(text)
    except InvalidInputError as err:
        assert "\n" not in str(err)
    else:
        assert duration.count > 0
        assert duration.unit in UNITS


@settings(max_examples=200)
@given(st.from_regex(r"\A-?\d{0,4} ?[A-Za-z]{0,6}\Z"))
def test_property_near_miss_duration_raises_only_invalid_input(text: str) -> None:
    try:
        duration = parse_duration(text)
    except InvalidInputError:
        return
    assert duration.count > 0 and duration.unit in UNITS


@pytest.mark.parametrize("text", ["0 D", "5 Years", "5", "Y", "-3 D", "5 X", "", "1.5 Y"])
def test_invalid_duration_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["350 Y", "349 Y", "9999999999 Y", "200000 W", "5000 M"])
def test_a_duration_reaching_before_1678_is_refused_in_one_line(text: str) -> None:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInputError, match="reaches back before 1678-01-01") as info:
        parse_duration(text).start_before(end)
    assert "\n" not in str(info.value)


def test_a_duration_just_inside_the_range_still_works() -> None:
    start = parse_duration("300 Y").start_before(datetime(2026, 1, 1, tzinfo=UTC))
    assert start.year == 1726 and start >= EARLIEST


@settings(max_examples=200)
@given(
    durations,
    st.integers(0, 110 * 365 * 86_400).map(
        lambda s: datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=s)
    ),
)
def test_property_start_before_is_in_range_or_refused(duration: Duration, end: datetime) -> None:
    try:
        start = duration.start_before(end)
    except InvalidInputError:
        return
    assert EARLIEST <= start <= end


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2024-01-31", "2024-01-31T00:00:00+00:00"),
     ("2024-01-31T10:30:00-05:00", "2024-01-31T15:30:00+00:00"),
     (" 2024-01-31 15:30 ", "2024-01-31T15:30:00+00:00")],
)  # fmt: skip
def test_parse_instant_reads_iso_dates_as_utc(text: str, expected: str) -> None:
    assert parse_instant(text, "--start").isoformat() == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [("1500-01-01", "--start 1500-01-01 is outside the dates algotrader supports"),
     ("0000-01-01", "--start 0000-01-01 is outside the dates algotrader supports"),
     ("9999-12-31", "--start 9999-12-31 is outside"),
     ("soon", "invalid --start 'soon'"),
     ("x" * 5000, "invalid --start 'xxxxxxxx")],
)  # fmt: skip
def test_parse_instant_refuses_what_algotrader_cannot_hold(text: str, named: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_instant(text, "--start")
    assert named in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("parse", [parse_resolution, parse_duration])
def test_a_long_value_is_echoed_shortened(parse: Callable[[str], object]) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse("z" * 6000)
    assert "zzzzzzzzzz" in str(info.value) and len(str(info.value)) < 200


def test_check_instant_refuses_a_window_outside_the_range() -> None:
    with pytest.raises(InvalidInputError, match="the window's start 1500-01-01 is outside"):
        check_instant(datetime(1500, 1, 1, tzinfo=UTC), "the window's start")
    naive = datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # taken as UTC
    assert check_instant(naive, "x") == datetime(2024, 1, 1, tzinfo=UTC)
