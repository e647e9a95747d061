"""What a chart draws for a strategy: its declaration, or lines derived from what it reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from algotrader.errors import InvalidInputError
from algotrader.plotting.spec import (
    Band,
    Histogram,
    Line,
    Panel,
    PlotSpec,
    Trend,
    plot_spec_for,
    prepared,
)
from algotrader.strategies import base
from algotrader.strategies.registry import get_strategy


def _spec(name: str, frame: pd.DataFrame, **params: Any) -> PlotSpec:
    strategy = get_strategy(name, **params)
    return plot_spec_for(strategy, prepared(strategy, frame))


def test_ma_cross_draws_its_own_windows(indicator_frame: pd.DataFrame) -> None:
    spec = _spec("ma_cross", indicator_frame, fast=10, slow=30)
    assert [item.name for item in spec.price] == ["SMA(10)", "SMA(30)"]
    assert spec.panels == ()


def test_supertrend_draws_the_line_coloured_by_its_trend(indicator_frame: pd.DataFrame) -> None:
    spec = _spec("supertrend", indicator_frame)
    assert spec.price == (Trend("supertrend", "supertrend_trend", "SuperTrend(10, 3)"),)


def test_bollinger_draws_one_band_and_its_middle(indicator_frame: pd.DataFrame) -> None:
    spec = _spec("bollinger", indicator_frame)
    assert spec.price[0] == Band("bb_upper", "bb_lower", "Bollinger(20, 2)")
    assert [item.needs() for item in spec.price] == [("bb_upper", "bb_lower"), ("bb_mid",)]


def test_rsi_gets_a_panel_at_the_strategys_own_levels(indicator_frame: pd.DataFrame) -> None:
    (panel,) = _spec("rsi", indicator_frame, lower=25, upper=80).panels
    assert (panel.title, panel.levels, panel.range) == ("RSI(14)", (25.0, 80.0), (0, 100))


def test_macd_gets_a_panel_with_its_histogram(indicator_frame: pd.DataFrame) -> None:
    (panel,) = _spec("macd", indicator_frame).panels
    assert Histogram("macd", "macd_signal", "histogram") in panel.items
    assert {item.needs()[0] for item in panel.items} == {"macd", "macd_signal"}


def test_a_strategy_that_reads_nothing_known_gets_the_seeds_ma20_ma50(
    indicator_frame: pd.DataFrame,
) -> None:
    spec = _spec("streak", indicator_frame)
    assert [item.name for item in spec.price] == ["MA20", "MA50"]


class _Oscillator(base.Strategy):
    """Reads a derived, non-price column: it belongs in a panel of its own."""

    params: ClassVar[Mapping[str, Any]] = {"window": 5}
    columns = ("momentum_window",)

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(momentum_window=frame["close"].pct_change(self.window))

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> base.Signal:
        return None


def test_a_derived_non_price_column_gets_a_panel_named_after_its_parameter(
    indicator_frame: pd.DataFrame,
) -> None:
    strategy = _Oscillator(window=7)
    spec = plot_spec_for(strategy, prepared(strategy, indicator_frame))
    assert spec.price == ()
    assert [p.title for p in spec.panels] == ["MOMENTUM(7)"]


class _Declared(base.Strategy):
    columns = ("rsi", "ema_fast")

    def plot_spec(self) -> PlotSpec:
        return PlotSpec(price=(Line("ema_fast", "fast EMA"),),
                        panels=(Panel("RSI", (Line("rsi"),), levels=(50.0,)),))

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> base.Signal:
        return None


def test_a_declared_plot_spec_wins_over_the_derived_one(indicator_frame: pd.DataFrame) -> None:
    spec = plot_spec_for(_Declared(), indicator_frame)
    assert spec == _Declared().plot_spec()


def test_a_declaration_may_be_a_plain_mapping(indicator_frame: pd.DataFrame) -> None:
    class Mapped(_Declared):
        plot_spec: ClassVar[dict[str, Any]] = {
            "price": ["ma20", ("bb_upper", "bb_lower")], "panels": {"ATR": ["atr"]},
        }

    spec = plot_spec_for(Mapped(), indicator_frame)
    assert spec.price == (Line("ma20"), Band("bb_upper", "bb_lower"))
    assert spec.panels == (Panel("ATR", (Line("atr"),)),)


def test_a_declaration_naming_a_missing_column_is_one_clear_error(
    indicator_frame: pd.DataFrame,
) -> None:
    class Wrong(_Declared):
        plot_spec: ClassVar[dict[str, Any]] = {"price": ["sma_200"]}

    with pytest.raises(InvalidInputError, match="draws column 'sma_200' the bars lack"):
        plot_spec_for(Wrong(), indicator_frame)


def test_a_declared_column_the_frame_lacks_is_left_out_of_a_derived_spec() -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    frame = pd.DataFrame({"close": np.arange(5.0) + 10, "rsi": np.full(5, 50.0)}, index=index)
    spec = plot_spec_for(get_strategy("macd"), frame)
    assert spec == PlotSpec()
