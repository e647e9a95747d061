"""What on_bar does with its arguments decides the row it gets and the timestamps built."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pandas as pd
import pytest

from algotrader.backtest._argument_uses import constant_subscripts, never_read
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


class ByFrame:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        frame = inspect.currentframe()
        return "BUY" if frame is not None and frame.f_locals["row"]["close"] > 0 else None


class ByRebinding:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        row = {"close": 1.0}
        return "BUY" if row["close"] > 0 else None


class ByDateKey:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if row["date"].day > 1 else None


class ByDateStamp:
    def on_bar(self, date: Any, row: Any, portfolio: Any) -> Any:
        return "BUY" if date.day % 2 else "SELL"


def _passing_through(function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return wrapper


class Decorated:
    @_passing_through
    def on_bar(self, i: int, row: Any, df: Any) -> str:
        return "BUY" if row["close"] > row["open"] else "SELL"


class DecoratedSeedForm:
    @_passing_through
    def on_bar(self, date: Any, row: Any, portfolio: Any) -> str:
        return "BUY" if date.day % 2 else "SELL"


class ByQuery:
    def on_bar(self, i: int, row: Any, df: Any) -> Any:
        return "BUY" if len(df.query("close > @row['close']")) == 0 else None


class SeedForm:
    def on_bar(self, date: Any, row: Any, portfolio: Any) -> Any:
        return "BUY" if row["close"] > 0 else None


def test_constant_keys_are_found_in_order() -> None:
    assert constant_subscripts(ByKeys().on_bar, 1) == ["ma20", "MA50"]
    assert constant_subscripts(SeedForm().on_bar, 1) == ["close"]


@pytest.mark.parametrize(
    "strategy",
    [
        ByAttributes, ByGet, ByHelper, ByVariableKey, ByClosure, ByLocals, ByFrame,
        ByRebinding, ByQuery, Decorated,
    ],
)
def test_any_other_use_of_the_row_gives_no_keys(strategy: type) -> None:
    assert constant_subscripts(strategy().on_bar, 1) is None


def test_an_argument_is_never_read_only_when_no_instruction_names_it() -> None:
    assert never_read(SeedForm().on_bar, 0)  # the date
    assert not never_read(SeedForm().on_bar, 1)  # the row
    assert not never_read(ByDateStamp().on_bar, 0)
    assert not never_read(ByLocals().on_bar, 0)  # locals() can reach every argument


def test_a_wrapped_on_bar_gets_no_answer() -> None:
    # inspect.signature follows __wrapped__ to names the wrapper's own code never uses.
    assert constant_subscripts(Decorated().on_bar, 1) is None
    assert not never_read(DecoratedSeedForm().on_bar, 0)


@pytest.mark.parametrize("strategy", [Decorated, DecoratedSeedForm, ByQuery])
def test_strategies_the_analysis_refuses_see_full_rows_and_dates(
    indicator_frame: pd.DataFrame, strategy: type
) -> None:
    result = run_backtest(indicator_frame.iloc[:200], strategy(), path="on_bar")
    assert result.metrics["num_trades"] >= 1


def test_a_timestamp_is_built_for_a_strategy_that_reads_it(indicator_frame: pd.DataFrame) -> None:
    bars = indicator_frame.iloc[:40]
    signals = signals_from_on_bar(ByDateStamp(), bars)
    expected = [1 if stamp.day % 2 else -1 for stamp in bars.index]
    assert signals.tolist() == expected


def test_a_strategy_that_reads_its_bar_index_gets_it(indicator_frame: pd.DataFrame) -> None:
    class ByIndex:
        def on_bar(self, i: int, row: Any, df: Any) -> Any:
            return "BUY" if i % 3 == 0 and row["close"] > 0 else "SELL"

    bars = indicator_frame.iloc[:40]
    assert not never_read(ByIndex().on_bar, 0)
    expected = [1 if i % 3 == 0 else -1 for i in range(len(bars))]
    assert signals_from_on_bar(ByIndex(), bars).tolist() == expected


def test_a_date_key_the_frame_lacks_is_the_bar_timestamp(indicator_frame: pd.DataFrame) -> None:
    bars = indicator_frame.iloc[:40]
    expected = [1 if stamp.day > 1 else 0 for stamp in bars.index]
    assert signals_from_on_bar(ByDateKey(), bars).tolist() == expected


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


def test_a_text_column_reads_the_same_through_either_row(indicator_frame: pd.DataFrame) -> None:
    bars = indicator_frame.iloc[:30].assign(tag=["up" if i % 3 else "down" for i in range(30)])

    class ByKey:
        def on_bar(self, i: int, row: Any, df: Any) -> Any:
            return "BUY" if row["tag"] == "up" else "SELL"

    class ByName:
        def on_bar(self, i: int, row: Any, df: Any) -> Any:
            return "BUY" if row.tag == "up" else "SELL"

    expected = [1 if i % 3 else -1 for i in range(30)]
    assert signals_from_on_bar(ByKey(), bars).tolist() == expected
    assert signals_from_on_bar(ByName(), bars).tolist() == expected
