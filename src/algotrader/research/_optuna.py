"""Model-based search with Optuna (TPE), driven by ask/tell from this process.

Each round asks the sampler for a batch of points (the number of workers), evaluates the new ones
through the study's executor, and tells every result back in trial order. Points failing the
constraint are told as failed and never evaluated; a point proposed again is told its earlier value
without re-running it, so ``trials`` counts distinct configurations (the N of the deflated Sharpe
ratio). Sequentially (batch 1) a seed gives the same trials every time; in batches the path depends
on the batch size too (and TPE uses the "constant liar" for trials still running).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from algotrader.errors import InvalidInputError
from algotrader.research.space import Param, ParamSpace
from algotrader.research.study import Point, StudyConfig

if TYPE_CHECKING:
    from algotrader.research.optimize import Progress, _Evaluator

_ATTEMPTS_PER_TRIAL = 50
_MAX_FEASIBLE_COUNT = 200_000


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise InvalidInputError(
            "--method optuna needs the optuna package", 'install it: pip install -e ".[optuna]"'
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def optuna_points(
    evaluator: _Evaluator,
    config: StudyConfig,
    constraint: Callable[[dict[str, Any]], bool] | None,
    progress: Progress | None,
) -> tuple[list[Point], int]:
    """Run the search; returns the distinct evaluated points and the infeasible proposals."""
    optuna = _import_optuna()
    trials = int(config.trials or 0)
    batch = evaluator.batch
    sampler = optuna.samplers.TPESampler(seed=config.seed, constant_liar=batch > 1)
    study = optuna.create_study(direction=config.objective.direction, sampler=sampler)
    feasible = _feasible_count(config.space, constraint)
    limit = trials if feasible is None else min(trials, feasible)
    points: list[Point] = []
    value_of: dict[tuple[Any, ...], float] = {}
    infeasible = 0
    attempts = 0
    max_attempts = trials * _ATTEMPTS_PER_TRIAL + 100
    while len(points) < limit and attempts < max_attempts:
        asked: list[tuple[Any, dict[str, Any]]] = []
        fresh: dict[tuple[Any, ...], dict[str, Any]] = {}
        while len(fresh) < min(batch, limit - len(points)) and attempts < max_attempts:
            trial = study.ask()
            attempts += 1
            params = {p.name: _suggest(trial, p) for p in config.space.params}
            if constraint is not None and not constraint(params):
                infeasible += 1
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            key = _key(params)
            if key in value_of:
                _tell(optuna, study, trial, value_of[key])
                continue
            fresh.setdefault(key, params)
            asked.append((trial, params))
        new_points = evaluator.evaluate(list(fresh.values()))
        for key, point in zip(fresh, new_points, strict=True):
            value_of[key] = point.objective
        points.extend(new_points)
        for trial, params in asked:
            _tell(optuna, study, trial, value_of[_key(params)])
        if progress is not None:
            progress(len(points), limit)
    return points, infeasible


def _suggest(trial: Any, param: Param) -> Any:
    # Ordered numbers are searched by position, so TPE can exploit their order and the values
    # stay exactly the grid's (no float drift from a continuous range).
    if param.is_ordered and len(param.values) > 1:
        index = trial.suggest_int(param.name, 0, len(param.values) - 1)
        return param.values[index]
    if len(param.values) == 1:
        return param.values[0]
    return trial.suggest_categorical(param.name, list(param.values))


def _tell(optuna: Any, study: Any, trial: Any, value: float) -> None:
    if math.isnan(value) or math.isinf(value):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, value)


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, type(v).__name__, v) for k, v in params.items())


def _feasible_count(
    space: ParamSpace, constraint: Callable[[dict[str, Any]], bool] | None
) -> int | None:
    if constraint is None:
        return space.size
    if space.size > _MAX_FEASIBLE_COUNT:
        return None
    return sum(1 for p in space.points() if constraint(p))
