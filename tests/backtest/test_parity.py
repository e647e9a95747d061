"""Every execution path gives the same trades, to the last bit, with every sizing and exit rule.

Paths: ``on_bar`` (the Python reference), ``signals()`` (a vectorised strategy: here a user
subclass of the built-in, so the engine reads its signal array) and the fused kernel (the
built-in itself, its rule compiled into the simulation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.conftest import random_walk

from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.backtest.metrics import compute_metrics
from algotrader.strategies import get_strategy, list_strategies, strategy_class

CONFIGS = {
    "percent_exits": {"stop_loss": 0.03, "take_profit": 0.06, "trailing_stop": 0.05},
    "atr_exits": {
        "stop_loss": 2.0, "take_profit": 4.0, "trailing_stop": 3.0, "exit_unit": "atr",
        "atr_period": 10,
    },
    "percent_size": {"sizing": "percent", "size": 0.5, "whole_shares": True},
    "vol_target": {"sizing": "volatility", "size": 0.01, "stop_loss": 0.04},
    "limit": {"limit_entry": 0.01, "limit_bars": 2, "take_profit": 0.05},
    "short_costs": {
        "allow_short": True, "stop_loss": 0.05, "trailing_stop": 0.08, "commission_bps": 2,
        "slippage_bps": 3, "commission_min": 1.0,
    },
    "fill_close": {"fill": "close", "allow_short": True, "stop_loss": 0.03, "take_profit": 0.05},
    # Nothing resting: SMA crossings run their own loop past the warm-up (_kernel._plain).
    "plain_short_costs": {
        "allow_short": True, "commission_bps": 2, "slippage_bps": 3, "commission_min": 1.0,
    },
    "plain_vol_target": {"sizing": "volatility", "size": 0.01, "atr_period": 10},
}
BUILTINS = [info.name for info in list_strategies() if info.source == "builtin"]


def _subclass(name: str) -> Any:
    cls = strategy_class(name)
    return type(f"User{cls.__name__}", (cls,), {"__module__": __name__})()


def _same(a: Any, b: Any) -> None:
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
    assert a.equity.to_numpy().tobytes() == b.equity.to_numpy().tobytes()
    assert a.metrics.keys() == b.metrics.keys()
    for key, value in a.metrics.items():
        other = b.metrics[key]
        assert value == other or (value != value and other != other), key


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("name", BUILTINS)
def test_on_bar_signals_and_fused_paths_agree(
    indicator_frame: pd.DataFrame, name: str, config: str
) -> None:
    cfg = BacktestConfig(**CONFIGS[config])
    reference = run_backtest(indicator_frame, get_strategy(name), cfg, path="on_bar")
    fused = run_backtest(indicator_frame, get_strategy(name), cfg, path="vectorized")
    vectorised = run_backtest(indicator_frame, _subclass(name), cfg, path="vectorized")
    _same(reference, fused)
    _same(reference, vectorised)


@pytest.mark.parametrize("risk_free_rate", [0.0, 0.04])
@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("path", ["fused", "signals", "portfolio"])
def test_the_statistics_kept_while_simulating_are_those_of_the_finished_curves(
    indicator_frame: pd.DataFrame, path: str, config: str, risk_free_rate: float
) -> None:
    # The order loops keep the return and drawdown statistics as they go (skipping flat bars
    # that change nothing); computed afresh from the curves they must be the same to the bit.
    cfg = BacktestConfig(**CONFIGS[config], risk_free_rate=risk_free_rate)
    strategy = {
        "fused": lambda: get_strategy("ma_cross", fast=5, slow=20),
        "signals": lambda: _subclass("rsi"),
        "portfolio": lambda: SeedStyle(),
    }[path]()
    result = run_backtest(indicator_frame, strategy, cfg, resolution="1d")
    assert result.metrics["exposure"] < 1.0  # flat stretches, which the loops skip
    fresh = compute_metrics(
        result.equity.index, result.equity.to_numpy(), result.buy_hold.to_numpy(),
        result.position.to_numpy(), result._record.trade_pnl(), cash=cfg.cash,
        resolution="1d", risk_free_rate=risk_free_rate,
    )
    for key, value in result.metrics.items():
        assert value == fresh[key] or (value != value and fresh[key] != fresh[key]), key


@pytest.mark.parametrize("path", ["fused", "signals", "portfolio"])
def test_the_curves_drawn_from_the_fills_are_those_the_generic_loop_writes(
    indicator_frame: pd.DataFrame, path: str
) -> None:
    # Under plain orders the loops leave the curves to be drawn from the fills' books; a stop
    # too far away to trigger sends the same run through the loop that writes them bar by bar.
    strategy = {
        "fused": lambda: get_strategy("ma_cross", fast=5, slow=20),
        "signals": lambda: _subclass("rsi"),
        "portfolio": lambda: SeedStyle(),
    }[path]
    cfg = {"allow_short": True, "commission_bps": 2, "slippage_bps": 3}
    plain = run_backtest(indicator_frame, strategy(), BacktestConfig(**cfg))
    written = run_backtest(indicator_frame, strategy(), BacktestConfig(**cfg, stop_loss=0.99))
    assert plain.metrics["num_trades"] > 3
    _same(plain, written)
    assert plain.position.to_numpy().tobytes() == written.position.to_numpy().tobytes()


def test_a_curve_nearly_all_trend_gets_its_spread_from_the_drawn_curve() -> None:
    # Returns of 1e-3 +- 1e-9: the running sums cancel every digit of the spread, so the engine
    # takes a second pass over the equity curve, which the plain loop did not write.
    rng = np.random.default_rng(3)
    close = 100.0 * np.cumprod(np.r_[1.0, 1.0 + 1e-3 + 1e-9 * rng.standard_normal(2999)])
    bars = pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close},
        index=pd.date_range("2020-01-01", periods=close.size, freq="D", tz="UTC"),
    )
    cfg = BacktestConfig(whole_shares=False)
    result = run_backtest(bars, _subclass("hello_world"), cfg, resolution="1d")
    fresh = compute_metrics(
        result.equity.index, result.equity.to_numpy(), result.buy_hold.to_numpy(),
        result.position.to_numpy(), result._record.trade_pnl(), cash=cfg.cash, resolution="1d",
    )
    assert result.metrics["volatility"] == fresh["volatility"] > 0.0


def test_a_plain_sma_crossing_agrees_while_its_fill_buffers_grow() -> None:
    bars = random_walk(20_000)  # 2/5 crossings: thousands of fills, buffers start at n / 32
    cfg = BacktestConfig(allow_short=True, commission_bps=1)
    strategy = get_strategy("ma_cross", fast=2, slow=5)
    fused = run_backtest(bars, strategy, cfg)
    assert fused.metrics["num_trades"] > 2_000
    _same(run_backtest(bars, get_strategy("ma_cross", fast=2, slow=5), cfg, path="on_bar"), fused)


def test_the_rules_are_exercised(indicator_frame: pd.DataFrame) -> None:
    reasons: set[str] = set()
    for config in CONFIGS.values():
        for name in ("rsi", "bollinger", "db_ma_cross"):
            result = run_backtest(indicator_frame, get_strategy(name), BacktestConfig(**config))
            reasons |= set(result.fills["reason"])
    assert reasons == {"signal", "limit", "stop_loss", "take_profit", "trailing_stop"}


class SeedStyle:
    """Seed 000's form: on_bar(date, row, portfolio), reading the portfolio every bar."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_bar(self, date: Any, row: Any, portfolio: Any) -> str | None:
        self.seen.append((portfolio.side, portfolio.cash))
        if row["MA20"] > row["MA50"]:
            return "BUY"
        if row["MA20"] < row["MA50"]:
            return "SELL"
        return None


