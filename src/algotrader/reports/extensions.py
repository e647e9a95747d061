"""Reports for other result objects.

:func:`build_report` dispatches on the type of what it is given; a package adds its report by
registering a builder for its result class, composing the section helpers below (and, for a
study, the best point's :func:`~algotrader.reports.backtest_report` sections)::

    from algotrader.reports import build_report, Report, heatmap_section, table_section

    @build_report.register
    def _(study: StudyResult, **options) -> Report:
        report = Report(title=f"Study {study.name}")
        report.add(heatmap_section("Sharpe by parameters", study.grid("fast", "slow", "sharpe")))
        report.add(table_section("Points", study.points))
        report.sections += backtest_report(study.best.result, study.best.bars).sections
        return report

Planned: optimisation studies (heatmap of a metric over two parameters, the table of points,
the best point's report), walk-forward runs (folds, in- vs out-of-sample equity and metrics) and
portfolio runs (weights over time). They are registered here once their result objects exist.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.reports.charts import heatmap_figure, lines_figure
from algotrader.reports.document import FigureSection, Report, TableSection
from algotrader.reports.tables import format_metric


@singledispatch
def build_report(obj: object, **options: Any) -> Report:
    """The report of ``obj`` (a backtest ``Result`` and whatever is registered)."""
    raise InvalidInputError(
        f"no report for a {type(obj).__name__}",
        "pass a backtest Result, or register a builder with @build_report.register",
    )


def _result_report(result: Any, **options: Any) -> Report:
    from algotrader.reports.backtest import backtest_report

    return backtest_report(result, **options)


def _register_builtin() -> None:
    from algotrader.backtest.result import Result

    build_report.register(Result, _result_report)


_register_builtin()


def heatmap_section(title: str, table: pd.DataFrame, *, percent: bool = False,
                    note: str = "", zmid: float | None = None) -> FigureSection:
    """A heatmap of a (rows x columns) table, e.g. a metric over two parameters."""
    colorscale = "RdYlGn"
    return FigureSection(title, heatmap_figure(table, percent=percent, colorscale=colorscale,
                                               zmid=zmid), note=note)


def lines_section(title: str, series: dict[str, pd.Series], *, percent: bool = False,
                  stacked: bool = False, y_title: str = "", note: str = "") -> FigureSection:
    """Time series on one date axis: in- vs out-of-sample equity, portfolio weights
    (``stacked=True``), compared runs."""
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
