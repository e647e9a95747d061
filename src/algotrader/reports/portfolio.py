"""The report of a portfolio backtest: :func:`portfolio_report`.

Sections: metrics (portfolio vs benchmark), the run, one linked chart (equity vs benchmark,
drawdown, weights over time as a stacked area), each symbol's contribution, the per-symbol
table and the trades.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from algotrader.reports import _timeline as tl
from algotrader.reports.backtest import RunInfo
from algotrader.reports.document import FigureSection, Report, TableSection
from algotrader.reports.downsample import MAX_POINTS, buckets_for
from algotrader.reports.tables import (
    bar_rows,
    curve_metrics,
    format_metric,
    plain,
    run_section,
    trades_table,
)

if TYPE_CHECKING:
    from algotrader.portfolio import PortfolioResult

MAX_STACKED = 12
"""The weights area stacks this many symbols (largest average weight first), then "other"."""

_PORTFOLIO_ONLY = (
    ("alpha (vs benchmark)", "alpha"),
    ("turnover (per year)", "turnover_per_year"),
    ("average holdings", "avg_holdings"),
    ("fills", "num_fills"),
    ("round trips", "num_trades"),
    ("win rate", "win_rate"),
    ("total commission", "total_commission"),
    ("exposure", "exposure"),
    ("periods per year", "periods_per_year"),
)
_SHARED = (
    ("total return", "total_return"), ("CAGR", "cagr"), ("volatility (annualised)", "volatility"),
    ("Sharpe", "sharpe"), ("Sortino", "sortino"), ("max drawdown", "max_drawdown"),
    ("Calmar", "calmar"),
)


def portfolio_report(
    result: PortfolioResult, *, run: RunInfo | None = None, synthetic: bool | None = None,
    max_points: int = MAX_POINTS,
) -> Report:
    """The whole report of a portfolio backtest; ``.write(path)`` saves one HTML file."""
    info = run or RunInfo(symbol=",".join(result.symbols))
    is_synthetic = info.synthetic if synthetic is None else synthetic
    title = f"Portfolio of {len(result.symbols)} symbols @ {result.resolution}: {result.allocator}"
    params = plain(result.params)
    title += f" ({params})" if result.params else ""
    report = Report(title=title, synthetic=is_synthetic, subtitle=_subtitle(result, info))
    if info.data_changed:
        report.warnings.append("The stored bars changed since this run (fingerprint differs).")
    report.add(
        _metrics_table(result),
        _run_table(result, info, is_synthetic),
        FigureSection("Equity, drawdown and weights", portfolio_figure(
            result, title=title, synthetic=is_synthetic, max_points=max_points),
            note="Drag to zoom (every panel follows), double-click to reset."),
        FigureSection("Contribution per symbol", _contribution_figure(result), width="half"),
        _per_symbol_table(result),
        trades_table(result.trades.sort_values("entry_time", kind="stable")),
    )
    return report


def portfolio_figure(result: PortfolioResult, *, title: str = "", synthetic: bool = False,
                     max_points: int = MAX_POINTS) -> go.Figure:
    """Equity vs the benchmark, drawdown and the weights as a stacked area, linked."""
    buckets = buckets_for(pd.DatetimeIndex(result.equity.index), max_points)
    fig = tl.timeline([300, 140, 260], buckets, title or "Portfolio", synthetic=synthetic)
    portfolio = tl.line(buckets, result.equity, "portfolio", "#1f4e9c", width=2)
    fig.add_trace(portfolio, row=1, col=1)
    benchmark = result.config.benchmark or "equal-weight buy & hold"
    fig.add_trace(tl.line(buckets, result.benchmark, f"benchmark ({benchmark})", "#7f7f7f"),
                  row=1, col=1)
    fig.add_trace(tl.drawdown_trace(buckets, result.equity), row=2, col=1)
    for k, (name, weights) in enumerate(stacked_weights(result.weights).items()):
        color = "#bbbbbb" if name == "other" else tl.PALETTE[k % len(tl.PALETTE)]
        fig.add_trace(tl.line(buckets, weights * 100, name, color, width=0.5, fmt=".1f",
                              stackgroup="weights"), row=3, col=1)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    fig.update_yaxes(title_text="weight %", row=3, col=1)
    return fig


def stacked_weights(weights: pd.DataFrame, top: int = MAX_STACKED) -> dict[str, pd.Series]:
    """The ``top`` symbols by average weight (in column order), then the rest as ``other``."""
    frame = weights.fillna(0.0)
    if frame.shape[1] <= top + 1:
        return {str(c): frame[c] for c in frame.columns}
    kept = frame.abs().mean().nlargest(top).index
    out = {str(c): frame[c] for c in frame.columns if c in kept}
    out["other"] = frame.drop(columns=kept).sum(axis=1)
    return out


def _contribution_figure(result: PortfolioResult) -> go.Figure:
    contribution = result.per_symbol["contribution"].astype(np.float64).sort_values()
    values = contribution.to_numpy() * 100
    fig = go.Figure(go.Bar(
        x=values, y=[str(s) for s in contribution.index], orientation="h",
        marker={"color": np.where(values >= 0, "#26a69a", "#ef5350").astype(object)},
        text=[f"{v:+.2f}%" for v in values], textposition="auto",
        hovertemplate="%{y}: %{x:.2f}% of the starting cash<extra></extra>",
    ))
    fig.update_layout(template="plotly_white", height=120 + 26 * len(values),
                      margin={"l": 80, "r": 20, "t": 20, "b": 40}, showlegend=False)
    fig.update_xaxes(title_text="P&L / starting cash (%)", zeroline=True)
    return fig


def _metrics_table(result: PortfolioResult) -> TableSection:
    m = result.metrics
    index = pd.DatetimeIndex(result.equity.index)
    periods = float(m.get("periods_per_year") or 252.0)
    bench = curve_metrics(result.benchmark.to_numpy(np.float64), index, periods,
                          result.config.risk_free_rate, result.config.cash)
    rows = [(label, format_metric(key, m.get(key)), format_metric(key, bench[key]))
            for label, key in _SHARED]
    rows += [(label, format_metric(key, m.get(key)), "") for label, key in _PORTFOLIO_ONLY]
    return TableSection("Metrics", ("metric", "portfolio", "benchmark"), tuple(rows),
                        numeric=(False, True, True), width="half",
                        note="Computed on every bar (charts are downsampled for display only).")


def _run_table(result: PortfolioResult, info: RunInfo, synthetic: bool) -> TableSection:
    what = [
        ("symbols", ", ".join(result.symbols)),
        ("resolution", result.resolution),
        ("allocator", result.allocator),
        ("parameters", plain(result.params)),
        ("rebalance", result.config.rebalance),
        ("settings", plain(result.config.to_dict())),
        *bar_rows(pd.DatetimeIndex(result.equity.index)),
    ]
    return run_section(info, what, synthetic=synthetic, fingerprint=result.fingerprint)


def _per_symbol_table(result: PortfolioResult) -> TableSection:
    per = result.per_symbol
    rows = []
    for symbol, r in per.iterrows():
        rows.append((
            str(symbol), format_metric("total_return", r.get("contribution")),
            f"{float(r.get('pnl', np.nan)):,.2f}", str(r.get("fills", "")),
            str(r.get("trades", "")), f"{float(r.get('commission', 0.0)):,.2f}",
            _day(r.get("first_bar")), _day(r.get("last_bar")),
            "yes" if bool(r.get("delisted", False)) else "no",
            format_metric("total_return", r.get("final_weight")),
        ))
    return TableSection(
        "Per symbol",
        ("symbol", "contribution", "P&L", "fills", "round trips", "commission", "first bar",
         "last bar", "delisted", "final weight"),
        tuple(rows), numeric=(False, True, True, True, True, True, False, False, False, True),
        note="Contribution: the symbol's P&L / starting cash (they sum to the total return).",
    )


def _day(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{pd.Timestamp(value):%Y-%m-%d}"  # type: ignore[arg-type]


def _subtitle(result: PortfolioResult, info: RunInfo) -> str:
    index = pd.DatetimeIndex(result.equity.index)
    if not len(index):
        return ""
    run = f"run {info.run_id}, " if info.run_id is not None else ""
    return f"{run}{index[0]:%Y-%m-%d} .. {index[-1]:%Y-%m-%d}, {len(index):,} bars, " + (
        result.summary().split(" ", 2)[2])
