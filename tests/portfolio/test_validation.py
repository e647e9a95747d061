"""Every user mistake is a one-line UserError naming the problem and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.errors import UserError
from algotrader.portfolio import Portfolio, PortfolioStrategy, get_allocator

from .conftest import walk_bars


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    out = walk_bars(["AAA", "BBB", "CCC"], n=60, seed=1)
    out["CCC"] = out["CCC"].iloc[20:]
    return out


class Answer(PortfolioStrategy):
    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    def rebalance(self, date: pd.Timestamp, view: Any, portfolio: Any) -> Any:
        return self.answer


def _fails(match: str, bars: Any, allocator: Any = "equal", **kwargs: Any) -> str:
    params = kwargs.pop("params", {})
    with pytest.raises(UserError, match=match) as err:
        Portfolio(bars, allocator, **kwargs).run(**params)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_unknown_names_get_suggestions(bars: dict[str, pd.DataFrame]) -> None:
    _fails("unknown allocator 'inverse_volatilty': did you mean 'inverse_vol'", bars,
           "inverse_volatilty")
    _fails("unknown portfolio setting 'comission_bps': did you mean 'commission_bps'", bars,
           comission_bps=1)
    _fails("unknown parameter 'topn' for Momentum: did you mean 'top_n'", bars, "momentum",
           params={"topn": 2})
    _fails("unknown strategy 'ma_cros'", bars, "signals", params={"strategy": "ma_cros"})
    _fails("benchmark 'SPX' is not among the symbols", bars, benchmark="SPX")


def test_bad_targets_are_refused_with_the_symbol_and_date(bars: dict[str, pd.DataFrame]) -> None:
    _fails("unknown symbol 'AAB': did you mean 'AAA'", bars, Answer({"AAB": 0.5}))
    _fails("the target for CCC on 2020-01-01.* is not listed then", bars, Answer({"CCC": 0.5}))
    _fails("the target for AAA .* is not a finite number", bars, Answer([np.nan, 0, 0]))
    _fails("the target for BBB .* is negative", bars, Answer({"BBB": -0.1}))
    _fails("add up to 1.2", bars, Answer({"AAA": 0.6, "BBB": 0.6}))
    _fails(r"gave targets of shape \(1, 2\)", bars, Answer([0.5, 0.5]))


def test_bad_settings_are_refused(bars: dict[str, pd.DataFrame]) -> None:
    _fails("invalid cash -5", bars, cash=-5)
    _fails("invalid fill 'next'", bars, fill="next")
    _fails("invalid margin 0.5", bars, margin=0.5)
    _fails("invalid lookback 1 for inverse_vol", bars, "inverse_vol", params={"lookback": 1})


def test_bad_bars_are_refused(bars: dict[str, pd.DataFrame]) -> None:
    _fails("no symbols to backtest", {})
    _fails("the bars of AAA lack column.*close", {"AAA": bars["AAA"].drop(columns="close")})
    _fails("not sorted", {"AAA": bars["AAA"].iloc[::-1]})
    broken = bars["AAA"].copy()
    broken.iloc[3, 0] = -1.0
    _fails("non-positive prices in the bars of AAA", {"AAA": broken})
    _fails("a wide panel needs two column levels", bars["AAA"])


def test_a_user_allocator_loads_from_a_file(tmp_path: Path, bars: dict[str, pd.DataFrame]) -> None:
    source = tmp_path / "mine.py"
    source.write_text(
        "from algotrader.portfolio import PortfolioStrategy\n\n"
        "class FirstOnly(PortfolioStrategy):\n"
        "    params = {'weight': 0.5}\n\n"
        "    def rebalance(self, date, view, portfolio):\n"
        "        return {view.listed[0]: self.weight}\n"
    )
    result = Portfolio(bars, f"{source}:FirstOnly", "monthly").run(weight="0.25")
    assert result.params == {"weight": 0.25}
    assert result.targets["AAA"].tolist() == [0.25] * len(result.targets)
    with pytest.raises(UserError, match="classes found: FirstOnly"):
        get_allocator(f"{source}:Second")
