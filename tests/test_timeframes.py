"""timeframes: resolutions and durations parse, round-trip, and refuse garbage cleanly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrader.errors import InvalidInputError
from algotrader.timeframes import (
    RESOLUTIONS,
    Duration,
    Resolution,
    parse_duration,
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
