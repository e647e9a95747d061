"""No look-ahead: the decision on bar t is the same when every later bar is removed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.portfolio import Portfolio, PortfolioStrategy
from algotrader.portfolio.strategy import PanelView, PortfolioState

from .conftest import walk_bars

N_BARS = 150
CUTS = (44, 81, 120, 149)


@pytest.fixture(scope="module")
def uneven_bars() -> dict[str, pd.DataFrame]:
    """Four symbols: DDD starts on bar 30, BBB misses bar 50, CCC's data ends on bar 120."""
    bars = walk_bars(["AAA", "BBB", "CCC", "DDD"], n=N_BARS, seed=21)
    bars["BBB"] = bars["BBB"].drop(bars["BBB"].index[50])
    bars["CCC"] = bars["CCC"].iloc[:121]
    bars["DDD"] = bars["DDD"].iloc[30:]
    return bars


def _cut(bars: dict[str, pd.DataFrame], t: int) -> dict[str, pd.DataFrame]:
    end = bars["AAA"].index[t]
    return {s: f[f.index <= end] for s, f in bars.items()}


ALLOCATORS: list[tuple[str, dict[str, Any]]] = [
    ("equal", {}),
    ("inverse_vol", {"lookback": 20}),
    ("min_variance", {"lookback": 25}),
    ("risk_parity", {"lookback": 25}),
    ("momentum", {"lookback": 20, "top_n": 2}),
    ("signals", {"strategy": "ma_cross", "fast": 5, "slow": 15}),
]


@pytest.mark.parametrize(("name", "params"), ALLOCATORS, ids=[a for a, _ in ALLOCATORS])
def test_decisions_do_not_change_when_later_bars_are_removed(
    uneven_bars: dict[str, pd.DataFrame], name: str, params: dict[str, Any]
) -> None:
    full = Portfolio(uneven_bars, name, "daily", commission_bps=2).run(**params)
    assert full.targets.to_numpy().any()
    for t in CUTS:
        cut = Portfolio(_cut(uneven_bars, t), name, "daily", commission_bps=2).run(**params)
        end = uneven_bars["AAA"].index[t]
        expected = full.targets.loc[:end]
        assert cut.targets.index.equals(expected.index)
        assert np.array_equal(cut.targets.to_numpy(), expected.to_numpy()), (name, t)
        assert np.array_equal(cut.equity.to_numpy()[:t], full.equity.to_numpy()[:t]), (name, t)


class _Recorder(PortfolioStrategy):
    """Holds the symbol with the highest close so far; records what each view showed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[pd.Timestamp, pd.Timestamp, int, float]] = []

    def rebalance(
        self, date: pd.Timestamp, view: PanelView, portfolio: PortfolioState
    ) -> dict[str, float]:
        last_own = max(view[s].index[-1] for s in view.listed)
        self.seen.append((date, max(view.close.index[-1], last_own), len(view), portfolio.equity))
        best = view.close.max().idxmax()
        return {best: 1.0} if best in view.listed else {}


def test_a_user_strategy_sees_only_bars_up_to_the_decision(
    uneven_bars: dict[str, pd.DataFrame],
) -> None:
    strategy = _Recorder()
    Portfolio(uneven_bars, strategy, "weekly").run()
    assert strategy.seen
    index = uneven_bars["AAA"].index
    for date, latest, length, _ in strategy.seen:
        assert latest == date
        assert length == index.get_loc(date) + 1


def test_a_user_strategy_decides_the_same_on_cut_data(
    uneven_bars: dict[str, pd.DataFrame],
) -> None:
    full = Portfolio(uneven_bars, _Recorder(), "daily").run()
    for t in CUTS:
        cut = Portfolio(_cut(uneven_bars, t), _Recorder(), "daily").run()
        expected = full.targets.loc[: uneven_bars["AAA"].index[t]]
        assert np.array_equal(cut.targets.to_numpy(), expected.to_numpy())
