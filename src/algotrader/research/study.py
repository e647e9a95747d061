"""What an optimisation returns: :class:`StudyConfig` (what was asked) and :class:`Study` (every
evaluated point with its parameters, metrics and float32 per-period returns)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.backtest.result import BacktestConfig, Result
from algotrader.errors import InvalidInputError
from algotrader.research.objective import Objective
from algotrader.research.overfitting import (
    DeflatedSharpe,
    PBOResult,
    deflated_sharpe_from_returns,
    probability_of_backtest_overfitting,
)
from algotrader.research.returns import ReturnsPeriodOption
from algotrader.research.space import ParamSpace, ParamValue

Method = Literal["grid", "random", "optuna"]
METHODS: tuple[str, ...] = ("grid", "random", "optuna")
HeatmapAgg = Literal["max", "min", "mean", "median", "best"]


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines a study except the bars (frozen; ``to_dict`` for storage).

    Attributes:
        strategy: registered name, entry point, ``path/file.py:Class``, a class or an instance.
        space: the parameters to vary (:func:`~algotrader.research.space.parse_grid`).
        objective: the metric, its direction and how symbols are pooled.
        constraint: an expression such as ``"fast < slow"`` (or, from Python, a callable taking
            the point as a dict); points failing it are not evaluated.
        method: ``"grid"`` (every point), ``"random"`` (``trials`` points of the grid drawn with
            ``seed``) or ``"optuna"`` (model-based, ``trials`` evaluations, TPE seeded by ``seed``).
        fixed: strategy parameters held constant (``--param``).
        backtest: execution settings of every backtest.
        resolution: bar size for annualising (inferred from the bars when ``None``).
        returns_period: per-period returns kept per point: ``"bar"``, ``"1d"`` or ``"auto"``
            (bars for daily data, UTC days for intraday data).
        engine_only: evaluate through :func:`run_backtest` even where a fast path exists.
        path: the engine path (``"auto"``, ``"on_bar"``, ``"vectorized"``); anything but
            ``"auto"`` implies ``engine_only``.
    """

    strategy: Any
    space: ParamSpace
    objective: Objective = field(default_factory=Objective)
    constraint: str | Callable[[dict[str, Any]], bool] | None = None
    method: Method = "grid"
    trials: int | None = None
    seed: int | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    resolution: str | None = None
    returns_period: ReturnsPeriodOption = "auto"
    engine_only: bool = False
    path: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            import difflib

            close = difflib.get_close_matches(str(self.method), list(METHODS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"unknown method {self.method!r}", f"{hint}use grid, random or optuna"
            )
        if self.path not in ("auto", "on_bar", "vectorized"):
            raise InvalidInputError(
                f"invalid path {self.path!r}", 'use "auto", "on_bar" or "vectorized"'
            )
        if self.method != "grid" and (self.trials is None or self.trials < 1):
            raise InvalidInputError(
                f"--method {self.method} needs a number of trials", "add --trials N (N >= 1)"
            )

    def to_dict(self) -> dict[str, Any]:
        from algotrader.research.tasks import StrategyRef

        constraint = self.constraint
        return {
            "strategy": StrategyRef.of(self.strategy).label,
            "space": self.space.to_dict(),
            "objective": {
                "metric": self.objective.metric,
                "direction": self.objective.direction,
                "pool": self.objective.pool,
            },
            "constraint": constraint if isinstance(constraint, str) or constraint is None
            else repr(constraint),
            "method": self.method,
            "trials": self.trials,
            "seed": self.seed,
            "fixed": dict(self.fixed),
            "backtest": self.backtest.to_dict(),
            "resolution": self.resolution,
            "returns_period": self.returns_period,
            "engine_only": self.engine_only,
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class Point:
    """One evaluated configuration.

    Attributes:
        id: 0, 1, ... in evaluation order (grid order, or trial order for optuna/random).
        params: the varied parameters (the study's ``fixed`` ones are not repeated).
        objective: the (pooled) objective value; nan when it is undefined or the point failed.
        metrics: per symbol, the full ``Result.metrics`` dict.
        returns: per symbol, float32 per-period returns (see :mod:`algotrader.research.returns`).
        error: why the point could not be evaluated (e.g. invalid parameters), else ``None``.
    """

    id: int
    params: dict[str, ParamValue]
    objective: float
    metrics: Mapping[str, dict[str, float]]
    returns: Mapping[str, np.ndarray]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, *, include_returns: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "params": dict(self.params),
            "objective": _json(self.objective),
            "error": self.error,
            "metrics": {s: {k: _json(v) for k, v in m.items()} for s, m in self.metrics.items()},
        }
        if include_returns:
            out["returns"] = {s: [_json(v) for v in r.tolist()] for s, r in self.returns.items()}
        return out


@dataclass(frozen=True, slots=True)
class DataWindow:
    """The bars a study ran on, for one symbol."""

    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    bars: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "bars": self.bars,
        }


