"""One entry point for every kind of result: :func:`build_report`.

It dispatches on the type of what it is given: a backtest ``Result``, a ``PortfolioResult``, a
``Study`` or an ``Optimization``, a ``WalkForwardResult``, or the views stored runs are rebuilt
into (:class:`~algotrader.reports.StudyView`, :class:`~algotrader.reports.WalkForwardView`).
A package adds its own report by registering a builder for its result class, composing the
section helpers below::

    from algotrader.reports import Report, build_report, lines_section, table_section

    @build_report.register
    def _(result: MyResult, **options) -> Report:
        report = Report(title=f"My result {result.name}")
        report.add(lines_section("Equity", {"mine": result.equity}))
        report.add(table_section("Numbers", result.table))
        return report
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatch
from typing import Any

import pandas as pd

from algotrader.backtest.result import Result
from algotrader.errors import InvalidInputError
from algotrader.portfolio import PortfolioResult
from algotrader.reports.backtest import backtest_report
from algotrader.reports.charts import heatmap_figure, lines_figure
from algotrader.reports.document import FigureSection, Report, TableSection
from algotrader.reports.portfolio import portfolio_report
from algotrader.reports.study import StudyView, study_report
from algotrader.reports.tables import format_metric
from algotrader.reports.walkforward import WalkForwardView, walkforward_report
from algotrader.research import Optimization, Study, WalkForwardResult


@singledispatch
def build_report(obj: object, **options: Any) -> Report:
    """The report of ``obj``; ``options`` go to the builder of its kind (``run=RunInfo(...)``,
    ``bars=`` for a backtest or a study's best point, ``benchmark=`` ...)."""
    raise InvalidInputError(
        f"no report for a {type(obj).__name__}",
        "pass a backtest Result, a PortfolioResult, a Study, an Optimization or a "
        "WalkForwardResult, or register a builder with @build_report.register",
    )


@build_report.register
def _result(result: Result, **options: Any) -> Report:
    return backtest_report(result, **options)


@build_report.register
def _portfolio(result: PortfolioResult, **options: Any) -> Report:
    return portfolio_report(result, **options)


@build_report.register
def _walkforward(result: WalkForwardResult, *, symbol: str = "", **options: Any) -> Report:
    return walkforward_report(WalkForwardView.from_result(result, symbol), **options)


@build_report.register
def _walkforward_view(view: WalkForwardView, **options: Any) -> Report:
    return walkforward_report(view, **options)


@build_report.register
def _study(study: Study, *, bars: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
           best: Report | None = None, run_ids: Mapping[int, Mapping[str, int]] | None = None,
           study_id: int | None = None, run_link: str = "", **options: Any) -> Report:
    """``bars`` (the frame, or frames per symbol, the study ran on) adds the best point's
    backtest report, rerun through the engine; ``best`` gives that report directly."""
    if best is None and bars is not None:
        symbol = study.symbols[0]
        frame = bars if isinstance(bars, pd.DataFrame) else bars[symbol]
        best = backtest_report(study.result(study.best, frame, symbol), frame, symbol=symbol,
                               **options)
    view = StudyView.from_study(study, run_ids, study_id)
    return study_report(view, best=best, run_link=run_link)


@build_report.register
def _optimization(opt: Optimization, *, bars: pd.DataFrame | None = None,
                  **options: Any) -> Report:
    """The study's report with the best point's backtest (``opt.best``, no rerun)."""
    symbol = opt.study.symbols[0]
    best = backtest_report(opt.best, bars, symbol=symbol, **options)
    return study_report(StudyView.from_study(opt.study), best=best)


@build_report.register
def _study_view(view: StudyView, *, best: Report | None = None, run_link: str = "",
                **_: Any) -> Report:
    return study_report(view, best=best, run_link=run_link)


def heatmap_section(title: str, table: pd.DataFrame, *, percent: bool = False,
                    note: str = "", zmid: float | None = None) -> FigureSection:
    """A heatmap of a (rows x columns) table, e.g. a metric over two parameters."""
    colorscale = "RdYlGn"
    return FigureSection(title, heatmap_figure(table, percent=percent, colorscale=colorscale,
                                               zmid=zmid), note=note)


def lines_section(title: str, series: dict[str, pd.Series], *, percent: bool = False,
                  stacked: bool = False, y_title: str = "", note: str = "") -> FigureSection:
    """Time series on one date axis: compared runs, equity curves, weights (``stacked=True``)."""
    return FigureSection(title, lines_figure(series, percent=percent, stacked=stacked,
                                             y_title=y_title), note=note)


def table_section(title: str, frame: pd.DataFrame, *, note: str = "",
                  percent_columns: frozenset[str] = frozenset()) -> TableSection:
    """A table from a DataFrame (numbers formatted, numeric columns sortable as numbers)."""
    columns = [str(c) for c in frame.columns]
    numeric = tuple(
        bool(pd.api.types.is_numeric_dtype(frame[c].dtype)) for c in frame.columns
    )
    rows = tuple(
        tuple(
            format_metric(col if col in percent_columns else "", v) if is_num else str(v)
            for col, v, is_num in zip(columns, row, numeric, strict=True)
        )
        for row in frame.itertuples(index=False, name=None)
    )
    return TableSection(title, tuple(columns), rows, numeric=numeric, note=note)
