"""Different calendars and histories, on hand-made frames with hand-computed books."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrader.portfolio import Portfolio

from .conftest import hand_bars

DAYS = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]


def _ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


@pytest.fixture
def holiday_bars() -> dict[str, pd.DataFrame]:
    # A never moves; B has no bar on 03-06 (its exchange is closed).
    flat = hand_bars([(d, 10.0, 10.0) for d in DAYS])
    gap = hand_bars([(DAYS[0], 20, 20), (DAYS[1], 20, 22), (DAYS[3], 25, 25), (DAYS[4], 25, 25)])
    return {"A": flat, "B": gap}


def test_a_missing_bar_gets_no_order_and_keeps_its_last_close(
    holiday_bars: dict[str, pd.DataFrame],
) -> None:
    result = Portfolio(holiday_bars, "equal", "daily", cash=1000).run()
    # 03-05 open: 500 / 10 = 50 A, 500 / 20 = 25 B. 03-06: B is closed, so A cannot be funded
    # by selling B and nothing trades; B is valued at its 03-05 close (22). 03-07 open: equity
    # 50 x 10 + 25 x 25 = 1125 -> sell 2.5 B at 25, buy 6.25 A at 10.
    np.testing.assert_allclose(result.equity.to_numpy(), [1000, 1050, 1050, 1125, 1125])
    fills = result.fills
    assert not (fills["ts"] == _ts(DAYS[2])).any()
    got = [(str(r.ts.date()), r.symbol, r.action, r.quantity, r.price) for r in fills.itertuples()]
    assert got == [
        ("2024-03-05", "A", "BUY", pytest.approx(50.0), 10.0),
        ("2024-03-05", "B", "BUY", pytest.approx(25.0), 20.0),
        ("2024-03-07", "B", "SELL", pytest.approx(2.5), 25.0),
        ("2024-03-07", "A", "BUY", pytest.approx(6.25), 10.0),
    ]
    assert result.weights.loc[_ts(DAYS[2]), "B"] == pytest.approx(25 * 22 / 1050)
    assert (result.cash >= 0).all()


def test_a_pending_target_fills_on_the_symbols_next_bar(
    holiday_bars: dict[str, pd.DataFrame],
) -> None:
    # Weekly: one decision on 03-04; B's order waits for nothing (both trade on 03-05). Make B
    # closed on 03-05 instead: its target, decided on 03-04, fills at its next open (03-06).
    bars = {
        "A": holiday_bars["A"],
        "B": hand_bars([(DAYS[0], 20, 20), (DAYS[2], 21, 21), (DAYS[3], 21, 21)]),
    }
    result = Portfolio(bars, "equal", "weekly", cash=1000).run()
    first_b = result.fills[result.fills["symbol"] == "B"].iloc[0]
    assert first_b["ts"] == _ts(DAYS[2])
    assert first_b["price"] == 21.0
    assert first_b["quantity"] == pytest.approx(500 / 21)


def test_a_late_symbol_enters_on_its_own_bars() -> None:
    bars = {
        "A": hand_bars([(d, 10.0, 10.0) for d in DAYS]),
        "C": hand_bars([(DAYS[2], 40, 40), (DAYS[3], 50, 50), (DAYS[4], 50, 50)]),
    }
    daily = Portfolio(bars, "equal", "daily", cash=1000).run()
    c_fills = daily.fills[daily.fills["symbol"] == "C"]
    # Listed on 03-06 (decided on its close), bought at its next open: 500 / 50.
    assert list(c_fills["ts"]) == [_ts(DAYS[3])]
    assert c_fills["quantity"].iloc[0] == pytest.approx(10.0)
    assert (daily.weights.loc[: _ts(DAYS[2]), "C"] == 0).all()
    assert daily.targets.loc[_ts(DAYS[1]), "C"] == 0
    monthly = Portfolio(bars, "equal", "monthly", cash=1000).run()
    assert (monthly.fills["symbol"] == "C").sum() == 0  # it waits for next month's rebalance


def test_a_delisted_symbol_is_sold_at_its_last_close() -> None:
    bars = {
        "A": hand_bars([(d, 10.0, 10.0) for d in DAYS]),
        "B": hand_bars([(DAYS[0], 20, 20), (DAYS[1], 20, 20), (DAYS[2], 20, 16)]),
    }
    result = Portfolio(bars, "equal", "monthly", cash=1000, slippage_bps=100).run()
    sale = result.fills[(result.fills["symbol"] == "B") & (result.fills["action"] == "SELL")]
    assert list(sale["ts"]) == [_ts(DAYS[2])]
    assert sale["price"].iloc[0] == pytest.approx(16 * 0.99)
    bought = result.fills[(result.fills["symbol"] == "B")]["quantity"].iloc[0]
    assert sale["quantity"].iloc[0] == bought
    assert (result.weights.loc[_ts(DAYS[2]) :, "B"] == 0).all()
    assert result.per_symbol.loc["B", "delisted"]
    assert not result.per_symbol.loc["A", "delisted"]
    # Buys at open x 1.01 needed 1010 of 1000 cash: both scaled by 1000 / 1010.
    scale = 1000 / 1010
    assert bought == pytest.approx(25 * scale)
    assert result.cash.loc[_ts(DAYS[2])] == pytest.approx(25 * scale * 16 * 0.99)
    assert result.equity.loc[_ts(DAYS[4])] == pytest.approx(25 * scale * 15.84 + 50 * scale * 10)


def test_a_signal_schedule_reinvests_after_a_delisting() -> None:
    bars = {
        "A": hand_bars([(d, 10.0, 10.0) for d in DAYS]),
        "B": hand_bars([(DAYS[0], 20, 20), (DAYS[1], 20, 20), (DAYS[2], 20, 20)]),
    }
    result = Portfolio(bars, "equal", "signal", cash=1000).run()
    # Delisted after 03-06: the listed set changes on 03-07 -> all in A at 03-08's open.
    assert list(result.targets.index) == [_ts(DAYS[0]), _ts(DAYS[3])]
    assert result.weights.loc[_ts(DAYS[4]), "A"] == pytest.approx(1.0)


def test_with_fills_at_the_close_a_delisting_symbol_is_not_bought_on_its_last_bar() -> None:
    bars = {
        "A": hand_bars([(d, 10.0, 10.0) for d in DAYS]),
        "B": hand_bars([(DAYS[0], 20, 20), (DAYS[1], 20, 20), (DAYS[2], 20, 20)]),
    }
    result = Portfolio(bars, "equal", "daily", cash=1000, fill="close").run()
    b = result.fills[result.fills["symbol"] == "B"]
    assert list(zip(b["ts"], b["action"], strict=True)) == [
        (_ts(DAYS[0]), "BUY"), (_ts(DAYS[2]), "SELL"),
    ]


def test_equal_weight_benchmark_buys_each_symbol_when_it_can() -> None:
    bars = {
        "A": hand_bars([(d, 10.0, 10.0 + i) for i, d in enumerate(DAYS)]),
        "C": hand_bars([(DAYS[2], 40, 40), (DAYS[3], 50, 55), (DAYS[4], 50, 60)]),
    }
    result = Portfolio(bars, "equal", "monthly", cash=1000).run()
    # 500 each: A bought at 03-05's open (10), C at its second bar's open (50).
    a = 500 / 10 * np.array([10, 11, 12, 13, 14], dtype=float)
    c = np.array([500, 500, 500, 500 / 50 * 55, 500 / 50 * 60])
    a[0] = 500
    np.testing.assert_allclose(result.benchmark.to_numpy(), a + c)