@dataclass(frozen=True)
class Study:
    """The outcome of an optimisation: every point, ranked on demand.

    Attributes:
        config: what was asked (resolved: ``config.resolution`` is the bar size used).
        points: every evaluated point, in evaluation order.
        data: per symbol, the bars' window.
        returns_index: per symbol, the timestamp of each stored return.
        skipped: grid points excluded by the constraint (never evaluated, not trials).
        seconds: wall-clock time of the study.
        compute_seconds: time spent inside the evaluation tasks, summed over workers (wall
            time minus ``compute_seconds / workers`` is the executor's overhead).
    """

    config: StudyConfig
    points: tuple[Point, ...]
    data: Mapping[str, DataWindow]
    returns_index: Mapping[str, pd.DatetimeIndex]
    skipped: int = 0
    seconds: float = 0.0
    compute_seconds: float = 0.0

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.data)

    @property
    def objective(self) -> Objective:
        return self.config.objective

    @property
    def n_trials(self) -> int:
        """Configurations evaluated successfully (the N of the deflated Sharpe ratio)."""
        return sum(1 for p in self.points if p.ok)

    def ranked(self) -> list[Point]:
        """Points best first (failed and nan-objective points last, ties by id)."""
        key = self.objective.sort_key
        return sorted(self.points, key=lambda p: (*key(p.objective), p.id))

    @property
    def best(self) -> Point:
        ranked = self.ranked()
        if not ranked or not ranked[0].ok:
            first_error = next((p.error for p in self.points if p.error), "no points")
            raise InvalidInputError(f"no point could be evaluated: {first_error}")
        return ranked[0]

    def params_of(self, point: Point | int) -> dict[str, Any]:
        """Every strategy parameter of a point (fixed ones included), to rerun it."""
        p = self.points[point] if isinstance(point, int) else point
        return {**self.config.fixed, **p.params}

    def result(
        self, point: Point | int, bars: pd.DataFrame, symbol: str | None = None
    ) -> Result:
        """The full :class:`Result` (trades, equity, fills) of a point, rerun through the normal
        engine on ``bars`` cut to the study's window: the same metrics to the last bit."""
        from algotrader.backtest.engine import run_backtest
        from algotrader.research.tasks import StrategyRef, make_strategy

        p = self.points[point] if isinstance(point, int) else point
        window = self.data[symbol or self.symbols[0]]
        frame = bars.loc[window.start : window.end]
        strategy = make_strategy(StrategyRef.of(self.config.strategy).resolve(), {},
                                 self.params_of(p))
        return run_backtest(frame, strategy, self.config.backtest,
                            path=self.config.path,  # type: ignore[arg-type]
                            resolution=self.config.resolution)

    def table(self, top: int | None = None) -> pd.DataFrame:
        """Ranked table: rank, id, the parameters, the objective, then the metrics.

        With several symbols the metric columns are the objective metric per symbol
        (``sharpe[AAPL]``).
        """
        rows = []
        for rank, p in enumerate(self.ranked()[:top] if top else self.ranked(), start=1):
            row: dict[str, Any] = {"rank": rank, "id": p.id, **p.params, "objective": p.objective}
            if len(self.symbols) == 1:
                row.update(p.metrics.get(self.symbols[0], {}))
            else:
                for s in self.symbols:
                    value = p.metrics.get(s, {}).get(self.objective.metric, math.nan)
                    row[f"{self.objective.metric}[{s}]"] = value
            row["error"] = p.error
            rows.append(row)
        return pd.DataFrame(rows).set_index("rank") if rows else pd.DataFrame()

    def heatmap(self, x: str, y: str, agg: HeatmapAgg = "max") -> pd.DataFrame:
        """The objective over two parameters (rows ``y``, columns ``x``), aggregated over the
        others with ``agg`` (``"best"`` = max when maximising, min when minimising)."""
        for name in (x, y):
            self.config.space.values(name)  # unknown names raise with a did-you-mean
        if x == y:
            raise InvalidInputError("the heatmap needs two different parameters", "pick x != y")
        how = agg
        if agg == "best":
            how = "max" if self.objective.direction == "maximize" else "min"
        if how not in ("max", "min", "mean", "median"):
            raise InvalidInputError(f"invalid agg {agg!r}", "use max, min, mean, median or best")
        frame = pd.DataFrame(
            [{x: p.params[x], y: p.params[y], "objective": p.objective} for p in self.points]
        )
        pivot = frame.pivot_table(index=y, columns=x, values="objective", aggfunc=how,
                                  dropna=False)
        return pivot.sort_index().sort_index(axis=1)

    def heatmap_data(self, x: str, y: str, agg: HeatmapAgg = "max") -> dict[str, Any]:
        """:meth:`heatmap` as plain JSON: axis names and values, rows of cells (``None`` = no
        point), for reports and the dashboard."""
        grid = self.heatmap(x, y, agg)
        return {
            "x": x, "y": y, "agg": agg, "metric": self.objective.metric,
            "xs": [_json(v) for v in grid.columns.tolist()],
            "ys": [_json(v) for v in grid.index.tolist()],
            "values": [[_json(v) for v in row] for row in grid.to_numpy().tolist()],
        }

    def returns_matrix(self) -> pd.DataFrame:
        """T x N per-period returns (float64) of the successful points, columns = point ids.

        With several symbols each point's series is the equal-weight mean of its symbols'
        returns over the timestamps all symbols share.
        """
        ok = [p for p in self.points if p.ok]
        if not ok:
            raise InvalidInputError("no point could be evaluated", "see the points' errors")
        common = _common_index(self.returns_index)
        columns = {}
        for p in ok:
            series = []
            for s in self.symbols:
                values = pd.Series(p.returns[s].astype(np.float64), index=self.returns_index[s])
                series.append(values.reindex(common).to_numpy())
            columns[p.id] = np.mean(series, axis=0) if len(series) > 1 else series[0]
        return pd.DataFrame(columns, index=common)

    def deflated_sharpe(self) -> DeflatedSharpe:
        """DSR of the best point given all :attr:`n_trials` configurations."""
        matrix = self.returns_matrix()
        return deflated_sharpe_from_returns(matrix[self.best.id].to_numpy(), matrix.to_numpy())

    def pbo(self, blocks: int = 16) -> PBOResult:
        """Probability of backtest overfitting of this study (CSCV with ``blocks`` blocks)."""
        return probability_of_backtest_overfitting(self.returns_matrix().to_numpy(), blocks)

    def to_dict(self, *, include_returns: bool = False, top: int | None = None) -> dict[str, Any]:
        """JSON-ready: config, data windows, counts, the best point and the points (ranked)."""
        ranked = self.ranked()
        best = ranked[0] if ranked and ranked[0].ok else None
        return {
            "config": self.config.to_dict(),
            "data": {s: w.to_dict() for s, w in self.data.items()},
            "trials": self.n_trials,
            "failed": sum(1 for p in self.points if not p.ok),
            "skipped": self.skipped,
            "seconds": self.seconds,
            "compute_seconds": self.compute_seconds,
            "best": best.to_dict() if best else None,
            "points": [p.to_dict(include_returns=include_returns) for p in ranked[:top]],
        }


def _common_index(indexes: Mapping[str, pd.DatetimeIndex]) -> pd.DatetimeIndex:
    items = list(indexes.values())
    common = items[0]
    for other in items[1:]:
        common = common.intersection(other)
    return common


def _json(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def symbols_of(data: pd.DataFrame | Mapping[str, pd.DataFrame], name: str = "DATA") -> dict[
    str, pd.DataFrame
]:
    """``{symbol: frame}`` from one frame (named ``name``) or a mapping."""
    if isinstance(data, pd.DataFrame):
        return {name: data}
    frames = dict(data)
    if not frames:
        raise InvalidInputError("no bars given", "pass a frame or {symbol: frame}")
    return frames

