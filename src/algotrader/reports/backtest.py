"""The report of one backtest: :func:`backtest_report` (the HTML document) and
:func:`backtest_figure` (its main chart, e.g. for Jupyter)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from algotrader.errors import InvalidInputError
from algotrader.frames import INDICATOR_COLUMNS
from algotrader.plotting.spec import plot_spec_for, prepared, resolve_strategy
from algotrader.reports.charts import ChartInput, heatmap_figure, monthly_returns
from algotrader.reports.charts import backtest_figure as _main_figure
from algotrader.reports.document import FigureSection, Report
from algotrader.reports.downsample import MAX_POINTS
from algotrader.reports.tables import metrics_table, run_table, trades_table

if TYPE_CHECKING:
    from algotrader.backtest.result import Result


@dataclass(frozen=True)
class RunInfo:
    """Provenance of a stored run, shown in the report (all optional for in-memory results)."""

    run_id: int | None = None
    symbol: str = ""
    created_at: datetime | None = None
    data_fingerprint: str = ""
    data_source: str = ""
    synthetic: bool = False
    code_version: str = ""
    current_code_version: str = ""
    data_changed: bool = False


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's closes (any bar size); it is bought with the starting cash on the
    result's first bar and held."""

    name: str
    close: pd.Series

    def equity_on(self, index: pd.DatetimeIndex, cash: float) -> pd.Series:
        """The benchmark's value on ``index`` (last close at or before each bar)."""
        close = pd.Series(self.close.to_numpy(np.float64),
                          index=pd.DatetimeIndex(self.close.index).tz_convert("UTC"))
        close = close[~close.index.duplicated()].sort_index()
        aligned = close.reindex(close.index.union(index)).ffill().reindex(index)
        valid = aligned.dropna()
        if valid.empty:
            raise InvalidInputError(
                f"the benchmark {self.name} has no bars in the run's window",
                f"ingest {self.name} for the same period first",
            )
        return cash * aligned / valid.iloc[0]


def _with_indicators(frame: pd.DataFrame) -> pd.DataFrame:
    if all(c in frame.columns for c in INDICATOR_COLUMNS):
        return frame
    from algotrader.indicators import compute_indicators  # type: ignore[attr-defined]

    computed = compute_indicators(frame)
    missing = [c for c in INDICATOR_COLUMNS if c not in frame.columns]
    return frame.assign(**{c: computed[c] for c in missing})


def _chart_input(
    result: Result, bars: pd.DataFrame | None, strategy: Any, symbol: str,
    benchmark: Benchmark | None, synthetic: bool,
) -> ChartInput:
    instance = resolve_strategy(strategy, result.strategy, result.params)
    index = pd.DatetimeIndex(result.equity.index)
    frame = None
    if bars is not None:
        frame = prepared(instance, _with_indicators(_lower_columns(bars)))
        if not pd.DatetimeIndex(frame.index).equals(index):
            frame = frame.reindex(index)
            if frame["close"].isna().any():
                raise InvalidInputError(
                    "the bars do not cover the backtest's bars",
                    "pass the frame the backtest ran on",
                )
    spec = plot_spec_for(instance, frame) if frame is not None else plot_spec_for(
        None, pd.DataFrame(index=index))
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    title = f"{symbol or 'backtest'} @ {result.resolution}: {result.strategy}"
    title += f" ({params})" if params else ""
    curve = benchmark.equity_on(index, result.config.cash) if benchmark is not None else None
    return ChartInput(result, frame, spec, title, curve,
                      benchmark.name if benchmark is not None else "", synthetic)


def _lower_columns(bars: pd.DataFrame) -> pd.DataFrame:
    """Accept ``Open/High/Low/Close/Volume`` (the usual shape of downloaded data)."""
    renames = {c: str(c).lower() for c in bars.columns if str(c).lower() != c}
    return bars.rename(columns=renames) if renames else bars


def backtest_figure(
    result: Result,
    bars: pd.DataFrame | None = None,
    *,
    strategy: Any = None,
    symbol: str = "",
    benchmark: Benchmark | None = None,
    synthetic: bool = False,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """The report's main chart: candles with the strategy's indicators and trades, volume, its
    panels, equity vs buy & hold (and ``benchmark``), drawdown and rolling Sharpe, linked.

    ``bars`` is the frame the backtest ran on (without it there is no price panel);
    ``strategy`` decides the indicators drawn (default: the strategy named in ``result``).
    """
    data = _chart_input(result, bars, strategy, symbol, benchmark, synthetic)
    return _main_figure(data, max_points)


def backtest_report(
    result: Result,
    bars: pd.DataFrame | None = None,
    *,
    strategy: Any = None,
    symbol: str = "",
    run: RunInfo | None = None,
    benchmark: Benchmark | None = None,
    synthetic: bool | None = None,
    max_points: int = MAX_POINTS,
) -> Report:
    """The whole report of one backtest; ``.write(path)`` saves it as one HTML file.

    Sections: metrics (strategy, buy & hold, benchmark), the run (parameters, settings, data
    fingerprint, code version), the linked chart (see :func:`backtest_figure`), monthly returns
    and the trades. ``synthetic`` (default: ``run.synthetic``) watermarks every chart.
    """
    info = run or RunInfo(symbol=symbol)
    is_synthetic = info.synthetic if synthetic is None else synthetic
    data = _chart_input(result, bars, strategy, symbol or info.symbol, benchmark, is_synthetic)
    report = Report(title=data.title, synthetic=is_synthetic, subtitle=_subtitle(result, info))
    if info.data_changed:
        report.warnings.append(
            "The stored bars changed since this run (fingerprint differs): the charts are "
            "recomputed on the current bars; the run's stored metrics may differ."
        )
    report.add(
        metrics_table(result, data.benchmark, data.benchmark_name),
        run_table(result, info, is_synthetic),
        FigureSection("Price, trades and equity", _main_figure(data, max_points),
                      note="Drag to zoom (every panel follows), double-click to reset."),
        FigureSection("Monthly returns", _monthly(result, is_synthetic)),
        trades_table(result.trades),
    )
    return report


def _monthly(result: Result, synthetic: bool) -> go.Figure:
    table = monthly_returns(result.equity, result.config.cash)
    fig = heatmap_figure(table, title="Returns per month and year (UTC)")
    if synthetic:
        from algotrader.plotting.charts import SYNTHETIC_NOTE

        fig.add_annotation(text=SYNTHETIC_NOTE, xref="paper", yref="paper", x=0.5, y=0.5,
                           showarrow=False, textangle=-10,
                           font={"size": 28, "color": "rgba(128,128,128,0.25)"})
    return fig


def _subtitle(result: Result, info: RunInfo) -> str:
    index = pd.DatetimeIndex(result.equity.index)
    if not len(index):
        return ""
    span = f"{index[0]:%Y-%m-%d} .. {index[-1]:%Y-%m-%d}, {len(index):,} bars"
    run = f"run {info.run_id}, " if info.run_id is not None else ""
    return f"{run}{span}, {result.summary().split(' ', 1)[1]}"
