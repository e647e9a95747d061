from __future__ import annotations

import numpy as np
import pytest

from algotrader.errors import InvalidInputError
from algotrader.research.space import parse_grid, space_from


def test_range_spec_is_inclusive_and_stays_integer() -> None:
    space = parse_grid(["fast=5:50:5"])
    assert space.values("fast") == (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    assert all(type(v) is int for v in space.values("fast"))


def test_decimal_range_gives_exact_floats() -> None:
    assert parse_grid(["x=0.1:0.3:0.1"]).values("x") == (0.1, 0.2, 0.3)


def test_list_spec_keeps_types() -> None:
    space = parse_grid(["a=5,10,20", "b=0.5,1", "c=true,false", "d=sma,ema"])
    assert space.values("a") == (5, 10, 20)
    assert space.values("b") == (0.5, 1)
    assert space.values("c") == (True, False)
    assert space.values("d") == ("sma", "ema")


def test_grid_points_vary_the_last_parameter_fastest() -> None:
    space = parse_grid(["fast=1,2", "slow=10,20,30"])
    assert space.size == 6
    assert space.points()[:3] == [
        {"fast": 1, "slow": 10}, {"fast": 1, "slow": 20}, {"fast": 1, "slow": 30}
    ]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("fast", "invalid grid"),
        ("fast=", "invalid grid"),
        ("fast=5:50", "invalid range"),
        ("fast=5:50:0", "step must be > 0"),
        ("fast=50:5:5", "stop is below start"),
        ("fast=a:b:c", "not numbers"),
        ("fast=5,,10", "empty list item"),
        ("fast=5,5", "listed twice"),
        ("1fast=5", "invalid parameter name"),
        ("fast=1:10000000:1", "use a larger step"),
    ],
)
def test_bad_specs_raise_one_line_user_errors(spec: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_grid([spec])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_a_parameter_given_twice_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="given twice"):
        parse_grid(["fast=1,2", "fast=3"])


def test_space_from_python_values() -> None:
    space = space_from({"fast": range(5, 16, 5), "slow": np.arange(20, 41, 10), "k": "1:2:1"})
    assert space.values("fast") == (5, 10, 15)
    assert space.values("slow") == (20, 30, 40)
    assert all(type(v) is int for v in space.values("slow"))
    assert space.values("k") == (1, 2)


def test_unknown_parameter_lookup_suggests_the_closest() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'fast'"):
        parse_grid(["fast=1,2"]).values("fats")
