"""The report of a walk-forward analysis: :class:`WalkForwardView` (what it shows) and
:func:`walkforward_report`.

Sections: out-of-sample vs in-sample metrics, the run, the stitched out-of-sample equity with
each fold's test window shaded and labelled with the parameters chosen on its training window,
in- vs out-of-sample per fold, the folds table and the trades.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from algotrader.reports import _timeline as tl
from algotrader.reports.backtest import RunInfo
from algotrader.reports.document import FigureSection, Report, TableSection
from algotrader.reports.downsample import MAX_POINTS, buckets_for
from algotrader.reports.tables import format_metric, plain, run_section, trades_table

if TYPE_CHECKING:
    from algotrader.research import WalkForwardResult

_COMPARED = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
             "calmar", "num_trades", "win_rate", "exposure")
_FOLD_COLORS = ("#f28e2b", "#59a14f")


@dataclass(frozen=True)
class FoldView:
    """One fold: its windows, the parameters chosen on the training window and both sides'
    metrics."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_bars: int
    test_bars: int
    params: dict[str, Any]
    trials: int
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    efficiency: float | None


@dataclass(frozen=True)
class WalkForwardView:
    """What a walk-forward report shows, from a :class:`~algotrader.research.WalkForwardResult`
    (:meth:`from_result`) or from a stored run's document and its replayed test windows
    (:meth:`from_document`). ``trades`` has a ``fold`` column."""

    strategy: str
    symbol: str
    resolution: str
    objective: str
    varied: tuple[str, ...]
    fixed: dict[str, Any]
    train: str
    test: str
    anchored: bool
    folds: tuple[FoldView, ...]
    equity: pd.Series
    buy_hold: pd.Series
    trades: pd.DataFrame
    out_of_sample: dict[str, Any]
    in_sample: dict[str, Any]
    efficiency: float | None
    oos_t_stat: float | None
    settings: dict[str, Any]

    @classmethod
    def from_result(cls, result: WalkForwardResult, symbol: str = "") -> WalkForwardView:
        trades = [f.result.trades.assign(fold=f.window.number) for f in result.folds]
        return cls.from_document(result.to_dict(), result.equity, result.buy_hold,
                                 pd.concat(trades, ignore_index=True), symbol)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], equity: pd.Series,
                      buy_hold: pd.Series, trades: pd.DataFrame, symbol: str) -> WalkForwardView:
        """``document`` is :meth:`WalkForwardResult.to_dict` (what a stored run keeps)."""
        config = document["config"]
        return cls(
            strategy=str(config["strategy"]), symbol=symbol,
            resolution=str(config.get("resolution") or ""),
            objective=str(config["objective"]["metric"]), varied=tuple(config["space"]),
            fixed=dict(config.get("fixed") or {}), train=str(document["train"]),
            test=str(document["test"]), anchored=bool(document["anchored"]),
            folds=tuple(_fold(f) for f in document["folds"]), equity=equity,
            buy_hold=buy_hold, trades=trades, out_of_sample=dict(document["out_of_sample"]),
            in_sample=dict(document["in_sample"]), efficiency=document.get("efficiency"),
            oos_t_stat=document.get("oos_t_stat"), settings=dict(config.get("backtest") or {}),
        )


def _fold(doc: Mapping[str, Any]) -> FoldView:
    return FoldView(
        number=int(doc["fold"]), train_start=pd.Timestamp(doc["train"][0]),
        train_end=pd.Timestamp(doc["train"][1]), test_start=pd.Timestamp(doc["test"][0]),
        test_end=pd.Timestamp(doc["test"][1]), train_bars=int(doc["train_bars"]),
        test_bars=int(doc["test_bars"]), params=dict(doc["params"]), trials=int(doc["trials"]),
        in_sample=dict(doc["in_sample"]), out_of_sample=dict(doc["out_of_sample"]),
        efficiency=doc.get("efficiency"),
    )


def walkforward_report(view: WalkForwardView, *, run: RunInfo | None = None,
                       synthetic: bool | None = None, max_points: int = MAX_POINTS) -> Report:
    """The whole report of a walk-forward analysis; ``.write(path)`` saves one HTML file."""
    info = run or RunInfo(symbol=view.symbol)
    is_synthetic = info.synthetic if synthetic is None else synthetic
    kind = "anchored" if view.anchored else "rolling"
    title = (f"Walk-forward {view.symbol or ''} @ {view.resolution}: {view.strategy}, {kind} "
             f"train {view.train} / test {view.test}, {len(view.folds)} folds").replace("  ", " ")
    report = Report(title=title, synthetic=is_synthetic, subtitle=_subtitle(view, info))
    if info.data_changed:
        report.warnings.append(
            "The stored bars changed since this run (fingerprint differs): the curve is "
            "recomputed on the current bars; the stored metrics may differ."
        )
    report.add(
        _headline_table(view),
        _run_table(view, info, is_synthetic),
        FigureSection("Out-of-sample equity by fold", walkforward_figure(
            view, title=title, synthetic=is_synthetic, max_points=max_points),
            note="Each shaded window is one fold's test window, traded with the parameters "
                 "chosen on the training window before it."),
        FigureSection("In- vs out-of-sample per fold", _per_fold_figure(view)),
        _folds_table(view),
        trades_table(view.trades, "Out-of-sample trades"),
    )
    return report


