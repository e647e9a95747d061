"""Rows read only by constant keys are plain dicts; every other use keeps the Row."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from algotrader.backtest._on_bar import BarSource, _constant_reads
from algotrader.backtest.engine import run_backtest, signals_from_on_bar


class ByKeys:
    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        if row["ma20"] > row["MA50"]:
            return "BUY"
        return "SELL" if row["ma20"] < row["MA50"] else None


class ByAttributes:
    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        if row.ma20 > row.ma50:
            return "BUY"
        return "SELL" if row.ma20 < row.ma50 else None


def _helper(row: Any) -> float:
    return float(row["close"])


class ByGet:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if row.get("close", 0) > 0 else None


class ByHelper:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if _helper(row) > 0 else None


class ByVariableKey:
    key = "close"

    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if row[self.key] > 0 else None


class ByClosure:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if (lambda: row["close"])() > 0 else None


class ByLocals:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if locals()["row"]["close"] > 0 else None


class ByRebinding:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        row = {"close": 1.0}
        return "BUY" if row["close"] > 0 else None


class ByDateKey:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if row["date"].day > 1 else None


class SeedForm:
    def on_bar(self, date: Any, row: Any, portfolio: Any) -> Any:
        return "BUY" if row["close"] > 0 else None


def test_constant_keys_are_found_with_their_columns(indicator_frame: pd.DataFrame) -> None:
    source = BarSource(indicator_frame)
    assert _constant_reads(ByKeys().on_bar, "i", source) == [("ma20", "ma20"), ("MA50", "ma50")]
    assert _constant_reads(SeedForm().on_bar, "date", source) == [("close", "close")]


@pytest.mark.parametrize(
    "strategy",
    [ByAttributes, ByGet, ByHelper, ByVariableKey, ByClosure, ByLocals, ByRebinding, ByDateKey],
)
def test_any_other_use_of_the_row_keeps_the_row(
    indicator_frame: pd.DataFrame, strategy: type
) -> None:
    assert _constant_reads(strategy().on_bar, "i", BarSource(indicator_frame)) is None


def test_a_constant_key_the_frame_lacks_is_computed_like_a_row_read(
    indicator_frame: pd.DataFrame,
) -> None:
    class ReadsRsi:
        def on_bar(self, i: int, row: Any, df: Any) -> Any:
            return "BUY" if row["rsi"] < 30 else ("SELL" if row["rsi"] > 70 else None)

    class ReadsRsiByAttribute:
        def on_bar(self, i: int, row: Any, df: Any) -> Any:
            return "BUY" if row.rsi < 30 else ("SELL" if row.rsi > 70 else None)

    bars = indicator_frame.drop(columns=["rsi"])
    plain = signals_from_on_bar(ReadsRsi(), bars)
    assert plain.tolist() == signals_from_on_bar(ReadsRsiByAttribute(), bars).tolist()
    assert {1, -1} <= set(plain.tolist())


def test_plain_dict_rows_and_rows_give_the_same_backtest(indicator_frame: pd.DataFrame) -> None:
    fast = run_backtest(indicator_frame, ByKeys(), path="on_bar")
    reference = run_backtest(indicator_frame, ByAttributes(), path="on_bar")
    assert fast.metrics["num_trades"] > 5
    pd.testing.assert_frame_equal(fast.trades, reference.trades, check_exact=True)
    assert fast.equity.to_numpy().tobytes() == reference.equity.to_numpy().tobytes()