@pytest.mark.parametrize("config", ["percent_exits", "limit", "short_costs", "fill_close"])
def test_a_portfolio_reading_strategy_matches_its_vectorised_twin(
    indicator_frame: pd.DataFrame, config: str
) -> None:
    cfg = BacktestConfig(**CONFIGS[config])
    seed = SeedStyle()
    result = run_backtest(indicator_frame, seed, cfg)
    _same(result, run_backtest(indicator_frame, get_strategy("db_ma_cross"), cfg))
    # What it saw on each bar is the book after that bar's open and intrabar fills: with fills
    # at the open that is the position held at the bar's close.
    if cfg.fill == "open":
        sides = np.array([side for side, _ in seed.seen])
        np.testing.assert_array_equal(sides, result.position.to_numpy())


def test_the_single_order_primitives_reproduce_the_engine(indicator_frame: pd.DataFrame) -> None:
    from algotrader.backtest._kernel import rebalance, target_of

    cfg = BacktestConfig(allow_short=True, commission_bps=2, commission_min=1.0, slippage_bps=3)
    result = run_backtest(indicator_frame, get_strategy("macd"), cfg)
    signals = get_strategy("macd").signals(indicator_frame)
    open_ = indicator_frame["open"].to_numpy()
    close = indicator_frame["close"].to_numpy()
    cash, qty, pos = cfg.cash, 0.0, 0
    prices = []
    for t in range(1, len(open_)):
        target = target_of(int(signals[t - 1]), True, pos)
        if target != pos:
            cash, qty, pos, xq, xp, _, eq, ep, _ = rebalance(
                cash, qty, pos, target, open_[t], False, 0.0, 2.0, 1.0, 3.0
            )
            prices += [p for q, p in ((xq, xp), (eq, ep)) if q > 0]
    assert prices == result.fills["price"].tolist()
    assert cash + pos * qty * close[-1] == result.equity.iloc[-1]
