"""PNG charts: what the strategy trades on, and intraday bars without night and weekend gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from algotrader.backtest import Backtest
from algotrader.plotting import SYNTHETIC_NOTE, backtest_chart, backtest_png_figure, price_chart


def _price_axis(fig: Figure) -> Axes:
    return fig.axes[0]


def _line(ax: Axes, label: str) -> tuple[np.ndarray, np.ndarray]:
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return np.asarray(line.get_xdata(), dtype=object), np.asarray(line.get_ydata(), np.float64)


def test_ma_cross_png_draws_the_two_smas_of_its_windows(indicator_frame: pd.DataFrame) -> None:
    result = Backtest(indicator_frame, "ma_cross").run(fast=10, slow=30)
    ax = _price_axis(backtest_png_figure(indicator_frame, result, "SPY"))
    labels = {ln.get_label() for ln in ax.get_lines()}
    assert {"SMA(10)", "SMA(30)"} <= labels and not {"MA20", "MA50"} & labels
    _, drawn = _line(ax, "SMA(30)")
    expected = indicator_frame["close"].rolling(30).mean().to_numpy()
    np.testing.assert_allclose(drawn, expected, rtol=1e-12, equal_nan=True)


def test_rsi_png_has_a_panel_with_the_levels_it_trades_at(indicator_frame: pd.DataFrame) -> None:
    result = Backtest(indicator_frame, "rsi").run(lower=25, upper=75)
    fig = backtest_png_figure(indicator_frame, result, "SPY")
    panel = fig.axes[1]
    assert panel.get_ylabel() == "RSI(14)" and panel.get_ylim() == (0.0, 100.0)
    levels = {ln.get_ydata()[0] for ln in panel.get_lines() if ln.get_linestyle() == "--"}
    assert levels == {25.0, 75.0}


def test_supertrend_png_splits_the_line_by_trend(indicator_frame: pd.DataFrame) -> None:
    result = Backtest(indicator_frame, "supertrend").run()
    ax = _price_axis(backtest_png_figure(indicator_frame, result, "SPY"))
    _, up = _line(ax, "SuperTrend(10, 3) up")
    trend = indicator_frame["supertrend_trend"].to_numpy()
    assert np.array_equal(~np.isnan(up), trend > 0)


def test_intraday_png_is_drawn_against_bar_number(hourly_frame: pd.DataFrame) -> None:
    result = Backtest(hourly_frame, "macd", resolution="1h").run()
    fig = backtest_png_figure(hourly_frame, result, "SPY", full=True)
    x, _ = _line(_price_axis(fig), "close")
    assert np.array_equal(x.astype(np.float64), np.arange(len(hourly_frame)))
    gaps = np.diff(hourly_frame.index) / pd.Timedelta(hours=1)
    assert gaps.max() > 48  # the frame does span a weekend


def test_intraday_date_labels_name_the_bar_under_each_tick(hourly_frame: pd.DataFrame) -> None:
    result = Backtest(hourly_frame, "macd", resolution="1h").run()
    fig = backtest_png_figure(hourly_frame, result, "SPY")
    fig.canvas.draw()
    bottom = fig.axes[-1]
    formatter = bottom.xaxis.get_major_formatter()
    inside = [t for t in bottom.get_xticks() if 0 <= round(t) < len(hourly_frame)]
    assert len(inside) >= 3
    for tick in inside:
        assert formatter(tick, 0) == hourly_frame.index[round(tick)].strftime("%m-%d\n%H:%M")


def test_daily_png_keeps_a_date_axis(indicator_frame: pd.DataFrame) -> None:
    result = Backtest(indicator_frame, "macd").run()
    x, _ = _line(_price_axis(backtest_png_figure(indicator_frame, result, "SPY")), "close")
    assert pd.Timestamp(x[0]) == indicator_frame.index[0].tz_localize(None)


def test_full_png_is_written_and_watermarked_when_synthetic(
    indicator_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = Backtest(indicator_frame, "bollinger").run()
    path = backtest_chart(indicator_frame, result, "SPY", tmp_path / "c" / "full.png", full=True,
                          synthetic=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = backtest_png_figure(indicator_frame, result, "SPY", full=True, synthetic=True)
    assert SYNTHETIC_NOTE in [t.get_text() for t in fig.texts]


def test_a_run_of_a_strategy_that_no_longer_resolves_still_gets_a_chart(
    indicator_frame: pd.DataFrame,
) -> None:
    from dataclasses import replace

    result = replace(Backtest(indicator_frame, "macd").run(), strategy="deleted_user_file")
    ax = _price_axis(backtest_png_figure(indicator_frame, result, "SPY"))
    assert {"MA20", "MA50"} <= {ln.get_label() for ln in ax.get_lines()}


def test_price_chart_of_intraday_bars_has_no_gaps(hourly_frame: pd.DataFrame,
                                                  tmp_path: Path) -> None:
    path = price_chart(hourly_frame, "SPY", "1h", tmp_path / "p.png")
    assert path.stat().st_size > 10_000
