"""The built-in allocators: each against its definition, and both decision paths agree."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.api import Backtest
from algotrader.portfolio import Portfolio

from .conftest import walk_bars


def _returns(bars: dict[str, pd.DataFrame], end: pd.Timestamp, lookback: int) -> pd.DataFrame:
    close = pd.DataFrame({s: bars[s]["close"] for s in sorted(bars)}).loc[:end]
    return close.pct_change().iloc[-lookback:]


def _last_targets(result: Any) -> tuple[pd.Timestamp, np.ndarray]:
    return result.targets.index[-1], result.targets.iloc[-1].to_numpy()


def test_min_variance_matches_the_closed_form_when_no_weight_is_zero() -> None:
    bars = walk_bars(["AAA", "BBB", "CCC"], n=300, seed=5)
    result = Portfolio(bars, "min_variance", "quarterly").run(lookback=120)
    when, w = _last_targets(result)
    cov = _returns(bars, when, 120).cov().to_numpy()
    closed = np.linalg.solve(cov, np.ones(3))
    closed /= closed.sum()
    assert (closed > 0).all()
    np.testing.assert_allclose(w, closed, atol=1e-10)


def _factor_bars(betas: list[float], n: int, seed: int) -> dict[str, pd.DataFrame]:
    """Returns = beta x a common factor + noise: high-beta symbols are dominated."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(0, 0.01, n)
    index = pd.date_range("2021-01-04", periods=n, freq="B", tz="UTC")
    out = {}
    for k, beta in enumerate(betas):
        close = 100 * np.exp(np.cumsum(beta * factor + rng.normal(0, 0.004, n)))
        out[f"S{k}"] = pd.DataFrame(
            {"open": close, "high": close, "low": close, "close": close, "volume": 1.0},
            index=index,
        )
    return out


def test_min_variance_is_optimal_among_long_only_portfolios() -> None:
    bars = _factor_bars([0.3, 0.5, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5], n=300, seed=9)
    result = Portfolio(bars, "min_variance", "quarterly").run(lookback=150)
    when, w = _last_targets(result)
    cov = _returns(bars, when, 150).cov().to_numpy()
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all() and (w == 0).any()
    rng = np.random.default_rng(0)
    others = rng.dirichlet(np.ones(8), size=2000)
    assert (np.einsum("ki,ij,kj->k", others, cov, others) >= w @ cov @ w).all()


def test_risk_parity_gives_equal_risk_contributions() -> None:
    bars = walk_bars([f"S{k}" for k in range(6)], n=300, seed=13)
    result = Portfolio(bars, "risk_parity", "quarterly").run(lookback=100)
    when, w = _last_targets(result)
    cov = _returns(bars, when, 100).cov().to_numpy()
    contributions = w * (cov @ w)
    np.testing.assert_allclose(contributions / contributions.sum(), np.full(6, 1 / 6), rtol=1e-9)


@pytest.mark.parametrize("name", ["min_variance", "risk_parity"])
def test_a_singular_covariance_falls_back_to_inverse_volatility(name: str) -> None:
    # 6 symbols, 4 returns: the sample covariance has rank 3.
    bars = walk_bars([f"S{k}" for k in range(6)], n=60, seed=2)
    fallback = Portfolio(bars, name, "weekly").run(lookback=4)
    inverse = Portfolio(bars, "inverse_vol", "weekly").run(lookback=4)
    assert fallback.targets.to_numpy().any()
    np.testing.assert_array_equal(fallback.targets.to_numpy(), inverse.targets.to_numpy())


def test_inverse_volatility_weights_are_proportional_to_one_over_sigma() -> None:
    bars = walk_bars(["AAA", "BBB", "CCC", "DDD"], n=200, seed=4)
    result = Portfolio(bars, "inverse_vol", "monthly").run(lookback=30)
    when, w = _last_targets(result)
    inverse = 1 / _returns(bars, when, 30).std(ddof=1).to_numpy()
    np.testing.assert_allclose(w, inverse / inverse.sum(), rtol=1e-12)


def test_momentum_holds_the_top_n_by_lookback_return() -> None:
    bars = walk_bars([f"S{k}" for k in range(7)], n=200, seed=8)
    result = Portfolio(bars, "momentum", "monthly").run(lookback=40, top_n=3, skip=5)
    close = pd.DataFrame({s: bars[s]["close"] for s in sorted(bars)})
    for when, row in result.targets.iloc[3:].iterrows():
        t = close.index.get_loc(when)
        score = close.iloc[t - 5] / close.iloc[t - 45] - 1
        top = set(score.sort_values(ascending=False).index[:3])
        assert {s for s, w in row.items() if w > 0} == top
        assert row[row > 0].tolist() == pytest.approx([1 / 3] * 3)


def test_signals_hold_the_symbols_where_the_strategy_is_long() -> None:
    bars = walk_bars(["AAA", "BBB", "CCC", "DDD"], n=250, seed=17)
    result = Portfolio(bars, "signals", "weekly").run(strategy="ma_cross", fast=5, slow=20)
    long = pd.DataFrame(
        {
            s: Backtest(f, "ma_cross", fill="close").run(fast=5, slow=20).position > 0
            for s, f in bars.items()
        }
    )
    checked = 0
    for when, row in result.targets.iterrows():
        holders = [s for s in sorted(bars) if long.loc[when, s]]
        expected = [1 / len(holders) if s in holders else 0.0 for s in sorted(bars)]
        assert row.tolist() == pytest.approx(expected)
        checked += bool(holders)
    assert checked > 5


CASES: list[tuple[str, dict[str, Any]]] = [
    ("equal", {}),
    ("inverse_vol", {"lookback": 20}),
    ("min_variance", {"lookback": 30}),
    ("risk_parity", {"lookback": 30}),
    ("momentum", {"lookback": 30, "top_n": 2}),
    ("signals", {"strategy": "rsi"}),
]


@pytest.mark.parametrize(("name", "params"), CASES, ids=[n for n, _ in CASES])
@pytest.mark.parametrize("schedule", ["monthly", "signal", "drift"])
def test_the_precomputed_and_the_rebalance_paths_agree(
    five_symbols: dict[str, pd.DataFrame], name: str, params: dict[str, Any], schedule: str
) -> None:
    fast = Portfolio(five_symbols, name, schedule, commission_bps=3).run(**params)
    slow = Portfolio(five_symbols, name, schedule, commission_bps=3, path="rebalance").run(
        **params
    )
    assert fast.targets.to_numpy().any() and len(fast.fills) > 0
    np.testing.assert_array_equal(fast.targets.to_numpy(), slow.targets.to_numpy())
    np.testing.assert_array_equal(fast.equity.to_numpy(), slow.equity.to_numpy())


class UpDay:
    """A plain user strategy (on_bar only): long after an up bar, flat after a down bar."""

    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        if row["close"] > row["open"]:
            return "BUY"
        if row["close"] < row["open"]:
            return "SELL"
        return None


def test_signals_run_a_user_strategys_on_bar_per_symbol() -> None:
    bars = walk_bars(["AAA", "BBB", "CCC"], n=80, seed=23)
    result = Portfolio(bars, "signals", "daily").run(strategy=UpDay)
    assert result.params == {"strategy": "UpDay"}
    up = pd.DataFrame({s: np.sign(f["close"] - f["open"]) for s, f in bars.items()})
    long = up.replace(0.0, np.nan).ffill() > 0
    expected = long.div(long.sum(axis=1), axis=0).fillna(0.0)
    np.testing.assert_allclose(result.targets.to_numpy(), expected.to_numpy())
