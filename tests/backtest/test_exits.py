"""Stops, take-profits, trailing stops and limit entries, bar by bar on hand-made series.

Each series is a list of (open, high, low, close) bars; a scripted strategy signals on given bars,
so every expected fill below follows from the documented rules, not from the engine's output:
a signal on bar t's close fills at bar t+1's open, stops are checked before take-profits, an open
beyond a level fills at the open, the trailing level moves after the bar's check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.strategies import Strategy


class Script(Strategy):
    """Answers a fixed plan: {bar: "BUY"/"SELL"}."""

    name = "script"

    def __init__(self, plan: dict[int, str]) -> None:
        super().__init__()
        self.plan = plan

    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        return self.plan.get(i)


def bars(*rows: tuple[float, float, float, float]) -> pd.DataFrame:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    index = pd.date_range("2024-01-01", periods=len(rows), freq="D", tz="UTC", name="ts")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1.0}, index=index)


def run(frame: pd.DataFrame, plan: dict[int, str], **config: Any) -> Any:
    return run_backtest(frame, Script(plan), BacktestConfig(cash=1000, **config))


def fills(result: Any) -> list[tuple[int, str, float, str]]:
    """(bar, action, price, reason) per fill."""
    index = list(result.equity.index)
    return [
        (index.index(ts), action, price, reason)
        for ts, action, price, reason in result.fills[["ts", "action", "price", "reason"]]
        .itertuples(index=False, name=None)
    ]


FLAT = (100.0, 101.0, 99.0, 100.0)


def test_stop_loss_fills_at_the_stop_inside_the_bar() -> None:
    frame = bars(FLAT, FLAT, (99, 100, 94, 96), FLAT)
    result = run(frame, {0: "BUY"}, stop_loss=0.05)
    assert fills(result) == [(1, "BUY", 100.0, "signal"), (2, "SELL", 95.0, "stop_loss")]
    assert result.trades["exit_reason"].tolist() == ["stop_loss"]
    assert result.trades["pnl"].iloc[0] == pytest.approx(10 * (95.0 - 100.0))


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    frame = bars(FLAT, FLAT, (90, 92, 88, 91), FLAT)
    result = run(frame, {0: "BUY"}, stop_loss=0.05)
    assert fills(result)[1] == (2, "SELL", 90.0, "stop_loss")


def test_stop_and_take_profit_in_one_bar_the_stop_wins() -> None:
    frame = bars(FLAT, FLAT, (100, 111, 94, 105), FLAT)
    result = run(frame, {0: "BUY"}, stop_loss=0.05, take_profit=0.10)
    assert fills(result)[1] == (2, "SELL", 95.0, "stop_loss")


def test_take_profit_fills_at_its_level_without_slippage() -> None:
    frame = bars(FLAT, FLAT, (101, 111, 100, 108), FLAT)
    result = run(frame, {0: "BUY"}, take_profit=0.10, slippage_bps=10)
    entry = 100.0 * (1 + 10e-4)
    assert fills(result)[1] == (2, "SELL", pytest.approx(entry * 1.10), "take_profit")


def test_a_gap_through_the_take_profit_fills_at_the_better_open() -> None:
    frame = bars(FLAT, FLAT, (115, 116, 113, 114), FLAT)
    result = run(frame, {0: "BUY"}, take_profit=0.10)
    assert fills(result)[1] == (2, "SELL", 115.0, "take_profit")


def test_stop_exits_pay_slippage() -> None:
    frame = bars(FLAT, FLAT, (99, 100, 94, 96), FLAT)
    result = run(frame, {0: "BUY"}, stop_loss=0.05, slippage_bps=10)
    entry = 100.0 * (1 + 10e-4)
    assert fills(result)[1][2] == pytest.approx(entry * 0.95 * (1 - 10e-4))


def test_the_entry_bar_itself_is_checked_after_a_market_entry_at_the_open() -> None:
    frame = bars(FLAT, (100, 101, 94, 97), FLAT)
    result = run(frame, {0: "BUY"}, stop_loss=0.05)
    assert fills(result) == [(1, "BUY", 100.0, "signal"), (1, "SELL", 95.0, "stop_loss")]


def test_trailing_stop_follows_the_high_after_each_bars_check() -> None:
    frame = bars(
        FLAT,
        (100, 105, 99, 104),  # entry 100; after the check the trail rises to 105 * 0.9 = 94.5
        (104, 120, 95, 118),  # low 95 is above 94.5 (checked first); then trail = 108
        (118, 119, 107, 110),  # low 107 <= 108: out at 108
        FLAT,
    )
    result = run(frame, {0: "BUY"}, trailing_stop=0.10)
    assert fills(result) == [(1, "BUY", 100.0, "signal"), (3, "SELL", 108.0, "trailing_stop")]


def test_the_tighter_of_stop_loss_and_trailing_stop_binds() -> None:
    frame = bars(FLAT, (100, 130, 99, 128), (128, 129, 112, 113))
    # Stop-loss 95; trailing 20 % from 130 = 104: the trail is tighter and reported.
    result = run(frame, {0: "BUY"}, stop_loss=0.05, trailing_stop=0.20)
    assert result.trades["exit_reason"].tolist() == ["open"]
    frame = bars(FLAT, (100, 130, 99, 128), (110, 111, 100, 101), FLAT)
    result = run(frame, {0: "BUY"}, stop_loss=0.05, trailing_stop=0.20)
    assert fills(result)[1] == (2, "SELL", 104.0, "trailing_stop")


def test_short_positions_stop_above_and_take_profit_below() -> None:
    frame = bars(FLAT, FLAT, (101, 106, 100, 104), FLAT)
    result = run(frame, {0: "SELL"}, stop_loss=0.05, allow_short=True)
    assert fills(result) == [(1, "SELL", 100.0, "signal"), (2, "BUY", 105.0, "stop_loss")]
    frame = bars(FLAT, FLAT, (99, 100, 89, 92), FLAT)
    result = run(frame, {0: "SELL"}, take_profit=0.10, allow_short=True)
    assert fills(result)[1] == (2, "BUY", 90.0, "take_profit")


def test_atr_multiples_are_measured_with_the_signal_bars_atr() -> None:
    # Every bar has a true range of 2, so Wilder ATR(3) is 2 from bar 3 on.
    rows = [(100.0, 101.0, 99.0, 100.0)] * 5 + [(100, 101, 95.5, 97)] + [FLAT]
    frame = bars(*rows)
    result = run(frame, {4: "BUY"}, stop_loss=2.0, exit_unit="atr", atr_period=3)
    assert fills(result) == [(5, "BUY", 100.0, "signal"), (5, "SELL", 96.0, "stop_loss")]


def test_entries_wait_for_the_atr_when_exits_are_in_atr() -> None:
    frame = bars(*[FLAT] * 6)
    result = run(frame, {0: "BUY"}, stop_loss=2.0, exit_unit="atr", atr_period=3)
    assert result.fills.empty


def test_a_stop_exit_is_not_undone_by_a_stay_long_signal() -> None:
    # The rule says BUY every bar. Stopped out on bar 2's open (gap), the BUY decided on bar 1
    # (while long) means "stay long", not "buy again"; bar 2's BUY re-enters at bar 3's open.
    frame = bars(FLAT, FLAT, (90, 92, 88, 91), (92, 93, 91, 92), FLAT)
    result = run(frame, dict.fromkeys(range(5), "BUY"), stop_loss=0.05)
    assert fills(result) == [
        (1, "BUY", 100.0, "signal"),
        (2, "SELL", 90.0, "stop_loss"),
        (3, "BUY", 92.0, "signal"),
    ]


def test_a_limit_entry_fills_at_its_price_when_the_low_reaches_it() -> None:
    frame = bars(FLAT, (99.5, 100, 97.5, 99), FLAT)
    result = run(frame, {0: "BUY"}, limit_entry=0.02)
    assert fills(result) == [(1, "BUY", 98.0, "limit")]


def test_a_limit_entry_fills_at_the_open_when_it_opens_below() -> None:
    frame = bars(FLAT, (97, 99, 96, 98), FLAT)
    assert fills(run(frame, {0: "BUY"}, limit_entry=0.02)) == [(1, "BUY", 97.0, "limit")]


def test_an_unfilled_limit_entry_expires_after_its_bars() -> None:
    frame = bars(FLAT, (99.5, 101, 98.5, 100), (99, 100, 97, 98), FLAT)
    assert run(frame, {0: "BUY"}, limit_entry=0.02).fills.empty
    result = run(frame, {0: "BUY"}, limit_entry=0.02, limit_bars=2)
    assert fills(result) == [(2, "BUY", 98.0, "limit")]


def test_an_opposite_signal_cancels_a_resting_limit_entry() -> None:
    frame = bars(FLAT, (99.5, 101, 98.5, 100), (99, 100, 97, 98), FLAT)
    result = run(frame, {0: "BUY", 1: "SELL"}, limit_entry=0.02, limit_bars=3)
    assert result.fills.empty


def test_on_a_limit_fill_bar_the_stop_is_checked_but_not_the_take_profit() -> None:
    frame = bars(FLAT, (99, 120, 90, 100), FLAT)
    # Limit 98 fills; the low 90 also reaches the 5 % stop (93.1): out, pessimistically.
    result = run(frame, {0: "BUY"}, limit_entry=0.02, stop_loss=0.05, take_profit=0.1)
    assert fills(result) == [(1, "BUY", 98.0, "limit"), (1, "SELL", 93.1, "stop_loss")]
    frame = bars(FLAT, (99, 120, 97, 100), FLAT)
    result = run(frame, {0: "BUY"}, limit_entry=0.02, take_profit=0.1)
    assert fills(result) == [(1, "BUY", 98.0, "limit")]


def test_fill_at_close_entries_are_checked_from_the_next_bar() -> None:
    frame = bars(FLAT, (100, 101, 96, 100), (100, 101, 94, 96))
    result = run(frame, {0: "BUY"}, stop_loss=0.05, fill="close")
    assert fills(result) == [(0, "BUY", 100.0, "signal"), (2, "SELL", 95.0, "stop_loss")]
