"""Order execution: costs, minimum commission, whole shares, margin, shorts, fills at the close."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.errors import InvalidInputError
from algotrader.portfolio import Portfolio, PortfolioStrategy

from .conftest import hand_bars

DAYS = ["2024-05-06", "2024-05-07", "2024-05-08", "2024-05-09"]


class Fixed(PortfolioStrategy):
    """Always the same targets."""

    def __init__(self, targets: dict[str, float]) -> None:
        super().__init__()
        self.targets = targets

    def rebalance(self, date: pd.Timestamp, view: Any, portfolio: Any) -> dict[str, float]:
        return self.targets


def _flat(price: float = 10.0) -> pd.DataFrame:
    return hand_bars([(d, price, price) for d in DAYS])


def test_a_minimum_commission_is_paid_from_the_buy_it_shrinks() -> None:
    result = Portfolio({"A": _flat()}, "equal", "monthly", cash=1000, commission_min=5).run()
    (fill,) = result.fills.itertuples()
    # 100 shares x 10 + 5 > 1000: the buy shrinks to (1000 - 5) / 10 shares.
    assert fill.quantity == pytest.approx(99.5, rel=1e-9)
    assert fill.commission == 5.0
    assert 0 <= result.cash.iloc[-1] < 1e-6


def test_per_share_and_bps_commissions_and_slippage_price_each_fill() -> None:
    bars = {"A": _flat(10.0), "B": _flat(20.0)}
    result = Portfolio(bars, Fixed({"A": 0.25, "B": 0.25}), "monthly", cash=1000,
                       commission_per_share=0.01, commission_bps=10, slippage_bps=50).run()
    a, b = result.fills.itertuples()
    assert (a.quantity, a.price) == (pytest.approx(25.0), pytest.approx(10.05))
    assert (b.quantity, b.price) == (pytest.approx(12.5), pytest.approx(20.1))
    assert a.commission == pytest.approx(25 * 0.01 + 25 * 10.05 * 10 / 1e4)
    assert result.cash.iloc[-1] == pytest.approx(
        1000 - 25 * 10.05 - 12.5 * 20.1 - a.commission - b.commission
    )


def test_whole_shares_trade_integers_and_never_overdraw(
    five_symbols: dict[str, pd.DataFrame],
) -> None:
    result = Portfolio(five_symbols, "equal", "weekly", cash=20_000, whole_shares=True,
                       commission_bps=5, commission_min=1, slippage_bps=5).run()
    quantities = result.fills["quantity"].to_numpy()
    np.testing.assert_array_equal(quantities, np.round(quantities))
    assert (result.cash >= 0).all()


def test_cash_never_goes_negative_under_heavy_costs(five_symbols: dict[str, pd.DataFrame]) -> None:
    result = Portfolio(five_symbols, "inverse_vol", "daily", cash=10_000, commission_min=2,
                       commission_per_share=0.05, commission_bps=20, slippage_bps=30).run(
        lookback=10
    )
    assert result.metrics["num_fills"] > 1000
    assert (result.cash >= 0).all()


def test_margin_lets_buys_borrow() -> None:
    bars = {"A": _flat(10.0), "B": _flat(10.0)}
    result = Portfolio(bars, Fixed({"A": 0.75, "B": 0.75}), "monthly", cash=1000,
                       margin=1.5).run()
    assert result.cash.iloc[-1] == pytest.approx(-500.0)
    assert result.weights.iloc[-1].sum() == pytest.approx(1.5)
    with pytest.raises(InvalidInputError, match=r"add up to 1\.5.*margin"):
        Portfolio(bars, Fixed({"A": 0.75, "B": 0.75}), "monthly", cash=1000).run()


def test_shorts_need_allow_short_and_sell_first() -> None:
    bars = {"A": _flat(10.0), "B": _flat(10.0)}
    book = Fixed({"A": -0.5, "B": 0.5})
    with pytest.raises(InvalidInputError, match="negative"):
        Portfolio(bars, book, "monthly", cash=1000).run()
    result = Portfolio(bars, book, "monthly", cash=1000, allow_short=True).run()
    assert list(result.fills["action"]) == ["SELL", "BUY"]
    assert result.weights.iloc[-1].tolist() == pytest.approx([-0.5, 0.5])
    assert result.cash.iloc[-1] == pytest.approx(1000.0)
    assert result.trades["side"].tolist() == ["short", "long"]


def test_fills_at_the_close_use_the_decision_bars_close() -> None:
    bars = {"A": hand_bars([(DAYS[0], 10, 11), (DAYS[1], 12, 13), (DAYS[2], 13, 13)])}
    result = Portfolio(bars, "equal", "monthly", cash=1100, fill="close").run()
    (fill,) = result.fills.itertuples()
    assert (fill.ts, fill.price, fill.quantity) == (
        pd.Timestamp(DAYS[0], tz="UTC"), 11.0, pytest.approx(100.0)
    )
    with_open = Portfolio(bars, "equal", "monthly", cash=1200).run()
    assert with_open.fills["price"].tolist() == [12.0]


def test_turnover_is_traded_notional_over_twice_mean_equity(
    five_symbols: dict[str, pd.DataFrame],
) -> None:
    result = Portfolio(five_symbols, "equal", "monthly", commission_bps=1).run()
    expected = result.fills["notional"].sum() / 2 / result.equity.mean()
    assert result.metrics["turnover"] == pytest.approx(expected)
    assert result.metrics["avg_holdings"] == pytest.approx(
        (result.weights != 0).sum(axis=1).mean()
    )
