from __future__ import annotations

import math

import pytest

from algotrader.errors import InvalidInputError
from algotrader.research.objective import Objective, metric_names


def test_every_result_metric_is_an_objective() -> None:
    assert {"sharpe", "total_return", "calmar", "max_drawdown"} <= set(metric_names())


def test_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'sharpe'"):
        Objective("sharp")


def test_pooled_values() -> None:
    values = [0.5, 1.0, -0.3]
    assert Objective(pool="mean").combine(values) == pytest.approx(0.4)
    assert Objective(pool="median").combine(values) == 0.5
    assert Objective(pool="min").combine(values) == -0.3
    assert Objective("volatility", "minimize", pool="min").combine(values) == 1.0
    assert math.isnan(Objective(pool="mean").combine([1.0, math.nan]))


def test_sort_key_puts_the_best_first_and_nan_last() -> None:
    up, down = Objective(), Objective("volatility", "minimize")
    assert sorted([1.0, math.nan, 3.0], key=up.sort_key)[:2] == [3.0, 1.0]
    assert sorted([1.0, math.nan, 3.0], key=down.sort_key)[:2] == [1.0, 3.0]
