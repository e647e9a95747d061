"""Equal-weight and inverse-volatility monthly rebalancing against an independent computation.

The reference below is written from the documented rules only (plain numpy/pandas, a loop over
bars): decide on the first bar of each month's close, trade at the next bar's open, value the book
at that open, target weight x equity / open shares, sell first, then scale all buys by one factor
to the cash left after sells and fees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrader.portfolio import Portfolio

COSTS = {"commission_bps": 5.0, "commission_per_share": 0.01, "slippage_bps": 3.0}


def _reference(
    bars: dict[str, pd.DataFrame], weights_at: pd.DataFrame, cash: float,
    bps: float = 0.0, per_share: float = 0.0, slippage_bps: float = 0.0,
) -> np.ndarray:
    symbols = sorted(bars)
    opens = pd.DataFrame({s: bars[s]["open"] for s in symbols}).to_numpy()
    closes = pd.DataFrame({s: bars[s]["close"] for s in symbols}).to_numpy()
    index = bars[symbols[0]].index
    month = index.year * 12 + index.month
    decide = np.r_[True, month[1:] != month[:-1]]
    shares = np.zeros(len(symbols))
    equity = np.empty(len(index))
    for t in range(len(index)):
        if t > 0 and decide[t - 1]:
            px = opens[t]
            value = cash + shares @ px
            delta = weights_at.iloc[t - 1].to_numpy() * value / px - shares
            sell = delta < 0
            sell_px = px[sell] * (1 - slippage_bps / 1e4)
            sold = -delta[sell]
            cash += np.sum(sold * sell_px - (sold * per_share + sold * sell_px * bps / 1e4))
            shares[sell] += delta[sell]
            buy = delta > 0
            buy_px = px[buy] * (1 + slippage_bps / 1e4)
            need = np.sum(delta[buy] * (buy_px + per_share + buy_px * bps / 1e4))
            scale = min(1.0, cash / need) if need > 0 else 1.0
            shares[buy] += delta[buy] * scale
            cash -= need * scale
        equity[t] = cash + shares @ closes[t]
    return equity


def _equal_weights(bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    symbols = sorted(bars)
    index = bars[symbols[0]].index
    return pd.DataFrame(1.0 / len(symbols), index=index, columns=symbols)


def _inverse_vol_weights(bars: dict[str, pd.DataFrame], lookback: int) -> pd.DataFrame:
    close = pd.DataFrame({s: bars[s]["close"] for s in sorted(bars)})
    sigma = close.pct_change().rolling(lookback).std(ddof=1)
    inverse = 1.0 / sigma
    return inverse.div(inverse.sum(axis=1), axis=0).fillna(0.0)


@pytest.mark.parametrize("costs", [{}, COSTS], ids=["no_costs", "costs"])
def test_equal_weight_monthly_matches_the_reference(
    five_symbols: dict[str, pd.DataFrame], costs: dict[str, float]
) -> None:
    result = Portfolio(five_symbols, "equal", "monthly", cash=50_000, **costs).run()
    expected = _reference(
        five_symbols, _equal_weights(five_symbols), 50_000.0,
        bps=costs.get("commission_bps", 0.0), per_share=costs.get("commission_per_share", 0.0),
        slippage_bps=costs.get("slippage_bps", 0.0),
    )
    assert result.equity.iloc[-1] == pytest.approx(expected[-1], rel=1e-9)
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("costs", [{}, COSTS], ids=["no_costs", "costs"])
def test_inverse_volatility_monthly_matches_the_reference(
    five_symbols: dict[str, pd.DataFrame], costs: dict[str, float]
) -> None:
    result = Portfolio(five_symbols, "inverse_vol", "monthly", cash=50_000, **costs).run(
        lookback=40
    )
    expected = _reference(
        five_symbols, _inverse_vol_weights(five_symbols, 40), 50_000.0,
        bps=costs.get("commission_bps", 0.0), per_share=costs.get("commission_per_share", 0.0),
        slippage_bps=costs.get("slippage_bps", 0.0),
    )
    assert result.equity.iloc[-1] == pytest.approx(expected[-1], rel=1e-9)
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=1e-9)


def test_the_costs_case_really_trades_with_costs(five_symbols: dict[str, pd.DataFrame]) -> None:
    free = Portfolio(five_symbols, "equal", "monthly").run()
    costly = Portfolio(five_symbols, "equal", "monthly", **COSTS).run()
    assert costly.metrics["total_commission"] > 0
    assert costly.equity.iloc[-1] < free.equity.iloc[-1]
    assert (costly.cash >= 0).all()
