"""The HTML report of one backtest: content, downsampling for display only, provenance."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from algotrader.backtest import Backtest
from algotrader.errors import InvalidInputError
from algotrader.plotting import SYNTHETIC_NOTE
from algotrader.reports import (
    MAX_POINTS,
    Benchmark,
    Report,
    RunInfo,
    backtest_report,
    build_report,
    heatmap_section,
    monthly_returns,
    plotly_js,
    rolling_sharpe,
    table_section,
)


def _main(report: Report) -> go.Figure:
    return report.figures()[0]


def _trace(fig: go.Figure, name: str) -> go.BaseTraceType:
    (found,) = [t for t in fig.data if t.name == name]
    return found


def _table(report: Report, title: str) -> dict[str, tuple[str, ...]]:
    (section,) = [s for s in report.sections if getattr(s, "columns", None) and s.title == title]
    return {row[0]: row[1:] for row in section.rows}


def test_the_file_embeds_plotly_and_loads_nothing_from_the_network(
    indicator_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = Backtest(indicator_frame, "macd").run()
    html = backtest_report(result, indicator_frame, symbol="SPY").write(tmp_path / "r.html")
    text = html.read_text(encoding="utf-8")
    assert text.count(plotly_js()) == 1
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", text)


def test_the_chart_draws_candles_the_strategys_lines_and_every_trade(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "ma_cross").run(fast=10, slow=30)
    fig = _main(backtest_report(result, indicator_frame, symbol="SPY"))
    assert isinstance(fig.data[0], go.Candlestick)
    assert {"SMA(10)", "SMA(30)"} <= {t.name for t in fig.data}
    entries = _trace(fig, "entry")
    assert len(entries.x) == len(result.trades)
    first = result.trades.iloc[0]
    assert f"price {first.entry_price:,.2f}" in entries.hovertext[0]


def test_every_panel_shares_one_x_axis_so_zoom_moves_them_together(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "rsi").run()
    fig = _main(backtest_report(result, indicator_frame))
    axes = [k for k in fig.layout if k.startswith("xaxis")]
    assert len(axes) == 6  # price, volume, RSI, equity, drawdown, rolling Sharpe
    bottom = "x6"
    assert [fig.layout[k].matches for k in axes if k != "xaxis6"] == [bottom] * 5


def test_a_hundred_thousand_minute_bars_draw_at_most_the_display_cap(
    minute_frame: pd.DataFrame,
) -> None:
    result = Backtest(minute_frame, "macd", resolution="1m").run()
    fig = _main(backtest_report(result, minute_frame, symbol="QQQ"))
    candles = fig.data[0]
    assert len(minute_frame) > 90_000 and len(candles.x) <= MAX_POINTS
    assert max(candles.high) == minute_frame["high"].max()
    assert min(candles.low) == minute_frame["low"].min()
    deepest = min(v for v in _trace(fig, "drawdown").y if v == v)
    assert deepest == pytest.approx(result.metrics["max_drawdown"] * 100, rel=1e-12)


def test_metrics_come_from_every_bar_not_the_drawn_ones(minute_frame: pd.DataFrame) -> None:
    result = Backtest(minute_frame, "macd", resolution="1m").run()
    metrics = _table(backtest_report(result, minute_frame), "Metrics")
    assert metrics["Sharpe"][0] == f"{result.metrics['sharpe']:.2f}"
    assert metrics["trades"][0] == f"{result.metrics['num_trades']:,}"
    assert metrics["total return"][1] == f"{result.metrics['buy_hold_return'] * 100:.2f}%"


def test_monthly_returns_compound_to_the_total_return(indicator_frame: pd.DataFrame) -> None:
    result = Backtest(indicator_frame, "bollinger").run()
    table = monthly_returns(result.equity, result.config.cash)
    months = table.drop(columns="Year").to_numpy().ravel()
    compounded = np.prod(1 + months[~np.isnan(months)]) - 1
    assert compounded == pytest.approx(result.metrics["total_return"], rel=1e-9)
    assert np.prod(1 + table["Year"].to_numpy()) - 1 == pytest.approx(
        result.metrics["total_return"], rel=1e-9
    )


def test_rolling_sharpe_is_the_sharpe_of_each_trailing_window(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "bollinger").run()
    sharpe, window = rolling_sharpe(result.equity, 252.0, 0.0)
    end = len(result.equity) - 1
    returns = result.equity.to_numpy()[end - window : end + 1]
    r = returns[1:] / returns[:-1] - 1
    assert sharpe.iloc[end] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252.0))


def test_intraday_bars_sit_side_by_side_without_night_or_weekend_gaps(
    minute_frame: pd.DataFrame,
) -> None:
    week = minute_frame.iloc[: 390 * 7]
    result = Backtest(week, "macd", resolution="1m").run()
    fig = _main(backtest_report(result, week))
    assert fig.layout.xaxis.type == "category"
    assert list(fig.data[0].x) == list(week.index.strftime("%Y-%m-%d %H:%M"))


def test_synthetic_data_is_watermarked_on_every_chart_and_in_the_header(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "macd").run()
    report = backtest_report(result, indicator_frame, run=RunInfo(symbol="SPY", synthetic=True))
    for fig in report.figures():
        assert SYNTHETIC_NOTE in [a.text for a in fig.layout.annotations]
    assert 'data-synthetic="true"' in report.fragment()


def test_the_run_table_shows_parameters_fingerprint_and_code_version(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "ma_cross").run(fast=12, slow=40)
    info = RunInfo(
        run_id=7,
        symbol="SPY",
        data_fingerprint="ab" * 32,
        data_source="csv",
        code_version="0.1.0+old",
        current_code_version="0.1.0+new",
    )
    run = _table(backtest_report(result, indicator_frame, run=info), "Run")
    assert run["parameters"] == ("fast=12, slow=40",)
    assert run["data fingerprint (SHA-256)"] == ("ab" * 32,)
    assert run["code version"] == ("0.1.0+old",) and run["code version now"] == ("0.1.0+new",)


def test_a_benchmark_is_bought_with_the_same_cash_on_the_first_bar(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "macd").run()
    other = indicator_frame["close"] * 0.5 + 20
    report = backtest_report(result, indicator_frame, benchmark=Benchmark("QQQ", other))
    curve = np.asarray(_trace(_main(report), "QQQ").y, dtype=np.float64)
    assert curve[0] == result.config.cash
    assert curve[-1] / curve[0] == pytest.approx(other.iloc[-1] / other.iloc[0])
    assert _table(report, "Metrics")["total return"][2] == (
        f"{(other.iloc[-1] / other.iloc[0] - 1) * 100:.2f}%"
    )


def test_without_bars_the_report_still_has_equity_drawdown_and_trades(
    indicator_frame: pd.DataFrame,
) -> None:
    result = Backtest(indicator_frame, "macd").run()
    fig = _main(backtest_report(result))
    assert not any(isinstance(t, go.Candlestick) for t in fig.data)
    assert {"strategy", "buy & hold", "drawdown"} <= {t.name for t in fig.data}


def test_capitalised_ohlcv_columns_are_accepted(indicator_frame: pd.DataFrame) -> None:
    raw = indicator_frame[["open", "high", "low", "close", "volume"]]
    result = Backtest(raw, "rsi").run()
    fig = result.plot(raw.rename(columns=str.title))
    assert isinstance(fig.data[0], go.Candlestick)


def test_result_to_html_writes_the_report(indicator_frame: pd.DataFrame, tmp_path: Path) -> None:
    result = Backtest(indicator_frame, "supertrend").run()
    path = result.to_html(tmp_path / "out" / "st.html", indicator_frame, symbol="TSLA")
    assert path.exists() and "TSLA @ 1d: supertrend" in path.read_text(encoding="utf-8")


def test_result_plot_draws_the_bars_the_backtest_ran_on_without_being_given_them(
    indicator_frame: pd.DataFrame, tmp_path: Path
) -> None:
    bt = Backtest(indicator_frame, "ma_cross")
    bt.symbol = "SPY"
    result = bt.run(fast=10, slow=30)
    fig = result.plot()
    assert isinstance(fig.data[0], go.Candlestick) and fig.data[0].name == "SPY @ 1d"
    assert {"SMA(10)", "SMA(30)", "entry", "exit", "volume"} <= {t.name for t in fig.data}
    text = result.to_html(tmp_path / "r.html").read_text(encoding="utf-8")
    assert "SPY @ 1d: ma_cross" in text and '"type":"candlestick"' in text


def test_an_unwritable_path_is_one_clear_error_and_leaves_nothing(
    indicator_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = Backtest(indicator_frame, "macd").run()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidInputError, match="cannot write the report"):
        result.to_html(blocker / "r.html", indicator_frame)
    with pytest.raises(InvalidInputError, match="is a folder"):
        result.to_html(tmp_path, indicator_frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_build_report_dispatches_on_the_result_type(indicator_frame: pd.DataFrame) -> None:
    result = Backtest(indicator_frame, "macd").run()
    assert build_report(result, bars=indicator_frame).title.endswith(": macd")
    with pytest.raises(InvalidInputError, match="no report for a dict"):
        build_report({})


def test_extension_sections_render_into_a_report(tmp_path: Path) -> None:
    grid = pd.DataFrame([[0.5, 1.2], [0.1, np.nan]], index=[10, 20], columns=[50, 100])
    points = pd.DataFrame({"fast": [10, 20], "slow": [50, 100], "sharpe": [0.5, 1.2]})
    report = Report(title="study").add(
        heatmap_section("Sharpe by fast x slow", grid), table_section("Points", points)
    )
    text = report.write(tmp_path / "s.html").read_text(encoding="utf-8")
    assert "Sharpe by fast x slow" in text and '<td class="num">1.20</td>' in text


class _Flip:
    """Buys and sells every other bar: thousands of trades."""

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(frame), np.int8)
        out[::20], out[10::20] = 1, -1
        return out


def test_thousands_of_trades_are_merged_per_candle_and_start_hidden(
    minute_frame: pd.DataFrame,
) -> None:
    result = Backtest(minute_frame, _Flip(), resolution="1m").run()
    fig = _main(backtest_report(result, minute_frame))
    entries = _trace(fig, "entries")
    assert len(result.trades) > 4_000 and len(entries.x) <= MAX_POINTS
    counts = [int(text.split(" ", 1)[0]) for text in entries.hovertext]
    assert sum(counts) == len(result.trades)
    assert entries.visible == "legendonly"
