"""Parameter optimisation: run a study over a grid (all of it, a random sample, or guided by
Optuna) on one or several symbols, locally or on any executor.

>>> study = optimize(bars, "ma_cross", fast=range(5, 51, 5), slow=range(20, 201, 20),
...                  constraint="fast < slow", maximize="sharpe")      # doctest: +SKIP
>>> study.best.params, study.table(top=10), study.deflated_sharpe().dsr  # doctest: +SKIP

Results do not depend on the executor, the number of workers or how points are chunked: every
point is a deterministic function of (bars, strategy, parameters, settings), and points are
assembled by id. Grid and random studies are therefore bit-reproducible anywhere; Optuna studies are
reproducible for a given seed and batch size (the batch is the number of workers, 1 in-process):
trials are proposed in batches and their results told back in trial order, so a different number
of workers follows a different (equally valid) search path.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest.result import BacktestConfig
from algotrader.errors import InvalidInputError
from algotrader.research.constraint import Constraint
from algotrader.research.objective import Direction, Objective, Pool
from algotrader.research.returns import period_ends, resolve_period, returns_index
from algotrader.research.space import check_names, space_from
from algotrader.research.study import DataWindow, Point, Study, StudyConfig, symbols_of
from algotrader.research.tasks import (
    EvalSpec,
    EvalTask,
    Evaluation,
    InlineRunner,
    StrategyRef,
    TaskRunner,
    check_shippable,
    chunk_size,
    chunked,
    evaluate_task,
    in_process,
)
from algotrader.strategies.base import Strategy, plain_class_defaults
from algotrader.strategies.registry import strategy_params
from algotrader.timeframes import RESOLUTIONS, Resolution, parse_resolution

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as points complete (total may be an estimate)."""


def optimize(
    data: pd.DataFrame | Mapping[str, pd.DataFrame],
    strategy: Any = "ma_cross",
    *,
    maximize: str | None = None,
    minimize: str | None = None,
    constraint: str | Callable[[dict[str, Any]], bool] | None = None,
    method: str = "grid",
    trials: int | None = None,
    seed: int | None = None,
    pool: Pool | None = None,
    backtest: BacktestConfig | None = None,
    resolution: str | None = None,
    executor: TaskRunner | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    **space: Any,
) -> Study:
    """Optimise ``strategy``'s parameters over ``space`` (backtesting.py style keywords).

    Args:
        data: a bar frame, or ``{symbol: frame}`` with ``pool`` set to pool the objective.
        strategy: name, ``path/file.py:Class``, class or instance.
        maximize / minimize: the metric to optimise (default: maximise ``sharpe``).
        constraint: ``"fast < slow"`` or a callable on the point dict.
        method, trials, seed: see :class:`StudyConfig`.
        backtest: execution settings (cash, costs, fills ...).
        executor: where to run (default: this process; see :mod:`algotrader.executors`).
        threads: threads for the compiled fast path when running in this process (default: all
            cores).
        **space: parameter values: ``fast=range(5, 51, 5)``, ``slow=[20, 50]`` or ``"5:50:5"``.
    """
    if maximize and minimize:
        raise InvalidInputError("both maximize and minimize given", "pass one of them")
    direction: Direction = "minimize" if minimize else "maximize"
    config = StudyConfig(
        strategy=strategy,
        space=space_from(space),
        objective=Objective(minimize or maximize or "sharpe", direction, pool),
        constraint=constraint,
        method=method,  # type: ignore[arg-type]
        trials=trials,
        seed=seed,
        backtest=backtest or BacktestConfig(),
        resolution=resolution,
    )
    return run_study(data, config, executor=executor, threads=threads, progress=progress)


