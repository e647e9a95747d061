"""Research at scale: many backtests at once, honest about overfitting.

* :func:`optimize` / :func:`run_study` / :func:`optimize_each`: grid, random or Optuna search over a
  :class:`ParamSpace` (``parse_grid(["fast=5:50:5"])``), with a constraint, any metric as the
  objective, several symbols pooled; returns a :class:`Study` (ranked table, heatmap, deflated
  Sharpe ratio, probability of backtest overfitting).
* :func:`walk_forward`: optimise on rolling or anchored training windows, trade the next test
  window, stitch the out-of-sample equity.
* :func:`check_lookahead`: does a strategy use bars it could not have seen?

Executors (local processes, Dask) live in :mod:`algotrader.executors`; pass one as ``executor=``.
"""

from __future__ import annotations

from algotrader.research.api import Optimization
from algotrader.research.constraint import Constraint
from algotrader.research.lookahead import Finding, LookaheadReport, check_lookahead
from algotrader.research.objective import Objective, metric_names
from algotrader.research.optimize import infer_resolution, optimize, optimize_each, run_study
from algotrader.research.overfitting import (
    DeflatedSharpe,
    PBOResult,
    SharpeMoments,
    deflated_sharpe_from_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from algotrader.research.space import Param, ParamSpace, parse_grid, space_from
from algotrader.research.study import DataWindow, Point, Study, StudyConfig
from algotrader.research.walkforward import (
    Fold,
    FoldWindow,
    WalkForwardResult,
    fold_windows,
    walk_forward,
    warm_started,
)

__all__ = [
    "Constraint",
    "DataWindow",
    "DeflatedSharpe",
    "Finding",
    "Fold",
    "FoldWindow",
    "LookaheadReport",
    "Objective",
    "Optimization",
    "PBOResult",
    "Param",
    "ParamSpace",
    "Point",
    "SharpeMoments",
    "Study",
    "StudyConfig",
    "WalkForwardResult",
    "check_lookahead",
    "deflated_sharpe_from_returns",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "fold_windows",
    "infer_resolution",
    "metric_names",
    "optimize",
    "optimize_each",
    "parse_grid",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "run_study",
    "space_from",
    "walk_forward",
    "warm_started",
]
