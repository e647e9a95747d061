from __future__ import annotations

import pickle

import pytest

from algotrader.errors import InvalidInputError
from algotrader.research.constraint import Constraint

NAMES = ("fast", "slow")


def test_comparisons_arithmetic_and_boolean_operators() -> None:
    c = Constraint.parse("fast < slow and slow - fast >= 10 or fast == 1", NAMES)
    assert c({"fast": 5, "slow": 20})
    assert not c({"fast": 15, "slow": 20})
    assert c({"fast": 1, "slow": 2})


def test_chained_comparison_and_not() -> None:
    c = Constraint.parse("2 * fast <= slow < 100 and not fast % 5", NAMES)
    assert c({"fast": 10, "slow": 20})
    assert not c({"fast": 10, "slow": 100})
    assert not c({"fast": 11, "slow": 40})


def test_unknown_name_suggests_a_parameter() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'fast'"):
        Constraint.parse("fsat < slow", NAMES)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "fast.real < slow",
        "fast[0] < slow",
        "'a' < 'b'",
        "(lambda: 1)() < slow",
        "[fast] == [slow]",
        "fast if slow else 1",
        "fast := 3",
    ],
)
def test_anything_but_names_numbers_and_operators_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        Constraint.parse(text, NAMES)


def test_a_failing_evaluation_is_a_user_error() -> None:
    c = Constraint.parse("slow / fast > 2", NAMES)
    with pytest.raises(InvalidInputError, match="fails on"):
        c({"fast": 0, "slow": 10})
    with pytest.raises(InvalidInputError, match="too large"):
        Constraint.parse("fast ** slow > 1", NAMES)({"fast": 2, "slow": 10_000})


def test_a_constraint_pickles_as_its_text() -> None:
    c = pickle.loads(pickle.dumps(Constraint.parse("fast < slow", NAMES)))
    assert c.text == "fast < slow" and c({"fast": 1, "slow": 2})