def run_study(
    data: pd.DataFrame | Mapping[str, pd.DataFrame],
    config: StudyConfig,
    *,
    executor: TaskRunner | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    rows: Mapping[str, tuple[int, int]] | None = None,
    shared: Mapping[str, pd.DataFrame] | None = None,
) -> Study:
    """Run the study ``config`` on ``data``.

    ``rows`` limits each symbol to a row range ``[lo, hi)``; ``shared`` is the object shipped to
    the workers (from :func:`shared_bars`): pass the same one to several studies on the same
    bars (walk-forward folds) and the executor ships the bars only once.
    """
    started = time.perf_counter()
    frames = symbols_of(data)
    if len(frames) > 1 and config.objective.pool is None:
        raise InvalidInputError(
            f"{len(frames)} symbols but no pooled objective",
            "set pool to mean, median or min, or run one study per symbol (optimize_each)",
        )
    evaluator = _Evaluator.create(frames, config, executor, threads, rows, shared)
    constraint = _constraint(config)
    if config.method == "optuna":
        from algotrader.research._optuna import optuna_points

        points, skipped = optuna_points(evaluator, config, constraint, progress)
    else:
        candidates = config.space.points()
        feasible = [p for p in candidates if constraint is None or constraint(p)]
        skipped = len(candidates) - len(feasible)
        if config.method == "random":
            rng = random.Random(config.seed)
            feasible = rng.sample(feasible, min(config.trials or 0, len(feasible)))
        points = evaluator.evaluate(feasible, progress)
    if not points:
        raise InvalidInputError(
            "no grid point satisfies the constraint", "loosen the constraint or widen the grid"
        )
    if all(not p.ok for p in points):
        raise InvalidInputError(f"no point could be evaluated: {points[0].error}")
    return Study(
        config=evaluator.resolved_config,
        points=tuple(points),
        data=evaluator.windows(),
        returns_index=evaluator.returns_indexes(),
        skipped=skipped,
        seconds=time.perf_counter() - started,
        compute_seconds=evaluator.compute_seconds,
    )


def optimize_each(
    frames: Mapping[str, pd.DataFrame],
    config: StudyConfig,
    *,
    executor: TaskRunner | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Study]:
    """One independent study per symbol (same config), sharing the executor."""
    return {
        symbol: run_study(
            {symbol: frame}, config, executor=executor, threads=threads, progress=progress
        )
        for symbol, frame in frames.items()
    }


def shared_bars(
    data: pd.DataFrame | Mapping[str, pd.DataFrame],
    config: StudyConfig,
    executor: TaskRunner | None = None,
) -> dict[str, pd.DataFrame]:
    """The bars as the workers receive them: only open/close for the MA-cross fast path on
    another process, else the frames themselves."""
    from algotrader.research._fastpath import fast_kind

    frames = symbols_of(data)
    ref = StrategyRef.of(config.strategy)
    spec = EvalSpec(ref, config.backtest, "1d", "bar", engine_only=config.engine_only,
                    path=config.path)
    slim = fast_kind(ref.resolve(), spec) == "ma_cross" and not (
        executor is None or in_process(executor)
    )
    return {s: f[["open", "close"]] if slim else f for s, f in frames.items()}


def infer_resolution(index: pd.DatetimeIndex) -> Resolution:
    """The bar size nearest (log scale) to the median spacing of the first 10,000 bars."""
    if len(index) < 2:
        return RESOLUTIONS["1d"]
    head = pd.DatetimeIndex(index[:10_001]).as_unit("ns").asi8
    step = float(np.median(np.diff(head))) / 1e9
    return min(RESOLUTIONS.values(), key=lambda r: abs(math.log(max(step, 1.0) / r.seconds)))


