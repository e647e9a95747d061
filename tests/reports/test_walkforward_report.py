"""The report of a walk-forward analysis: the stitched out-of-sample curve with its folds,
in- vs out-of-sample per fold, the folds and their trades."""

from __future__ import annotations

import pandas as pd
import pytest

from algotrader.reports import WalkForwardView, build_report, walkforward_report
from algotrader.research import StudyConfig, WalkForwardResult, parse_grid, walk_forward


@pytest.fixture(scope="module")
def result(indicator_frame: pd.DataFrame) -> WalkForwardResult:
    config = StudyConfig("ma_cross", parse_grid(["fast=5,10,20", "slow=30,60"]))
    return walk_forward(indicator_frame, config, train="2 Y", test="1 Y", symbol="SPY")


def _section(report: object, title: str) -> object:
    (found,) = [s for s in report.sections if s.title == title]  # type: ignore[attr-defined]
    return found


def test_folds_are_shaded_and_labelled_with_their_parameters(result: WalkForwardResult) -> None:
    report = build_report(result, symbol="SPY")
    fig = _section(report, "Out-of-sample equity by fold").figure  # type: ignore[attr-defined]
    assert fig.data[0].y[-1] == result.equity.iloc[-1]
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(shaded) == 2 * len(result.folds)  # equity and drawdown rows
    labels = [a.text for a in fig.layout.annotations if a.text and a.text[0].isdigit()]
    assert labels == [f"{f.window.number}: fast={f.params['fast']}, slow={f.params['slow']}"
                      for f in result.folds]


def test_in_and_out_of_sample_per_fold(result: WalkForwardResult) -> None:
    fig = _section(walkforward_report(WalkForwardView.from_result(result)),
                   "In- vs out-of-sample per fold").figure  # type: ignore[attr-defined]
    sharpe_in, sharpe_out = fig.data[0], fig.data[1]
    assert list(sharpe_in.y) == [f.in_sample["sharpe"] for f in result.folds]
    assert list(sharpe_out.y) == [f.out_of_sample["sharpe"] for f in result.folds]


def test_tables_hold_the_folds_and_every_out_of_sample_trade(result: WalkForwardResult) -> None:
    report = build_report(result, symbol="SPY")
    folds = _section(report, "Folds").rows  # type: ignore[attr-defined]
    assert len(folds) == len(result.folds)
    trades = _section(report, "Out-of-sample trades")
    assert len(trades.rows) == sum(len(f.result.trades) for f in result.folds)  # type: ignore[attr-defined]
    headline = dict((row[0], row[1]) for row in _section(  # type: ignore[attr-defined]
        report, "Out of sample vs in sample").rows)
    assert headline["total return"] == f"{result.out_of_sample['total_return'] * 100:.2f}%"
    assert report.title == (f"Walk-forward SPY @ 1d: ma_cross, rolling train 2 Y / test 1 Y, "
                            f"{len(result.folds)} folds")
