from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.engine import signals_from_on_bar
from algotrader.strategies import get_strategy

nan = np.nan


def both_paths(name: str, frame: pd.DataFrame, **params: Any) -> list[int]:
    """The strategy's per-bar signals, asserting on_bar and signals() agree."""
    strategy = get_strategy(name, **params)
    prepared = strategy.prepare(frame)
    vectorized = strategy.signals(prepared)
    assert vectorized.dtype == np.int8
    on_bar = signals_from_on_bar(get_strategy(name, **params), prepared)
    assert list(on_bar) == list(vectorized)
    return [int(v) for v in vectorized]


def test_ma_cross_signals_on_crossings_only(make_frame: Any) -> None:
    frame = make_frame([5, 4, 3, 4, 5, 6, 5, 4, 3])
    # SMA(1) = close vs SMA(3): cross up on bar 3 (4 > 3.67), down on bar 6 (5 < 5.33).
    assert both_paths("ma_cross", frame, fast=1, slow=3) == [0, 0, 0, 1, 0, 0, -1, 0, 0]


def test_ma_cross_params_are_tunable_and_coerced(make_frame: Any) -> None:
    strategy = get_strategy("ma_cross", fast="2", slow="4")
    assert (strategy.fast, strategy.slow) == (2, 4)
    prepared = strategy.prepare(make_frame([1, 2, 3, 4, 5]))
    assert prepared["sma_slow"].iloc[-1] == pytest.approx(3.5)


def test_db_ma_cross_buys_while_ma20_above_ma50(make_frame: Any) -> None:
    frame = make_frame([1] * 4, ma20=[nan, 2, 1, 1], ma50=[nan, 1, 2, 1])
    assert both_paths("db_ma_cross", frame) == [0, 1, -1, 0]


def test_rsi_buys_oversold_sells_overbought(make_frame: Any) -> None:
    frame = make_frame([1] * 5, rsi=[nan, 25, 50, 75, 30])
    assert both_paths("rsi", frame) == [0, 1, 0, -1, 0]


def test_bollinger_buys_below_lower_sells_above_upper(make_frame: Any) -> None:
    frame = make_frame([10, 8, 10, 13], bb_lower=[nan, 9, 9, 9], bb_upper=[nan, 12, 12, 12])
    assert both_paths("bollinger", frame) == [0, 1, 0, -1]


def test_macd_trades_signal_line_crosses(make_frame: Any) -> None:
    frame = make_frame(
        [1] * 5, macd=[nan, -1, 1, 2, -1], macd_signal=[nan, 0, 0, 1, 0]
    )
    assert both_paths("macd", frame) == [0, 0, 1, 0, -1]


def test_supertrend_trades_trend_flips(make_frame: Any) -> None:
    frame = make_frame([1] * 5, supertrend_trend=[nan, -1, 1, 1, -1])
    assert both_paths("supertrend", frame) == [0, 0, 1, 0, -1]


def test_ath_breakout_buys_new_highs_and_stops_below_supertrend(make_frame: Any) -> None:
    frame = make_frame(
        [10, 12, 11, 13, 9],
        ath=[11, 13, 13, 14, 14],
        supertrend=[nan, 8, 8, 9, 10],
    )
    # bar 1: 12 > 11 (previous ath) -> BUY; bar 3: 13 > 13? no; bar 4: 9 < 10 -> SELL.
    assert both_paths("ath_breakout", frame) == [0, 1, 0, 0, -1]


def test_streak_buys_after_three_down_closes_sells_after_five_up(make_frame: Any) -> None:
    closes = [10, 9, 8, 7, 6, 7, 8, 9, 10, 11, 12, 12]
    assert both_paths("streak", make_frame(closes)) == [0, 0, 0, 1, 1, 0, 0, 0, 0, -1, -1, 0]


def test_hello_world_buys_once_on_first_bar(make_frame: Any) -> None:
    assert both_paths("hello_world", make_frame([1, 2, 3])) == [1, 0, 0]


def test_warmup_nan_never_signals(indicator_frame: pd.DataFrame) -> None:
    warm = indicator_frame.iloc[:60]
    for name in ("db_ma_cross", "rsi", "bollinger", "macd", "supertrend"):
        strategy = get_strategy(name)
        signals = strategy.signals(strategy.prepare(warm))
        assert not signals[: strategy.warmup_bars(warm)].any(), name
