"""The Result object, its JSON form, and the frames the engine accepts."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader import Backtest
from algotrader.backtest import BacktestConfig, Result, run_backtest
from algotrader.backtest.engine import with_indicators
from algotrader.errors import InvalidInputError
from algotrader.indicators import compute_indicators
from algotrader.strategies import Strategy, get_strategy


def ohlcv(n: int = 400, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.r_[close[:1], close[:-1]]
    index = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": 1e6,
        },
        index=index,
    )


def test_profit_factor_with_wins_and_no_losses_is_infinite_and_json_says_inf(
    make_frame: Any,
) -> None:
    result = run_backtest(make_frame([10, 11, 12, 20, 21]), get_strategy("hello_world"))
    assert result.metrics["profit_factor"] == math.inf
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["metrics"]["profit_factor"] == "inf"


def test_undefined_metrics_are_null_in_json(make_frame: Any) -> None:
    result = run_backtest(make_frame([10, 10, 10]), get_strategy("rsi"))
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["metrics"]["win_rate"] is None


def test_trade_and_fill_tables_are_built_when_first_read(make_frame: Any) -> None:
    result = run_backtest(make_frame([10, 11, 12, 11, 13]), get_strategy("hello_world"))
    assert result._cache == {}
    trades = result.trades
    assert result.trades is trades
    assert set(result._cache) == {"trades"}


def test_result_is_a_plain_frozen_dataclass(make_frame: Any) -> None:
    result = run_backtest(make_frame([10, 11, 12]), get_strategy("hello_world"))
    assert dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.strategy = "x"  # type: ignore[misc]
    assert {"strategy", "params", "config", "metrics"} <= {
        f.name for f in dataclasses.fields(Result)
    }
    # The curves are read-only attributes, drawn from the run when first read.
    for name in ("equity", "position"):
        assert isinstance(inspect.getattr_static(Result, name), property)


def test_the_curves_are_drawn_when_first_read(make_frame: Any) -> None:
    result = run_backtest(make_frame([10, 11, 12, 11, 13, 14]), get_strategy("hello_world"))
    assert "equity" not in result._cache and result.summary().startswith("bars=6 ")
    equity = result.equity
    assert result.equity is equity and result.position is result._cache["position"]
    assert equity.index.equals(result.position.index) and len(equity) == 6


def test_trades_record_their_exit_reason(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12, 11, 13])
    result = run_backtest(frame, get_strategy("hello_world"))
    assert result.trades["exit_reason"].tolist() == ["open"]
    assert result.fills["reason"].tolist() == ["signal"]


def test_downloaded_column_names_work_in_any_case() -> None:
    frame = ohlcv()
    upper = frame.rename(columns=str.capitalize)
    expected = run_backtest(frame, get_strategy("rsi"))
    result = Backtest(upper, "rsi").run()
    assert result.trades.equals(expected.trades)
    assert result.metrics["num_trades"] > 0


def test_a_date_column_instead_of_an_index_works() -> None:
    frame = ohlcv()
    flat = frame.rename(columns=str.upper).reset_index().rename(columns={"ts": "Date"})
    flat["Date"] = flat["Date"].dt.strftime("%Y-%m-%d")
    result = Backtest(flat, "rsi").run()
    assert result.equity.index.equals(frame.index)


def test_bars_out_of_time_order_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not in time order"):
        run_backtest(ohlcv().iloc[::-1], get_strategy("rsi"))


def test_only_the_requested_stored_indicators_are_added() -> None:
    frame = ohlcv()
    out = with_indicators(frame, ("rsi", "sma_fast"))
    assert list(out.columns) == [*frame.columns, "rsi"]
    assert with_indicators(out, ("rsi",)) is out


def test_an_indicator_read_in_on_bar_is_computed_when_the_frame_lacks_it() -> None:
    seen: list[float] = []

    class ReadsRsi(Strategy):
        def on_bar(self, i: int, row: Any, df: Any) -> None:
            seen.append(row["RSI"])

    frame = ohlcv()
    run_backtest(frame, ReadsRsi())
    expected = compute_indicators(frame, ["rsi"])["rsi"].to_numpy()
    np.testing.assert_array_equal(np.array(seen), expected)


def test_a_column_first_read_late_is_current_on_every_bar(make_frame: Any) -> None:
    seen: list[tuple[int, float]] = []

    class LateReader(Strategy):
        def on_bar(self, i: int, row: Any, df: Any) -> None:
            if i >= 3:
                seen.append((i, row["close"]))

    frame = make_frame(np.arange(1.0, 200.0))
    run_backtest(frame, LateReader())
    assert seen == [(i, float(i + 1)) for i in range(3, 199)]


def test_buy_hold_and_alpha_are_the_same_for_every_strategy() -> None:
    frame = ohlcv()
    runs = [Backtest(frame, name).run() for name in ("rsi", "macd", "ma_cross", "bollinger")]
    assert len({r.metrics["buy_hold_return"] for r in runs}) == 1
    for r in runs:
        assert r.metrics["alpha"] == r.metrics["total_return"] - r.metrics["buy_hold_return"]


def test_backtest_accepts_the_new_settings() -> None:
    result = Backtest(ohlcv(), "rsi", stop_loss=0.05, sizing="percent", size=0.5).run()
    assert result.config == BacktestConfig(stop_loss=0.05, sizing="percent", size=0.5)


def test_signals_reading_an_indicator_computes_only_that_one() -> None:
    seen: dict[str, Any] = {}

    class ReadsRsi:
        def signals(self, frame: pd.DataFrame) -> np.ndarray:
            rsi = frame["rsi"].to_numpy()
            seen["columns"] = set(frame.columns)
            seen["rsi"] = rsi
            return np.where(rsi < 30, 1, np.where(rsi > 70, -1, 0))

    frame = ohlcv()
    run_backtest(frame, ReadsRsi())
    assert "rsi" in seen["columns"] and "macd" not in seen["columns"]
    expected = compute_indicators(frame, ["rsi"])["rsi"].to_numpy()
    np.testing.assert_array_equal(seen["rsi"], expected)


def test_prepare_can_read_a_stored_indicator_the_frame_lacks() -> None:
    class AboveMa20(Strategy):
        def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
            return frame.assign(above=(frame.close > frame.ma20).astype(float))

        def on_bar(self, i: int, row: Any, df: Any) -> str:
            return "BUY" if row["above"] else "SELL"

    result = run_backtest(ohlcv(), AboveMa20())
    assert result.metrics["num_trades"] > 0