def strategy_param_names(strategy: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``(base params, valid names)``: an instance's own values, or the class defaults."""
    ref = StrategyRef.of(strategy)
    cls = ref.resolve()
    base = strategy_params(strategy) if not isinstance(strategy, (str, type)) else {}
    names = tuple(cls.params) if issubclass(cls, Strategy) else tuple(plain_class_defaults(cls))
    return base, names


def _constraint(config: StudyConfig) -> Callable[[dict[str, Any]], bool] | None:
    if config.constraint is None or callable(config.constraint):
        return config.constraint
    return Constraint.parse(config.constraint, config.space.names)


class _Evaluator:
    """Turns parameter dicts into :class:`Point` objects through a task runner."""

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        spec: EvalSpec,
        config: StudyConfig,
        runner: TaskRunner,
        threads: int,
        rows: Mapping[str, tuple[int, int]],
        shared: Mapping[str, pd.DataFrame],
    ) -> None:
        self.frames = frames
        self.spec = spec
        self.resolved_config = config
        self.runner = runner
        self.threads = threads
        self.rows = rows
        self.next_id = 0
        self.compute_seconds = 0.0
        from algotrader.research._fastpath import fast_kind

        self.fast = fast_kind(spec.strategy.resolve(), spec) == "ma_cross"
        self.shared = shared

    @classmethod
    def create(
        cls,
        frames: Mapping[str, pd.DataFrame],
        config: StudyConfig,
        executor: TaskRunner | None,
        threads: int | None,
        rows: Mapping[str, tuple[int, int]] | None,
        shared: Mapping[str, pd.DataFrame] | None,
    ) -> _Evaluator:
        ref = StrategyRef.of(config.strategy)
        base, names = strategy_param_names(config.strategy)
        check_names(config.space.names, names, ref.label)
        check_names(tuple(config.fixed), names, ref.label)
        fixed = {**base, **config.fixed}
        first = next(iter(frames.values()))
        for symbol, frame in frames.items():
            if not isinstance(frame, pd.DataFrame) or not isinstance(
                frame.index, pd.DatetimeIndex
            ):
                raise InvalidInputError(
                    f"the bars of {symbol} are not a frame indexed by time", "pass bar frames"
                )
        res = (
            parse_resolution(config.resolution)
            if config.resolution
            else infer_resolution(pd.DatetimeIndex(first.index))
        )
        spec = EvalSpec(
            strategy=ref,
            config=config.backtest,
            resolution=res.name,
            returns_period=resolve_period(config.returns_period, res),
            fixed={k: v for k, v in fixed.items() if k not in config.space.names},
            engine_only=config.engine_only,
            path=config.path,
        )
        runner = executor or InlineRunner()
        check_shippable(ref, runner)
        inline = in_process(runner)
        resolved = replace(config, resolution=res.name, fixed=dict(spec.fixed))
        all_rows = {s: (0, len(f)) for s, f in frames.items()}
        all_rows.update(rows or {})
        return cls(
            frames, spec, resolved, runner,
            (threads or os.cpu_count() or 1) if inline else 1, all_rows,
            shared if shared is not None else shared_bars(frames, config, runner),
        )

    @property
    def batch(self) -> int:
        return max(1, self.runner.workers)

    def evaluate(
        self, params: Sequence[dict[str, Any]], progress: Progress | None = None
    ) -> list[Point]:
        """Evaluate new points; ids continue from the previous call."""
        ids = list(range(self.next_id, self.next_id + len(params)))
        self.next_id += len(params)
        numbered = list(zip(ids, params, strict=True))
        size = chunk_size(len(numbered), self.runner.workers, self.fast)
        if self.fast and in_process(self.runner):
            size = len(numbered)  # one compiled pass, split over threads inside
        tasks = [
            EvalTask(self.spec, symbol, self.rows[symbol], chunk, self.threads)
            for symbol in self.frames
            for chunk in chunked(numbered, size)
        ]
        found: dict[int, dict[str, Evaluation]] = {i: {} for i in ids}
        total = len(ids) * len(self.frames)
        done = 0
        for _, evaluations in self.runner.map_unordered(evaluate_task, self.shared, tasks):
            for e in evaluations:
                found[e.point][e.symbol] = e
                self.compute_seconds += e.seconds
            done += len(evaluations)
            if progress is not None:
                progress(done, total)
        return [self._point(i, p, found[i]) for i, p in numbered]

    def _point(self, pid: int, params: dict[str, Any], by_symbol: dict[str, Evaluation]) -> Point:
        missing = [s for s in self.frames if s not in by_symbol]
        if missing:  # an executor that lost a result is a bug, never a silent gap
            raise RuntimeError(f"point {pid} has no result for {missing}")
        errors = [e.error for e in by_symbol.values() if e.error]
        metrics = {s: e.metrics for s, e in by_symbol.items() if e.metrics is not None}
        returns = {s: e.returns for s, e in by_symbol.items() if e.returns is not None}
        if errors:
            return Point(pid, dict(params), math.nan, metrics, returns, errors[0])
        objective = self.resolved_config.objective
        values = [metrics[s][objective.metric] for s in self.frames]
        return Point(pid, dict(params), objective.combine(values), metrics, returns)

    def windows(self) -> dict[str, DataWindow]:
        out = {}
        for s, f in self.frames.items():
            lo, hi = self.rows[s]
            idx = f.index[lo:hi]
            out[s] = DataWindow(s, pd.Timestamp(idx[0]), pd.Timestamp(idx[-1]), hi - lo)
        return out

    def returns_indexes(self) -> dict[str, pd.DatetimeIndex]:
        out = {}
        for s, f in self.frames.items():
            lo, hi = self.rows[s]
            idx = pd.DatetimeIndex(f.index[lo:hi])
            out[s] = returns_index(idx, period_ends(idx, self.spec.returns_period))
        return out