def walkforward_figure(view: WalkForwardView, *, title: str = "", synthetic: bool = False,
                       max_points: int = MAX_POINTS) -> go.Figure:
    """The stitched out-of-sample equity (and buy & hold) and its drawdown, folds shaded."""
    buckets = buckets_for(pd.DatetimeIndex(view.equity.index), max_points)
    fig = tl.timeline([320, 150], buckets, title or "Walk-forward", synthetic=synthetic)
    fig.add_trace(tl.line(buckets, view.equity, "out of sample", "#1f4e9c", width=2),
                  row=1, col=1)
    fig.add_trace(tl.line(buckets, view.buy_hold, "buy & hold (same windows)", "#7f7f7f"),
                  row=1, col=1)
    fig.add_trace(tl.drawdown_trace(buckets, view.equity), row=2, col=1)
    for fold in view.folds:
        chosen = ", ".join(f"{k}={fold.params[k]}" for k in view.varied if k in fold.params)
        tl.shade(fig, buckets, fold.test_start, fold.test_end,
                 color=_FOLD_COLORS[fold.number % 2], label=f"{fold.number}: {chosen}")
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    return fig


def _per_fold_figure(view: WalkForwardView) -> go.Figure:
    metric = view.objective
    fig = make_subplots(rows=1, cols=2, subplot_titles=(metric, "CAGR"), horizontal_spacing=0.08)
    folds = [f"fold {f.number}" for f in view.folds]
    for col, key in ((1, metric), (2, "cagr")):
        for side, color, name in (("in_sample", "#9c9c9c", "in sample"),
                                  ("out_of_sample", "#1f4e9c", "out of sample")):
            values = [_number(getattr(f, side).get(key)) for f in view.folds]
            fig.add_trace(go.Bar(x=folds, y=values, name=name, marker_color=color,
                                 legendgroup=name, showlegend=col == 1,
                                 hovertemplate=f"%{{x}} {name}: %{{y:.4g}}<extra></extra>"),
                          row=1, col=col)
    fig.update_layout(template="plotly_white", barmode="group", height=360,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": 1.12, "yanchor": "bottom"})
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return fig


def _number(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _headline_table(view: WalkForwardView) -> TableSection:
    rows = [(key.replace("_", " "), format_metric(key, view.out_of_sample.get(key)),
             format_metric(key, view.in_sample.get(key))) for key in _COMPARED]
    efficiency = "n/a" if view.efficiency is None else f"{view.efficiency:.2f}"
    rows.append(("walk-forward efficiency", efficiency, ""))
    rows.append(("out-of-sample t-stat", format_metric("", view.oos_t_stat), ""))
    return TableSection(
        "Out of sample vs in sample", ("metric", "out of sample", "in sample (mean of folds)"),
        tuple(rows), numeric=(False, True, True), width="half",
        note="Out of sample: the test windows' equity chained into one curve. Efficiency: "
             "out-of-sample CAGR / in-sample CAGR (only when the latter is positive).",
    )


def _run_table(view: WalkForwardView, info: RunInfo, synthetic: bool) -> TableSection:
    what = [
        ("symbol", view.symbol or "(not given)"), ("resolution", view.resolution),
        ("strategy", view.strategy), ("objective", view.objective),
        ("parameters varied", ", ".join(view.varied)), ("fixed parameters", plain(view.fixed)),
        ("folds", f"{len(view.folds)} ({'anchored' if view.anchored else 'rolling'}, train "
                  f"{view.train}, test {view.test})"),
        ("settings", plain(view.settings)),
        ("out-of-sample bars", f"{len(view.equity.index):,}"),
    ]
    return run_section(info, what, synthetic=synthetic)


def _folds_table(view: WalkForwardView) -> TableSection:
    metric = view.objective
    rows = []
    for f in view.folds:
        rows.append((
            str(f.number), f"{f.train_start:%Y-%m-%d} .. {f.train_end:%Y-%m-%d}",
            f"{f.test_start:%Y-%m-%d} .. {f.test_end:%Y-%m-%d}", f"{f.train_bars:,}",
            f"{f.test_bars:,}", ", ".join(f"{k}={f.params.get(k)}" for k in view.varied),
            str(f.trials), format_metric(metric, f.in_sample.get(metric)),
            format_metric(metric, f.out_of_sample.get(metric)),
            format_metric("cagr", f.in_sample.get("cagr")),
            format_metric("cagr", f.out_of_sample.get("cagr")),
            format_metric("total_return", f.out_of_sample.get("total_return")),
            "n/a" if f.efficiency is None else f"{f.efficiency:.2f}",
        ))
    return TableSection(
        "Folds",
        ("fold", "train (UTC, end exclusive)", "test (UTC, end exclusive)", "train bars",
         "test bars", "chosen parameters", "points", f"IS {metric}", f"OOS {metric}", "IS CAGR",
         "OOS CAGR", "OOS return", "efficiency"),
        tuple(rows),
        numeric=(True, False, False, True, True, False, True, True, True, True, True, True, True),
    )


def _subtitle(view: WalkForwardView, info: RunInfo) -> str:
    index = pd.DatetimeIndex(view.equity.index)
    if not len(index):
        return ""
    run = f"run {info.run_id}, " if info.run_id is not None else ""
    oos = view.out_of_sample
    return (f"{run}out of sample {index[0]:%Y-%m-%d} .. {index[-1]:%Y-%m-%d}, {len(index):,} "
            f"bars, total return {format_metric('total_return', oos.get('total_return'))}, "
            f"sharpe {format_metric('sharpe', oos.get('sharpe'))}")

