"""Position sizing modes, on hand-made bars (entry on bar 1's open at 100)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.backtest.test_exits import FLAT, Script, bars

from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.errors import InvalidInputError


def entry(**config: Any) -> tuple[float, float]:
    """(quantity, commission) of the entry a BUY on bar 0 makes with ``config``."""
    frame = bars(FLAT, FLAT, FLAT)
    result = run_backtest(frame, Script({0: "BUY"}), BacktestConfig(cash=1000, **config))
    fill = result.fills.iloc[0]
    return float(fill["quantity"]), float(fill["commission"])


def test_all_in_is_the_default_and_unchanged() -> None:
    assert entry() == (10.0, 0.0)
    assert entry(sizing="all_in") == (10.0, 0.0)


def test_percent_of_equity_commits_that_fraction_costs_included() -> None:
    assert entry(sizing="percent", size=0.5) == (5.0, 0.0)
    qty, fee = entry(sizing="percent", size=0.5, commission_bps=10)
    assert qty * 100.0 + fee == pytest.approx(500.0)


def test_fixed_cash_spends_that_amount() -> None:
    assert entry(sizing="cash", size=250) == (2.5, 0.0)


def test_fixed_cash_above_the_cash_is_capped_at_all_in() -> None:
    assert entry(sizing="cash", size=5000) == (10.0, 0.0)


def test_fixed_shares_buys_that_many() -> None:
    assert entry(sizing="shares", size=3) == (3.0, 0.0)


def test_fixed_shares_are_capped_at_what_the_cash_pays_for() -> None:
    assert entry(sizing="shares", size=50, whole_shares=True) == (10.0, 0.0)


def test_whole_shares_floor_every_mode() -> None:
    assert entry(sizing="percent", size=0.33, whole_shares=True) == (3.0, 0.0)


def test_volatility_target_sizes_one_atr_move_to_that_fraction_of_equity() -> None:
    # Every bar's true range is 2 (high - low), so ATR(3) is 2: 1 % of 1000 / 2 = 5 shares.
    frame = bars(*[FLAT] * 6)
    result = run_backtest(
        frame, Script({4: "BUY"}),
        BacktestConfig(cash=1000, sizing="volatility", size=0.01, atr_period=3),
    )
    assert result.fills["quantity"].tolist() == [5.0]


def test_volatility_target_waits_for_the_atr() -> None:
    frame = bars(*[FLAT] * 6)
    result = run_backtest(
        frame, Script({0: "BUY"}),
        BacktestConfig(cash=1000, sizing="volatility", size=0.01, atr_period=3),
    )
    assert result.fills.empty


def test_sizing_applies_to_each_entry_from_the_cash_then() -> None:
    frame = bars(FLAT, FLAT, (120, 121, 119, 120), FLAT, FLAT)
    result = run_backtest(
        frame, Script({0: "BUY", 1: "SELL", 2: "BUY"}),
        BacktestConfig(cash=1000, sizing="percent", size=0.5),
    )
    # 5 shares at 100, sold at 120 (+100): the second entry commits half of 1100 at 100.
    assert result.fills["quantity"].tolist() == [5.0, 5.0, 5.5]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sizing": "percent"}, "needs a size"),
        ({"size": 0.5}, "needs a sizing mode"),
        ({"sizing": "percent", "size": 1.5}, "invalid size"),
        ({"sizing": "shares", "size": -1}, "invalid size"),
        ({"sizing": "precent", "size": 0.5}, "did you mean 'percent'"),
        ({"stop_loss": 1.2}, "invalid stop_loss"),
        ({"stop_loss": 3.0, "exit_unit": "atr"}, None),
        ({"exit_unit": "atrs"}, "did you mean 'atr'"),
        ({"limit_entry": 0.01, "fill": "close"}, "limit entries"),
        ({"atr_period": 0}, "invalid atr_period"),
        ({"stop_los": 0.05}, "did you mean 'stop_loss'"),
        ({"risk_free_rate": float("nan")}, "invalid risk_free_rate"),
        ({"allow_short": "yes"}, "invalid allow_short"),
    ],
)
def test_settings_are_validated_with_a_clear_line(config: dict[str, Any], message: str) -> None:
    if message is None:
        BacktestConfig(**config)
        return
    with pytest.raises(InvalidInputError, match=message):
        BacktestConfig(**config)


def test_config_round_trips_through_its_dict() -> None:
    cfg = BacktestConfig(sizing="cash", size=500.0, trailing_stop=0.1, limit_entry=0.01)
    assert BacktestConfig.from_dict(cfg.to_dict()) == cfg


def test_a_stored_config_without_the_new_fields_still_loads() -> None:
    old = {"cash": 1000.0, "fill": "open", "allow_short": False, "whole_shares": False}
    assert BacktestConfig.from_dict(old).sizing == "all_in"


def test_stops_without_high_and_low_are_refused() -> None:
    frame = pd.DataFrame(
        {"open": [1.0, 2.0], "close": [1.0, 2.0]},
        index=pd.date_range("2024-01-01", periods=2, tz="UTC"),
    )
    with pytest.raises(InvalidInputError, match="need high and low"):
        run_backtest(frame, Script({}), BacktestConfig(stop_loss=0.1))
    assert np.isfinite(run_backtest(frame, Script({})).equity.iloc[-1])
