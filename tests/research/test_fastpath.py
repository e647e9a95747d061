"""The compiled fast paths give exactly what the normal engine gives, point by point."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import BacktestConfig
from algotrader.indicators import sma
from algotrader.research import _kernels as K
from algotrader.research._fastpath import evaluate_points
from algotrader.research.returns import period_ends, period_returns
from algotrader.research.tasks import EvalSpec, StrategyRef
from algotrader.strategies import get_strategy

CONFIGS = {
    "default": BacktestConfig(),
    "short_costs": BacktestConfig(
        allow_short=True, commission_bps=3.0, slippage_bps=2.0, whole_shares=True,
        risk_free_rate=0.02, cash=12_345.0,
    ),
    "close_fills": BacktestConfig(fill="close", commission_per_share=0.01, commission_min=1.0),
}
GRID = [(f, s) for f in (2, 5, 9, 14) for s in (15, 21, 40)]


def same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(
        (isinstance(x, float) and math.isnan(x) and isinstance(y, float) and math.isnan(y))
        or (x == y and type(x) is type(y))
        for x, y in ((a[k], b[k]) for k in a)
    )


def spec(config: BacktestConfig, resolution: str = "1d", period: str = "bar",
         strategy: str = "ma_cross", **kw: Any) -> EvalSpec:
    return EvalSpec(StrategyRef.of(strategy), config, resolution, period, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_ma_grid_metrics_and_returns_equal_the_engine_to_the_bit(
    daily: pd.DataFrame, name: str
) -> None:
    config = CONFIGS[name]
    points = [(i, {"fast": f, "slow": s}) for i, (f, s) in enumerate(GRID)]
    fast = evaluate_points(daily, spec(config), "X", points)
    ends = period_ends(pd.DatetimeIndex(daily.index), "bar")
    for e, (_, params) in zip(fast, points, strict=True):
        ref = run_backtest(daily, get_strategy("ma_cross", **params), config, resolution="1d")
        assert e.error is None
        assert same_metrics(e.metrics or {}, ref.metrics), params
        assert e.returns is not None
        assert np.array_equal(e.returns, period_returns(ref.equity.to_numpy(), ends))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_ma_grid_trades_and_final_equity_equal_the_engine(
    daily: pd.DataFrame, name: str
) -> None:
    c = CONFIGS[name]
    open_ = daily["open"].to_numpy()
    close = daily["close"].to_numpy()
    windows = sorted({w for pair in GRID for w in pair})
    averages = np.array([sma(close, w) for w in windows])
    fast_row = np.array([windows.index(f) for f, _ in GRID])
    slow_row = np.array([windows.index(s) for _, s in GRID])
    stats = np.empty((len(GRID), K.N_STATS))
    returns = np.empty((len(GRID), close.size - 1), np.float32)
    pnl, bars, offsets = K.ma_cross_grid(
        open_, close, averages, fast_row, slow_row, c.fill == "close", c.allow_short,
        c.whole_shares, c.cash, c.commission_per_share, c.commission_bps, c.commission_min,
        c.slippage_bps, 0.0, np.arange(close.size), stats, returns,
    )
    for p, (f, s) in enumerate(GRID):
        ref = run_backtest(daily, get_strategy("ma_cross", fast=f, slow=s), c, resolution="1d")
        trades = ref.trades
        mine = slice(offsets[p], offsets[p + 1])
        assert stats[p, K.S_FINAL] == ref.equity.iloc[-1]
        assert np.array_equal(pnl[mine], trades["pnl"].to_numpy())
        entry = daily.index.get_indexer(trades["entry_time"])
        exit_ = daily.index.get_indexer(trades["exit_time"])
        assert np.array_equal(bars[mine, 0], entry)
        assert np.array_equal(bars[mine, 1], exit_)


def test_ma_grid_equals_the_on_bar_path(daily: pd.DataFrame) -> None:
    config = CONFIGS["short_costs"]
    fast = evaluate_points(daily, spec(config), "X", [(0, {"fast": 5, "slow": 21})])
    ref = run_backtest(
        daily, get_strategy("ma_cross", fast=5, slow=21), config, path="on_bar", resolution="1d"
    )
    assert same_metrics(fast[0].metrics or {}, ref.metrics)


@pytest.mark.parametrize(
    ("strategy", "grid"),
    [("rsi", [{"lower": 25.0, "upper": 70.0}, {"lower": 35.0, "upper": 60.0}]),
     ("streak", [{"down": 2, "up": 3}, {"down": 4, "up": 2}]),
     ("macd", [{}]), ("supertrend", [{}]), ("bollinger", [{}])],
)
def test_signals_fast_path_equals_the_engine(
    daily_with_indicators: pd.DataFrame, strategy: str, grid: list[dict[str, Any]]
) -> None:
    config = CONFIGS["short_costs"]
    points = list(enumerate(grid))
    out = evaluate_points(daily_with_indicators, spec(config, strategy=strategy), "X", points)
    for e, (_, params) in zip(out, points, strict=True):
        ref = run_backtest(daily_with_indicators, get_strategy(strategy, **params), config,
                           resolution="1d")
        assert same_metrics(e.metrics or {}, ref.metrics), (strategy, params)


def test_engine_only_gives_the_same_numbers(daily: pd.DataFrame) -> None:
    points = [(i, {"fast": f, "slow": s}) for i, (f, s) in enumerate(GRID[:4])]
    fast = evaluate_points(daily, spec(BacktestConfig()), "X", points)
    slow = evaluate_points(daily, spec(BacktestConfig(), engine_only=True), "X", points)
    for a, b in zip(fast, slow, strict=True):
        assert same_metrics(a.metrics or {}, b.metrics or {})
        assert np.array_equal(a.returns, b.returns)  # type: ignore[arg-type]


def test_intraday_daily_returns_and_long_spans_match_the_engine(walk: Any) -> None:
    # Hourly bars over ~300 days in nanoseconds: drawdown spans exceed 2**53 ns.
    frame = walk(7_000, freq="h", start="2020-01-01", seed=3, unit="ns")
    points = [(0, {"fast": 12, "slow": 60}), (1, {"fast": 30, "slow": 200})]
    out = evaluate_points(frame, spec(CONFIGS["default"], "1h", "1d"), "X", points)
    ends = period_ends(pd.DatetimeIndex(frame.index), "1d")
    assert ends.size == len(np.unique(frame.index.date))
    for e, (_, params) in zip(out, points, strict=True):
        ref = run_backtest(frame, get_strategy("ma_cross", **params), resolution="1h")
        assert ref.metrics["max_drawdown_duration_days"] > 104
        assert same_metrics(e.metrics or {}, ref.metrics)
        assert np.array_equal(e.returns, period_returns(ref.equity.to_numpy(), ends))  # type: ignore[arg-type]


def test_threads_do_not_change_results(daily: pd.DataFrame) -> None:
    points = [(i, {"fast": f, "slow": s}) for i, (f, s) in enumerate(GRID)]
    one = evaluate_points(daily, spec(BacktestConfig()), "X", points, threads=1)
    two = evaluate_points(daily, spec(BacktestConfig()), "X", points, threads=2)
    assert [e.point for e in one] == [e.point for e in two]
    for a, b in zip(one, two, strict=True):
        assert same_metrics(a.metrics or {}, b.metrics or {})


def test_invalid_points_fail_alone(daily: pd.DataFrame) -> None:
    points = [(0, {"fast": 30, "slow": 10}), (1, {"fast": 5, "slow": 21})]
    bad, good = evaluate_points(daily, spec(BacktestConfig()), "X", points)
    assert bad.error is not None and "fast < slow" in bad.error and bad.metrics is None
    assert good.error is None and good.metrics is not None
