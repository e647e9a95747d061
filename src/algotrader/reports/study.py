"""The report of an optimisation study: :class:`StudyView` (what it shows) and
:func:`study_report`.

Sections: the study and its overfitting statistics (deflated Sharpe ratio, PBO), a heatmap of
the objective over two parameters (a line for one), the ranked table of every point with the
run that stores it, then the best point's backtest report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from algotrader.errors import InvalidInputError
from algotrader.reports.charts import heatmap_figure
from algotrader.reports.document import FigureSection, NoteSection, Report, TableSection
from algotrader.reports.tables import format_metric, plain

if TYPE_CHECKING:
    from algotrader.research import Study

MAX_POINT_ROWS = 5_000
"""The points table lists at most this many points (the best ones)."""
_SHOWN = ("total_return", "cagr", "sharpe", "max_drawdown", "num_trades", "win_rate")


@dataclass(frozen=True)
class PointView:
    """One evaluated point: its parameters (the varied ones), objective, metrics and runs per
    symbol (``run_ids`` is empty for points that were not stored)."""

    point: int
    params: dict[str, Any]
    objective: float | None
    metrics: dict[str, dict[str, Any]]
    run_ids: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class StudyView:
    """What a study report shows, from a :class:`~algotrader.research.Study`
    (:meth:`from_study`) or from a stored study and its point runs (:meth:`from_config`).
    ``points`` are ranked best first."""

    strategy: str
    symbols: tuple[str, ...]
    resolution: str
    objective: str
    direction: str
    pool: str | None
    names: tuple[str, ...]
    method: str
    constraint: str | None
    fixed: dict[str, Any]
    points: tuple[PointView, ...]
    trials: int
    skipped: int = 0
    failed: int = 0
    dsr: dict[str, Any] | None = None
    pbo: dict[str, Any] | None = None
    study_id: int | None = None
    created_at: datetime | None = None

    @property
    def best(self) -> PointView | None:
        first = self.points[0] if self.points else None
        return first if first is not None and first.error is None else None

    @classmethod
    def from_study(cls, study: Study, run_ids: Mapping[int, Mapping[str, int]] | None = None,
                   study_id: int | None = None) -> StudyView:
        """``run_ids``: the stored run of each point per symbol (``StoredStudy.point_runs``)."""
        points = [PointView(p.id, dict(p.params), _finite(p.objective),
                            {s: dict(m) for s, m in p.metrics.items()},
                            dict((run_ids or {}).get(p.id, {})), p.error)
                  for p in study.points]
        try:
            dsr: dict[str, Any] | None = study.deflated_sharpe().to_dict()
        except InvalidInputError:
            dsr = None
        try:
            pbo: dict[str, Any] | None = study.pbo().to_dict()
        except InvalidInputError:
            pbo = None
        return cls.from_config(study.config.to_dict(), points, symbols=study.symbols,
                               trials=study.n_trials, skipped=study.skipped, dsr=dsr, pbo=pbo,
                               study_id=study_id)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], points: Iterable[PointView], *,
                    symbols: Iterable[str], trials: int, skipped: int = 0,
                    failed: int | None = None, dsr: dict[str, Any] | None = None,
                    pbo: dict[str, Any] | None = None,
                    study_id: int | None = None, created_at: datetime | None = None) -> StudyView:
        """``config`` is :meth:`StudyConfig.to_dict` (what a stored study keeps); ``failed``
        defaults to the points given with an error."""
        objective = config["objective"]
        ranked = rank(points, objective["direction"])
        return cls(
            strategy=str(config["strategy"]), symbols=tuple(symbols),
            resolution=str(config.get("resolution") or ""), objective=objective["metric"],
            direction=objective["direction"], pool=objective.get("pool"),
            names=tuple(config["space"]), method=str(config.get("method", "grid")),
            constraint=config.get("constraint"), fixed=dict(config.get("fixed") or {}),
            points=tuple(ranked), trials=trials, skipped=skipped,
            failed=sum(1 for p in ranked if p.error is not None) if failed is None else failed,
            dsr=dsr, pbo=pbo,
            study_id=study_id, created_at=created_at,
        )


def rank(points: Iterable[PointView], direction: str) -> list[PointView]:
    """Best objective first; failed points and undefined objectives last; ties by point."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(p: PointView) -> tuple[int, float, int]:
        if p.error is not None or p.objective is None or not math.isfinite(p.objective):
            return (1, 0.0, p.point)
        return (0, sign * p.objective, p.point)

    return sorted(points, key=key)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def study_report(view: StudyView, *, best: Report | None = None, run_link: str = "") -> Report:
    """The whole report of a study; ``best`` (the best point's backtest report) is appended.

    ``run_link`` (e.g. ``"/runs/{id}"``) makes every run id a link.
    """
    label = f"Study {view.study_id}" if view.study_id is not None else "Study"
    title = (f"{label}: {view.strategy} on {', '.join(view.symbols)} @ {view.resolution}, "
             f"{view.direction} {view.objective}")
    report = Report(title=title, subtitle=_subtitle(view), synthetic=bool(best and best.synthetic))
    report.add(_study_table(view), _overfitting_table(view))
    figure = objective_figure(view)
    if figure is not None:
        report.add(figure)
    report.add(points_table(view, run_link=run_link))
    if best is not None:
        chosen = view.best
        params = plain(chosen.params) if chosen else ""
        report.add(NoteSection(f"Best point ({params})", (
            f"The best point's backtest ({best.subtitle}), rerun through the normal engine.",)))
        report.add(*best.sections)
        report.warnings.extend(best.warnings)
    return report


