"""The report of an optimisation study: heatmap, ranked points with their runs, DSR and PBO,
and the best point's backtest report."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from algotrader import Backtest
from algotrader.reports import StudyView, build_report, study_report
from algotrader.research import Study, StudyConfig, parse_grid, run_study


@pytest.fixture(scope="module")
def study(indicator_frame: pd.DataFrame) -> Study:
    config = StudyConfig("ma_cross", parse_grid(["fast=5:20:5", "slow=30:60:15"]),
                         constraint="fast < slow")
    return run_study({"SPY": indicator_frame}, config)


def _section(report: object, title: str) -> object:
    (found,) = [s for s in report.sections if s.title == title]  # type: ignore[attr-defined]
    return found


def test_the_heatmap_is_the_best_objective_over_two_parameters(study: Study) -> None:
    report = study_report(StudyView.from_study(study))
    heatmap = _section(report, "sharpe over fast and slow").figure.data[0]  # type: ignore[attr-defined]
    expected = study.heatmap("fast", "slow", "best")
    assert list(heatmap.x) == [str(v) for v in expected.columns]
    assert list(heatmap.y) == [str(v) for v in expected.index]
    assert [list(row) for row in heatmap.z] == [list(row) for row in expected.to_numpy()]


def test_points_are_ranked_with_their_runs(study: Study) -> None:
    run_ids = {p.id: {"SPY": 100 + p.id} for p in study.points}
    report = build_report(study, run_ids=run_ids, run_link="/runs/{id}")
    table = _section(report, "Points, best first")
    ranked = study.ranked()
    assert [int(row[2]) for row in table.rows] == [p.id for p in ranked]  # type: ignore[attr-defined]
    assert [row[1] for row in table.rows] == [str(100 + p.id) for p in ranked]  # type: ignore[attr-defined]
    assert table.links[0] == f"/runs/{100 + ranked[0].id}"  # type: ignore[attr-defined]
    html = report.to_html()
    assert f'<a href="/runs/{100 + ranked[0].id}">{100 + ranked[0].id}</a>' in html


def test_dsr_and_pbo_are_the_studys(study: Study) -> None:
    report = study_report(StudyView.from_study(study))
    rows = dict(_section(report, "Overfitting").rows)  # type: ignore[attr-defined]
    assert rows["deflated Sharpe ratio (DSR)"] == f"{study.deflated_sharpe().dsr * 100:.1f}%"
    assert rows["probability of backtest overfitting (PBO)"] == f"{study.pbo().pbo * 100:.1f}%"
    assert rows["trials (N)"] == str(study.n_trials)


def test_the_best_points_backtest_report_follows(study: Study,
                                                 indicator_frame: pd.DataFrame) -> None:
    report = build_report(study, bars=indicator_frame)
    best = study.best
    titles = [s.title for s in report.sections]
    assert f"Best point (fast={best.params['fast']}, slow={best.params['slow']})" in titles
    assert titles[-3:] == ["Price, trades and equity", "Monthly returns", "Trades"]
    metrics = {row[0]: row[1] for row in _section(report, "Metrics").rows}  # type: ignore[attr-defined]
    assert metrics["Sharpe"] == f"{best.metrics['SPY']['sharpe']:,.2f}"


def test_an_optimization_reports_its_best_run_without_rerunning(
    indicator_frame: pd.DataFrame,
) -> None:
    opt = Backtest(indicator_frame, "rsi").optimize(lower=[20, 30], upper=[70, 80])
    report = build_report(opt, bars=indicator_frame)
    assert report.title.startswith("Study: rsi on DATA")
    assert any(s.title == "Trades" for s in report.sections)


def test_one_parameter_draws_a_line(indicator_frame: pd.DataFrame) -> None:
    config = StudyConfig("ma_cross", parse_grid(["fast=5:25:5"]), fixed={"slow": 50})
    view = StudyView.from_study(run_study({"SPY": indicator_frame}, config))
    line = _section(study_report(view), "sharpe by fast").figure.data[0]  # type: ignore[attr-defined]
    assert list(line.x) == [5, 10, 15, 20, 25]
    values = {p.params["fast"]: p.objective for p in view.points}
    assert list(line.y) == [values[x] if values[x] is not None else math.nan for x in line.x]
