"""Research use cases on stored bars: optimisation studies (every point stored as a run),
walk-forward analyses (stored as a run) and the look-ahead check of a strategy.

Studies run in this process, on local worker processes or on a Dask cluster
(:mod:`algotrader.executors`); the numbers are the same on each.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app._stores import Stores, open_stores
from algotrader.app.bars import DEFAULT_FETCH, ensure_bars, load_bars
from algotrader.app.ingest import IngestListener
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.config import Settings
from algotrader.errors import InvalidInputError
from algotrader.ports.runs import RunRecord, StudyRecord
from algotrader.research import (
    LookaheadReport,
    Objective,
    Study,
    StudyConfig,
    WalkForwardResult,
    check_lookahead,
    parse_grid,
    run_study,
    walk_forward,
)
from algotrader.research.tasks import StrategyRef
from algotrader.strategies.registry import get_strategy
from algotrader.timeframes import Duration, Resolution

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ResearchRequest:
    """What to optimise, on which stored bars, and where to compute.

    ``grid`` holds specs like ``"fast=5:50:5"`` or ``"fast=5,10,20"``; ``params`` fixed strategy
    parameters; ``pool`` (``mean|median|min``) makes one study over all symbols, otherwise each
    symbol gets its own. ``jobs``/``dask`` choose the executor.
    """

    symbols: tuple[str, ...]
    resolution: Resolution
    strategy: str
    grid: tuple[str, ...]
    objective: str = "sharpe"
    minimize: bool = False
    constraint: str | None = None
    pool: str | None = None
    method: str = "grid"
    trials: int | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    config: BacktestConfig = field(default_factory=BacktestConfig)
    duration: Duration | None = None
    auto_fetch: bool = False
    fetch_duration: Duration | None = None
    source: str | None = None
    jobs: int | None = None
    dask: str | None = None

    def study_config(self) -> StudyConfig:
        objective = Objective(
            metric=self.objective,
            direction="minimize" if self.minimize else "maximize",
            pool=self.pool,  # type: ignore[arg-type]
        )
        return StudyConfig(
            strategy=self.strategy,
            space=parse_grid(list(self.grid)),
            objective=objective,
            constraint=self.constraint,
            method=self.method,  # type: ignore[arg-type]
            trials=self.trials,
            seed=self.seed,
            fixed=dict(self.params),
            backtest=self.config,
            resolution=self.resolution.name,
        )


@dataclass(frozen=True)
class StoredStudy:
    """A stored study: its id, the study itself, and the run id of every evaluated point.

    ``point_runs`` holds every point's run per symbol, ``best_results`` the best point's
    backtest per symbol and ``frames`` the bars it ran on (what its report draws).
    """

    study_id: int
    study: Study
    run_ids: dict[int, int]
    heatmap: Path | None = None
    point_runs: dict[int, dict[str, int]] = field(default_factory=dict)
    best_results: dict[str, Result] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def best_run_id(self) -> int:
        return self.run_ids[self.study.best.id]


@dataclass(frozen=True)
class StoredWalkForward:
    run_id: int
    result: WalkForwardResult
    chart: Path | None = None


def run_optimization(
    settings: Settings,
    request: ResearchRequest,
    listener: IngestListener | None = None,
    progress: Progress | None = None,
    *,
    stores: Stores | None = None,
) -> list[StoredStudy]:
    """Optimise on the stored bars (one study per symbol, or one pooled study); store every
    study with its points, and save a heatmap PNG when the space has two parameters.

    ``stores``: store the studies through these (a job's, so they commit with its result)
    instead of a transaction of their own."""
    config = request.study_config()
    if len(config.space.names) == 2:
        _check_plots_dir(settings)  # before anything is computed or stored
    frames = _frames(settings, request, listener)
    groups = [frames] if request.pool else [{s: f} for s, f in frames.items()]
    stored = []
    with _executor(request, config, frames) as executor:
        for group in groups:
            study = run_study(group, config, executor=executor, progress=progress)
            stored.append(_store_study(settings, study, group, stores))
    return stored


def _frames(
    settings: Settings, request: ResearchRequest, listener: IngestListener | None
) -> dict[str, pd.DataFrame]:
    if request.auto_fetch:
        for symbol in request.symbols:
            ensure_bars(
                settings,
                symbol,
                request.resolution,
                request.fetch_duration or DEFAULT_FETCH,
                source=request.source,
                listener=listener,
            )
    with open_stores(settings) as stores:
        return {
            s: load_bars(stores, s, request.resolution, request.duration) for s in request.symbols
        }


@contextlib.contextmanager
def _executor(
    request: ResearchRequest, config: StudyConfig, frames: dict[str, pd.DataFrame]
) -> Iterator[Any]:
    """In this process unless the study is big enough to pay for worker processes (or the
    user asked for processes or a Dask cluster)."""
    from algotrader.executors import make_executor
    from algotrader.research.api import worker_processes

    if request.dask is None and request.jobs is None:
        bars = max(len(f) for f in frames.values())
        points = request.trials or config.space.size
        if worker_processes(request.strategy, config.path, bars, points, None) <= 1:
            yield None
            return
    executor = make_executor(jobs=request.jobs, dask=request.dask)
    try:
        yield executor
    finally:
        executor.close()


def _store_study(
    settings: Settings, study: Study, frames: dict[str, pd.DataFrame], given: Stores | None = None
) -> StoredStudy:
    """The study row plus one ``study_point`` run per (point, symbol), in one transaction (the
    ``given`` stores' when there are some)."""
    best_point = study.best  # one clear line naming the first error when no point worked
    ok = [p for p in study.points if p.ok]
    points: list[RunRecord] = []
    owners: list[tuple[int, str]] = []
    best_results: dict[str, Result] = {}
    with contextlib.nullcontext(given) if given else open_stores(settings) as stores:
        for point in ok:
            for symbol in study.symbols:
                result = study.result(point, frames[symbol], symbol)
                points.append(_point_run(stores, study, point, symbol, frames[symbol], result))
                owners.append((point.id, symbol))
                if point.id == best_point.id:
                    best_results[symbol] = result
        best = owners.index((best_point.id, study.symbols[0]))
        study_id, ids = stores.runs.add_study(_study_record(study), points, best)
    run_ids: dict[int, int] = {}
    point_runs: dict[int, dict[str, int]] = {}
    for (owner, symbol), run_id in zip(owners, ids, strict=True):
        run_ids.setdefault(owner, run_id)  # a pooled point's first symbol
        point_runs.setdefault(owner, {})[symbol] = run_id
    heatmap = _heatmap(settings, study, study_id)
    log.info(
        "study %d: %s, %d points, best %s",
        study_id,
        ",".join(study.symbols),
        study.n_trials,
        study.best.params,
    )
    return StoredStudy(study_id, study, run_ids, heatmap, point_runs, best_results, frames)


def _point_run(
    stores: Stores, study: Study, point: Any, symbol: str, frame: pd.DataFrame, result: Result
) -> RunRecord:
    document = result.to_dict()
    window = study.data[symbol]
    used = frame.loc[window.start : window.end]
    instance = get_strategy(
        StrategyRef.of(study.config.strategy).resolve(), **study.params_of(point)
    )
    return RunRecord(
        kind="study_point",
        symbol=symbol,
        resolution=result.resolution,
        strategy=StrategyRef.of(study.config.strategy).label,
        params=document["params"],
        config=study.config.backtest.to_dict(),
        start_ts=used.index[0].to_pydatetime(),
        end_ts=used.index[-1].to_pydatetime(),
        bars=len(used),
        data_fingerprint=fingerprint(used),
        data_source=",".join(sorted(stores.bars.sources(symbol, result.resolution))),
        code_version=code_version(instance),
        metrics=document["metrics"],
        trades=document["trades"],
        detail={"point": point.id, "objective": _finite(point.objective)},
    )


def _finite(value: float) -> float | None:
    return float(value) if value == value and abs(value) != float("inf") else None


def _study_record(study: Study) -> StudyRecord:
    dsr = study.deflated_sharpe()
    pbo = _pbo(study)
    summary = study.to_dict(top=50)
    summary["deflated_sharpe"] = dsr.to_dict()
    summary["pbo"] = pbo.to_dict() if pbo is not None else None
    if len(study.config.space.names) == 2:
        x, y = study.config.space.names
        summary["heatmap"] = study.heatmap_data(x, y)
    instance = StrategyRef.of(study.config.strategy).resolve()
    return StudyRecord(
        kind="optimize",
        symbols=list(study.symbols),
        resolution=str(study.config.resolution),
        strategy=StrategyRef.of(study.config.strategy).label,
        config=study.config.to_dict(),
        n_trials=study.n_trials,
        summary=summary,
        code_version=code_version(instance() if isinstance(instance, type) else instance),
        dsr=_finite(dsr.dsr),
        pbo=_finite(pbo.pbo) if pbo is not None else None,
    )


def _pbo(study: Study) -> Any:
    """PBO needs at least two configurations and 2 x 16 return periods; None otherwise."""
    try:
        return study.pbo()
    except InvalidInputError:
        return None


def _check_plots_dir(settings: Settings) -> None:
    from algotrader.app.charts import check_plots_dir

    check_plots_dir(settings)


def _heatmap(settings: Settings, study: Study, study_id: int) -> Path | None:
    if len(study.config.space.names) != 2:
        return None
    from algotrader.research.plots import heatmap_png

    x, y = study.config.space.names
    target = settings.plots_dir / f"study_{study_id}_{x}_{y}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    return heatmap_png(study, target, x, y)


def study_executor(
    strategy: Any,
    path: str,
    bars: int,
    points: int | None,
    space: dict[str, Any],
    *,
    executor: Any = None,
    jobs: int | None = None,
) -> tuple[Any, Any]:
    """The executor a Python-API optimisation runs on, and the one to close afterwards (or
    None): ``executor`` as given (an object, ``"local"`` or a Dask address), else worker
    processes when the study is big enough to pay for them, else this process."""
    from algotrader.executors import LocalExecutor, make_executor
    from algotrader.research.api import grid_size, worker_processes

    if isinstance(executor, str):
        made = make_executor(executor, jobs=jobs)
        return made, made
    if executor is not None:
        return executor, None
    count = points if points is not None else grid_size(space)
    workers = worker_processes(strategy, path, bars, count, jobs)
    if workers <= 1:
        return None, None
    pool = LocalExecutor(workers)
    return pool, pool


# ------------------------------------------------------------------------------ walk-forward


def run_walkforward(
    settings: Settings,
    request: ResearchRequest,
    *,
    train: Duration,
    test: Duration,
    anchored: bool = False,
    listener: IngestListener | None = None,
    progress: Progress | None = None,
) -> StoredWalkForward:
    """Optimise on each training window, trade the chosen point on the following test window,
    store the stitched out-of-sample result as a ``walkforward`` run (with a chart)."""
    if len(request.symbols) != 1:
        raise InvalidInputError("walk-forward runs on one symbol", "pass a single -s SYMBOL")
    config = request.study_config()
    _check_plots_dir(settings)  # before anything is computed or stored
    frames = _frames(settings, request, listener)
    ((symbol, frame),) = frames.items()
    with _executor(request, config, frames) as executor:
        result = walk_forward(
            frame,
            config,
            train=train,
            test=test,
            anchored=anchored,
            executor=executor,
            progress=progress,
            symbol=symbol,
        )
    with open_stores(settings) as stores:
        sources = stores.bars.sources(symbol, request.resolution.name)
        run_id = stores.runs.add(_walkforward_record(result, symbol, frame, sources))
    chart = _walkforward_chart(settings, result, run_id)
    return StoredWalkForward(run_id, result, chart)


def _walkforward_record(
    result: WalkForwardResult, symbol: str, frame: pd.DataFrame, sources: set[str]
) -> RunRecord:
    document = result.to_dict()
    trades = [t for fold in result.folds for t in fold.result.to_dict()["trades"]]
    instance = StrategyRef.of(result.config.strategy).resolve()
    return RunRecord(
        kind="walkforward",
        symbol=symbol,
        resolution=str(result.config.resolution),
        strategy=StrategyRef.of(result.config.strategy).label,
        params=dict(result.config.fixed),
        config=result.config.backtest.to_dict(),
        start_ts=frame.index[0].to_pydatetime(),
        end_ts=frame.index[-1].to_pydatetime(),
        bars=len(frame),
        data_fingerprint=fingerprint(frame),
        data_source=",".join(sorted(sources)),
        code_version=code_version(instance() if isinstance(instance, type) else instance),
        metrics=document["out_of_sample"],
        trades=trades,
        detail=document,
    )


def _walkforward_chart(settings: Settings, result: WalkForwardResult, run_id: int) -> Path:
    from algotrader.research.plots import walk_forward_png

    target = settings.plots_dir / f"walkforward_{run_id}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    return walk_forward_png(result, target)


def rerun_walkforward(settings: Settings, run: RunRecord) -> WalkForwardResult:
    """Recompute a stored walk-forward run on the same stored bars."""
    from algotrader.research.space import space_from
    from algotrader.timeframes import parse_duration

    assert run.detail is not None
    saved = run.detail["config"]
    config = StudyConfig(
        strategy=saved["strategy"],
        space=space_from(saved["space"]),
        objective=Objective(**saved["objective"]),
        constraint=saved["constraint"],
        method=saved["method"],
        trials=saved["trials"],
        seed=saved["seed"],
        fixed=saved["fixed"],
        backtest=BacktestConfig(**saved["backtest"]),
        resolution=saved["resolution"],
        returns_period=saved["returns_period"],
    )
    end = pd.Timestamp(run.end_ts) + pd.Timedelta(microseconds=1)
    with open_stores(settings) as stores:
        frame = stores.bars.load_bars(run.symbol, run.resolution, run.start_ts, end.to_pydatetime())
    return walk_forward(
        frame,
        config,
        train=parse_duration(run.detail["train"]),
        test=parse_duration(run.detail["test"]),
        anchored=run.detail["anchored"],
        symbol=run.symbol,
    )


# ------------------------------------------------------------------------------ look-ahead


def check_strategy(
    settings: Settings,
    strategy: str,
    params: dict[str, Any] | None = None,
    *,
    symbol: str | None = None,
    resolution: Resolution | None = None,
    bars: int = 1500,
) -> LookaheadReport:
    """Look for look-ahead in ``strategy``: on the last ``bars`` stored bars of ``symbol``, or
    on synthetic daily bars when no symbol is given."""
    from algotrader.indicators import compute_indicators

    if symbol is None:
        frame = _synthetic_bars(bars)
    else:
        with open_stores(settings) as stores:
            frame = load_bars(stores, symbol, resolution or _daily()).iloc[-bars:]
    ohlcv = frame[["open", "high", "low", "close", "volume"]]
    return check_lookahead(
        ohlcv, strategy, params, indicators=lambda f: pd.concat([f, compute_indicators(f)], axis=1)
    )


def _daily() -> Resolution:
    from algotrader.timeframes import RESOLUTIONS

    return RESOLUTIONS["1d"]


def _synthetic_bars(bars: int) -> pd.DataFrame:
    from algotrader.data.providers.synthetic import SyntheticProvider

    end = pd.Timestamp("2025-01-01", tz="UTC")
    start = end - pd.Timedelta(days=int(bars * 7 / 5) + 10)
    return (
        SyntheticProvider()
        .fetch_bars("CHECK", _daily(), start.to_pydatetime(), end.to_pydatetime())
        .iloc[-bars:]
    )


def list_studies(settings: Settings, limit: int = 50) -> list[StudyRecord]:
    with open_stores(settings) as stores:
        return stores.runs.studies(limit)


def get_study(settings: Settings, study_id: int) -> StudyRecord:
    with open_stores(settings) as stores:
        return stores.runs.get_study(study_id)


__all__ = [
    "ResearchRequest",
    "StoredStudy",
    "StoredWalkForward",
    "check_strategy",
    "get_study",
    "list_studies",
    "rerun_walkforward",
    "run_optimization",
    "run_walkforward",
    "study_executor",
]