def objective_figure(view: StudyView) -> FigureSection | None:
    """A heatmap of the objective over the first two varied parameters (the best value over
    any others), or a line over the only one."""
    ok = [p for p in view.points if p.error is None]
    if not ok or not view.names:
        return None
    if len(view.names) == 1:
        return FigureSection(f"{view.objective} by {view.names[0]}", _line(view, ok))
    x, y = view.names[:2]
    frame = pd.DataFrame([{x: p.params.get(x), y: p.params.get(y),
                           "objective": np.nan if p.objective is None else p.objective}
                          for p in ok])
    how: Literal["max", "min"] = "max" if view.direction == "maximize" else "min"
    grid = frame.pivot_table(index=y, columns=x, values="objective", aggfunc=how, dropna=False)
    grid = grid.sort_index().sort_index(axis=1)
    others = f" ({how} over {', '.join(view.names[2:])})" if len(view.names) > 2 else ""
    fig = heatmap_figure(grid, percent=False, colorscale="Viridis", zmid=None,
                         title=f"{view.objective} by {x} (columns) and {y} (rows){others}")
    fig.update_traces(showscale=True, hovertemplate=f"{y}=%{{y}}, {x}=%{{x}}: %{{z:.4g}}"
                      "<extra></extra>")
    return FigureSection(f"{view.objective} over {x} and {y}", fig,
                         note="Empty cells: no point evaluated (constraint) or undefined.")


def _line(view: StudyView, ok: list[PointView]) -> go.Figure:
    name = view.names[0]
    ordered = sorted(ok, key=lambda p: (str(type(p.params.get(name))), p.params.get(name)))
    fig = go.Figure(go.Scatter(
        x=[p.params.get(name) for p in ordered],
        y=[np.nan if p.objective is None else p.objective for p in ordered],
        mode="lines+markers", line={"color": "#1f4e9c"},
        hovertemplate=f"{name}=%{{x}}: %{{y:.4g}}<extra></extra>",
    ))
    fig.update_layout(template="plotly_white", height=380,
                      margin={"l": 70, "r": 20, "t": 30, "b": 50})
    fig.update_xaxes(title_text=name)
    fig.update_yaxes(title_text=view.objective)
    return fig


