"""What :meth:`Backtest.optimize` returns, and the glue behind it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.research.objective import Objective
from algotrader.research.space import space_from
from algotrader.research.study import HeatmapAgg, Study, StudyConfig
from algotrader.research.tasks import EvalSpec, StrategyRef, TaskRunner, make_strategy

INLINE_WORK = 5_000_000
"""Below this many bar-evaluations (points x bars) a study without a fast path runs in-process:
starting worker processes would cost more than it saves."""


@dataclass(frozen=True)
class Optimization:
    """The outcome of :meth:`Backtest.optimize`.

    Attributes:
        best: the best point rerun through the normal engine (trades, equity, metrics).
        study: every evaluated point (:class:`~algotrader.research.Study`).
    """

    best: Result
    study: Study

    @property
    def table(self) -> pd.DataFrame:
        """All points, best first (see :meth:`Study.table`)."""
        return self.study.table()

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.study.best.params)

    def heatmap(self, x: str, y: str, agg: HeatmapAgg = "max") -> pd.DataFrame:
        return self.study.heatmap(x, y, agg)

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict(), "study": self.study.to_dict()}


def worker_processes(
    strategy: Any, path: str, bars: int, points: int, jobs: int | None
) -> int:
    """How many worker processes a ``Backtest.optimize`` call should start (1 = none).

    The compiled fast path always runs in-process (threads); otherwise ``jobs`` decides, and
    ``jobs=None`` uses every core only when the study is big enough to pay for the processes.
    """
    from algotrader.research._fastpath import fast_kind

    ref = StrategyRef.of(strategy)
    spec = EvalSpec(ref, BacktestConfig(), "1d", "bar", path=path)
    if fast_kind(ref.resolve(), spec) == "ma_cross" or ref.local_only:
        return 1
    if jobs is not None:
        return max(1, jobs)
    if bars * points < INLINE_WORK:
        return 1
    return os.cpu_count() or 1


def optimize_backtest(
    frame: pd.DataFrame,
    strategy: Any,
    config: BacktestConfig,
    *,
    resolution: Any,
    path: str,
    with_indicators: Callable[[pd.DataFrame], pd.DataFrame],
    maximize: str | None,
    minimize: str | None,
    constraint: Any,
    method: str,
    trials: int | None,
    seed: int | None,
    threads: int | None,
    executor: TaskRunner | None,
    space: Mapping[str, Any],
) -> Optimization:
    """The body of :meth:`Backtest.optimize` (the caller picks the executor)."""
    from algotrader.research._fastpath import fast_kind
    from algotrader.research.optimize import run_study

    if maximize and minimize:
        from algotrader.errors import InvalidInputError

        raise InvalidInputError("both maximize and minimize given", "pass one of them")
    study_config = StudyConfig(
        strategy=strategy,
        space=space_from(space),
        objective=Objective(
            minimize or maximize or "sharpe", "minimize" if minimize else "maximize"
        ),
        constraint=constraint,
        method=method,  # type: ignore[arg-type]
        trials=trials,
        seed=seed,
        backtest=config,
        resolution=None if resolution is None else str(resolution),
        path=path,
    )
    ref = StrategyRef.of(strategy)
    spec = EvalSpec(ref, config, "1d", "bar", path=path)
    # The MA-cross fast path computes its own averages: no indicator columns needed.
    bars = frame if fast_kind(ref.resolve(), spec) == "ma_cross" else with_indicators(frame)
    study = run_study(bars, study_config, executor=executor, threads=threads)
    best = make_strategy(ref.resolve(), {}, study.params_of(study.best))
    result = run_backtest(
        bars, best, config, path=path, resolution=study.config.resolution  # type: ignore[arg-type]
    )
    return Optimization(best=result, study=study)


def grid_size(space: Mapping[str, Any]) -> int:
    """Points of the grid the keywords describe (before the constraint)."""
    return space_from(space).size if space else 0

