"""The backtest stepped one bar at a time (what live trading runs) decides the backtest's
orders, bar for bar, on every path (compiled rule, signals, on_bar, seed form) and sizing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.backtest.incremental import (
    IncrementalDecider,
    book_from_json,
    book_to_json,
    check_live_config,
)
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.errors import InvalidInputError
from algotrader.strategies import Strategy
from algotrader.strategies.registry import get_strategy


class AboveMA(Strategy):
    """on_bar only, reads a stored indicator column in another case."""

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> str | None:
        if row["close"] > row["MA20"]:
            return "BUY"
        return "SELL" if row["close"] < row["ma20"] else None


class SeedForm:
    """The seed form: on_bar(date, row, portfolio), reading the book."""

    def __init__(self) -> None:
        self.n = 0

    def on_bar(self, date: Any, row: Any, portfolio: Any) -> str | None:
        self.n += 1
        if self.n % 37 == 0 and not portfolio.in_position:
            return "BUY"
        return "SELL" if self.n % 53 == 0 and portfolio.position > 0 else None


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    start, end = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 9, tzinfo=UTC)
    return SyntheticProvider().fetch_bars("MSFT", "1m", start, end).iloc[:260]


def _stepped(strategy: Any, config: BacktestConfig, bars: pd.DataFrame) -> dict[tuple, float]:
    decider = IncrementalDecider(strategy, config, bars.iloc[:0])
    out: dict[tuple, float] = {}
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy()
    for i in range(len(bars) - 1):
        decision = decider.step(bars.index[i], *values[i], next_open=values[i + 1][0])
        if decision.side is not None:
            out[(bars.index[i + 1], decision.side)] = abs(decision.delta)
            decider.commit(decision)
    return out


def _backtest(strategy: Any, config: BacktestConfig, bars: pd.DataFrame) -> dict[tuple, float]:
    fills = run_backtest(bars, strategy, config).fills
    return dict(fills.groupby(["ts", "action"])["quantity"].sum().items())


@pytest.mark.parametrize(
    ("make", "config"),
    [
        (lambda: get_strategy("ma_cross", fast=5, slow=20), BacktestConfig()),
        (
            lambda: get_strategy("rsi"),
            BacktestConfig(allow_short=True, whole_shares=True, commission_per_share=0.01),
        ),
        (lambda: get_strategy("streak"), BacktestConfig(sizing="percent", size=0.5)),
        (
            lambda: get_strategy("macd"),
            BacktestConfig(sizing="volatility", size=0.01, allow_short=True),
        ),
        (
            lambda: get_strategy("supertrend"),
            BacktestConfig(commission_min=1.0, slippage_bps=2, allow_short=True),
        ),
        (AboveMA, BacktestConfig(sizing="cash", size=5000.0, whole_shares=True)),
        (SeedForm, BacktestConfig(sizing="shares", size=10.0)),
    ],
)
def test_stepping_decides_the_backtests_fills(make: Any, config: BacktestConfig,
                                              bars: pd.DataFrame) -> None:  # fmt: skip
    expected = _backtest(make(), config, bars)
    assert expected  # the series trades
    assert _stepped(make(), config, bars) == expected


def test_a_restarted_decider_continues_with_the_same_decisions(bars: pd.DataFrame) -> None:
    config = BacktestConfig(allow_short=True)
    whole = _stepped(AboveMA(), config, bars)
    first = IncrementalDecider(AboveMA(), config, bars.iloc[:0])
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy()
    for i in range(150):
        decision = first.step(bars.index[i], *values[i], next_open=values[i + 1][0])
        if decision.side is not None:
            first.commit(decision)
    book = book_from_json(book_to_json(first.book))  # as stored
    again = IncrementalDecider(AboveMA(), config, bars.iloc[:150], book)
    for i in range(150, len(bars) - 1):
        decision = again.step(bars.index[i], *values[i], next_open=values[i + 1][0])
        if decision.side is not None:
            assert whole.get((bars.index[i + 1], decision.side)) == abs(decision.delta)
            again.commit(decision)


def test_bars_must_come_in_time_order(bars: pd.DataFrame) -> None:
    decider = IncrementalDecider(get_strategy("ma_cross"), BacktestConfig(), bars.iloc[:50])
    with pytest.raises(InvalidInputError, match="not after the last bar"):
        decider.step(bars.index[10], 1.0, 1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("config", "flag"),
    [
        (BacktestConfig(fill="close"), "--fill close"),
        (BacktestConfig(stop_loss=0.05), "--stop-loss"),
        (BacktestConfig(trailing_stop=0.05), "--trailing-stop"),
        (BacktestConfig(limit_entry=0.01), "--limit-entry"),
    ],
)
def test_backtest_only_settings_are_refused(config: BacktestConfig, flag: str) -> None:
    with pytest.raises(InvalidInputError, match=flag):
        check_live_config(config)