def points_table(view: StudyView, *, run_link: str = "") -> TableSection:
    """Every point, best first: its run, parameters, objective and key metrics."""
    shown = view.points[:MAX_POINT_ROWS]
    multi = len(view.symbols) > 1
    metric_columns = ([f"{view.objective}[{s}]" for s in view.symbols] if multi
                      else list(_SHOWN))
    rows, links = [], []
    for k, p in enumerate(shown, start=1):
        run_id = p.run_ids.get(view.symbols[0]) if view.symbols else None
        if multi:
            values = [format_metric(view.objective, p.metrics.get(s, {}).get(view.objective))
                      for s in view.symbols]
        else:
            metrics = p.metrics.get(view.symbols[0], {}) if view.symbols else {}
            values = [format_metric(key, metrics.get(key)) for key in _SHOWN]
        rows.append((str(k), "" if run_id is None else str(run_id), str(p.point),
                     *(str(p.params.get(n, "")) for n in view.names),
                     format_metric(view.objective, p.objective), *values, p.error or ""))
        links.append(run_link.format(id=run_id) if run_link and run_id is not None else "")
    note = f"{len(view.points):,} points" if len(shown) == len(view.points) else (
        f"The best {len(shown):,} of {len(view.points):,} points.")
    if multi:
        note += f"; run: the point's run on {view.symbols[0]}"
    return TableSection(
        "Points, best first",
        ("rank", "run", "point", *view.names, "objective", *metric_columns, "error"),
        tuple(rows),
        numeric=(True, True, True, *(True for _ in view.names), True,
                 *(True for _ in metric_columns), False),
        note=note, link_column=1, links=tuple(links) if run_link else (),
    )


def _study_table(view: StudyView) -> TableSection:
    best = view.best
    best_run = best.run_ids.get(view.symbols[0]) if best and view.symbols else None
    rows = [
        ("strategy", view.strategy), ("symbols", ", ".join(view.symbols)),
        ("resolution", view.resolution),
        ("objective", f"{view.direction} {view.objective}"
                      + (f" ({view.pool} over symbols)" if view.pool else "")),
        ("method", view.method), ("parameters varied", ", ".join(view.names)),
        ("constraint", view.constraint or "(none)"), ("fixed parameters", plain(view.fixed)),
        ("points evaluated", f"{view.trials:,}"), ("failed", str(view.failed)),
        ("skipped by the constraint", str(view.skipped)),
        ("best point", plain(best.params) if best else "(none)"),
        ("best objective", format_metric(view.objective, best.objective if best else None)),
        ("best run", "" if best_run is None else str(best_run)),
    ]
    if view.created_at is not None:
        rows.insert(0, ("run at (UTC)", f"{pd.Timestamp(view.created_at):%Y-%m-%d %H:%M:%S}"))
    return TableSection("Study", ("field", "value"), tuple(rows), width="half")


def _overfitting_table(view: StudyView) -> TableSection:
    dsr, pbo = view.dsr or {}, view.pbo or {}
    rows = [
        ("deflated Sharpe ratio (DSR)", _probability(dsr.get("dsr"))),
        ("probabilistic Sharpe ratio (PSR)", _probability(dsr.get("psr"))),
        ("best point's Sharpe (per period)", format_metric("", dsr.get("sharpe"))),
        ("expected maximum Sharpe of the trials by luck (SR0)",
         format_metric("", dsr.get("benchmark_sharpe"))),
        ("trials (N)", str(dsr.get("trials", view.trials))),
        ("probability of backtest overfitting (PBO)", _probability(pbo.get("pbo"))),
        ("probability of an out-of-sample loss", _probability(pbo.get("prob_oos_loss"))),
        ("CSCV splits / blocks", f"{pbo.get('splits', 'n/a')} / {pbo.get('blocks', 'n/a')}"),
    ]
    note = ("DSR: the probability that the best point's true Sharpe ratio beats what the best "
            "of N skill-less trials would show. PBO: how often the in-sample winner ranks at or "
            "below the median out of sample.")
    if not pbo:
        note += " PBO needs two points and at least 32 returns."
    return TableSection("Overfitting", ("statistic", "value"), tuple(rows),
                        numeric=(False, True), width="half", note=note)


def _probability(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def _subtitle(view: StudyView) -> str:
    best = view.best
    text = f"{view.trials:,} points"
    if best is not None:
        text += f", best {plain(best.params)}: {view.objective} "
        text += format_metric(view.objective, best.objective)
    if view.dsr and view.dsr.get("dsr") is not None:
        text += f", DSR {_probability(view.dsr['dsr'])}"
    if view.pbo and view.pbo.get("pbo") is not None:
        text += f", PBO {_probability(view.pbo['pbo'])}"
    return text
