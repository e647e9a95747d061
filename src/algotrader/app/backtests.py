"""Backtest use cases on stored data: run (one or a batch), store, list, show, rerun.

Data always flows through the database: bars are loaded from the store (fetched into it first
when ``auto_fetch`` is on), each run is stored with its parameters, the fingerprint of the bars it
used and the code version (the package's and the strategy's own source), and a stored run can be
recomputed and compared to the last bit.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app._stores import Stores, open_stores
from algotrader.app.bars import DEFAULT_FETCH, ensure_bars, load_bars
from algotrader.app.ingest import IngestListener
from algotrader.backtest.engine import engine_compiled
from algotrader.backtest.engine import run_backtest as run_engine
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.config import Settings
from algotrader.data.providers import is_synthetic
from algotrader.errors import UserError
from algotrader.observability import metrics
from algotrader.ports.runs import RunRecord
from algotrader.strategies.registry import get_strategy, strategy_name, strategy_params
from algotrader.timeframes import Duration, Resolution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestRequest:
    """One strategy on one stored series.

    ``duration`` keeps only the last part of the stored history; with ``auto_fetch`` the store is
    first brought to cover ``fetch_duration`` (default 5 Y) at both ends from ``source``.
    """

    symbol: str
    resolution: Resolution
    strategy: Any = "ma_cross"
    params: dict[str, Any] = field(default_factory=dict)
    config: BacktestConfig = field(default_factory=BacktestConfig)
    duration: Duration | None = None
    auto_fetch: bool = False
    fetch_duration: Duration | None = None
    source: str | None = None


@dataclass(frozen=True)
class StoredRun:
    """A backtest that was stored: its id plus what it ran on."""

    run_id: int
    symbol: str
    result: Result
    frame: pd.DataFrame
    fingerprint: str
    sources: frozenset[str] = frozenset()

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.sources)


@dataclass(frozen=True)
class BatchItem:
    """One symbol of a batch: its stored run, or the one-line reason it failed."""

    symbol: str
    run: StoredRun | None
    error: str | None = None


def first_backtest_compiles() -> bool:
    """Whether the next backtest compiles the engine first: on a new install, about half a
    minute, once (the machine code is cached on disk for every later process)."""
    return not engine_compiled()


def run_backtest(
    settings: Settings, request: BacktestRequest, listener: IngestListener | None = None
) -> StoredRun:
    """Run ``request`` on the stored bars (fetching them first with ``auto_fetch``, telling
    ``listener`` about it); store the run. A bad strategy or parameter is refused first."""
    get_strategy(request.strategy, **request.params)
    if request.auto_fetch:
        _fetch(settings, request, listener)
    with open_stores(settings) as stores:
        return run_stored(stores, request)


def _fetch(settings: Settings, request: BacktestRequest, listener: IngestListener | None) -> None:
    duration = request.fetch_duration or DEFAULT_FETCH
    ensure_bars(
        settings,
        request.symbol,
        request.resolution,
        duration,
        source=request.source,
        listener=listener,
    )


def run_batch(
    settings: Settings,
    requests: list[BacktestRequest],
    on_done: Callable[[BatchItem], None] | None = None,
    listener: IngestListener | None = None,
    *,
    jobs: int | None = None,
    dask: str | None = None,
) -> list[BatchItem]:
    """Run independent backtests (one per symbol); a symbol that fails is reported, and the
    others still run. Items come back best total return first, failures last.

    Each symbol's load and backtest runs where ``jobs``/``dask`` say (as for optimisation:
    ``jobs=1`` this process, ``jobs=N`` N worker processes, ``dask`` a Dask cluster); this
    process alone stores the runs, in request order (run ids as a serial batch gives them), and
    calls ``on_done`` as each is stored. By default the batch starts in this process and hands
    what is left to worker processes on every core only once the time the first symbols took
    says the rest would outlast starting the workers (:func:`_pool_pays`): a batch of quick
    backtests never waits for a pool, a long one uses all cores. Results are identical either
    way (the workers run the same code on the same bars).
    """
    failed: dict[int, str] = {}
    for k, request in enumerate(requests):
        if request.auto_fetch:
            try:
                _fetch(settings, request, listener)
            except UserError as exc:
                failed[k] = exc.message
    items: list[BatchItem] = []
    with open_stores(settings) as stores:
        sink = _BatchSink(stores, requests, items, on_done)
        for k, message in failed.items():
            sink.put(k, _Failed(requests[k].symbol, message))
        todo = [k for k in range(len(requests)) if k not in failed]
        policy = _inline_policy(requests, jobs, dask) if len(todo) > 1 else _POLICY_INLINE
        rest = _run_inline(stores, requests, todo, sink, policy)
        if rest:
            _run_elsewhere(settings, requests, rest, sink, jobs=jobs, dask=dask)
    return sorted(items, key=_batch_rank)


@dataclass(frozen=True)
class _Computed:
    """One backtest computed (here or in a worker), ready to be stored by this process."""

    frame: pd.DataFrame
    result: Result
    record: RunRecord
    sources: frozenset[str]
    seconds: float


@dataclass(frozen=True)
class _Failed:
    symbol: str
    error: str


_Outcome = _Computed | _Failed


class _BatchSink:
    """Stores computed runs in request order (whatever order they arrive in) and reports each
    stored item to ``on_done``: the one writer of a batch."""

    def __init__(
        self,
        stores: Stores,
        requests: list[BacktestRequest],
        items: list[BatchItem],
        on_done: Callable[[BatchItem], None] | None,
    ) -> None:
        self._stores = stores
        self._requests = requests
        self._items = items
        self._on_done = on_done
        self._waiting: dict[int, _Outcome] = {}
        self._next = 0

    def put(self, k: int, outcome: _Outcome) -> None:
        self._waiting[k] = outcome
        while self._next in self._waiting:
            self._emit(self._requests[self._next], self._waiting.pop(self._next))
            self._next += 1

    def _emit(self, request: BacktestRequest, outcome: _Outcome) -> None:
        if isinstance(outcome, _Failed):
            item = BatchItem(request.symbol, None, outcome.error)
        else:
            item = BatchItem(request.symbol, _commit(self._stores, request, outcome))
        self._items.append(item)
        if self._on_done is not None:
            self._on_done(item)


# Starting a pool of spawned workers costs ~5 s here before the first result comes back (each
# worker imports the package, opens the database and loads the compiled kernels, all on the same
# cores). With w idle cores the rest of a batch, R seconds in this process, takes about S + R / w
# on the pool, which wins only when R > S * w / (w - 1): 10 s of work on two idle cores.
_POOL_START_S = 5.0
_JUDGED_AFTER = 3  # symbols run here before judging (the first pays for imports and kernels)
_POLICY_INLINE, _POLICY_ELSEWHERE, _POLICY_ADAPTIVE = "inline", "elsewhere", "adaptive"


def _inline_policy(requests: list[BacktestRequest], jobs: int | None, dask: str | None) -> str:
    from algotrader.research.tasks import StrategyRef

    if jobs == 1 or len(requests) <= 1:
        return _POLICY_INLINE
    try:
        if any(StrategyRef.of(r.strategy).local_only for r in requests):
            return _POLICY_INLINE  # a class defined interactively cannot reach another process
    except UserError:
        return _POLICY_INLINE  # an unknown strategy: each symbol reports it, as it always did
    if dask is not None or jobs is not None:
        return _POLICY_ELSEWHERE
    return _POLICY_ADAPTIVE if (os.cpu_count() or 1) > 1 else _POLICY_INLINE


def _run_inline(
    stores: Stores,
    requests: list[BacktestRequest],
    todo: list[int],
    sink: _BatchSink,
    policy: str,
) -> list[int]:
    """Run the batch here, symbol after symbol, until ``policy`` says to hand the rest over;
    what is left comes back."""
    if policy == _POLICY_ELSEWHERE:
        return todo
    fastest = float("inf")
    for done, k in enumerate(todo, start=1):
        outcome = _compute_or_fail(stores, requests[k])
        sink.put(k, outcome)
        left = todo[done:]
        if isinstance(outcome, _Computed) and done > 1:
            fastest = min(fastest, outcome.seconds)  # the least disturbed by other work
        judge = policy == _POLICY_ADAPTIVE and done >= _JUDGED_AFTER and len(left) >= 2
        if judge and fastest < float("inf") and _pool_pays(fastest, len(left)):
            return left
    return []


def _pool_pays(seconds_per_symbol: float, left: int) -> bool:
    """Whether ``left`` more symbols at ``seconds_per_symbol`` each would finish sooner on a pool
    of the idle cores, its start-up included, than here. Cores that other programs keep busy
    (the load average) do not count: workers on them would only slow each other down."""
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] - 1.0 if hasattr(os, "getloadavg") else 0.0  # less this process
    idle = min(float(cores), max(1.0, cores - busy))
    return idle > 1.0 and seconds_per_symbol * left > _POOL_START_S * idle / (idle - 1.0)


def _run_elsewhere(
    settings: Settings,
    requests: list[BacktestRequest],
    rest: list[int],
    sink: _BatchSink,
    *,
    jobs: int | None,
    dask: str | None,
) -> None:
    """Hand each symbol of ``rest`` (load and backtest) to worker processes or a Dask cluster;
    store what comes back here."""
    from algotrader.executors import make_executor

    tasks = [requests[k] for k in rest]
    workers = min(jobs or os.cpu_count() or 1, len(tasks))
    with make_executor(jobs=workers if dask is None else jobs, dask=dask) as ex:
        log.info("batch: %d of %d symbols on %d workers", len(tasks), len(requests), ex.workers)
        for i, outcome in ex.map_unordered(_batch_task, settings, tasks):
            sink.put(rest[i], outcome)


# Worker side: each worker process opens the database once (the first task) and keeps it.
_worker_stores: dict[str, Stores] = {}


def _batch_task(settings: Settings, request: BacktestRequest) -> _Outcome:
    """Load ``request``'s bars and backtest them (in a worker); nothing is stored here."""
    from algotrader.app._stores import stores_of
    from algotrader.db.engine import open_database

    key = settings.db_url
    if key not in _worker_stores:
        _worker_stores[key] = stores_of(open_database(settings), settings.data_dir)
    return _compute_or_fail(_worker_stores[key], request)


def _batch_rank(item: BatchItem) -> tuple[int, float, str]:
    if item.run is None:
        return (1, 0.0, item.symbol)
    value = item.run.result.metrics.get("total_return")
    return (0, -float(value) if value is not None else 0.0, item.symbol)


def run_stored(stores: Stores, request: BacktestRequest) -> StoredRun:
    """Backtest ``request`` on the stored bars and store the run (within open stores)."""
    return _commit(stores, request, _compute(stores, request))


def _compute_or_fail(stores: Stores, request: BacktestRequest) -> _Outcome:
    try:
        return _compute(stores, request)
    except UserError as exc:
        return _Failed(request.symbol, exc.message)


def _compute(stores: Stores, request: BacktestRequest) -> _Computed:
    """Load the bars and run the backtest; the run record, ready to store."""
    started = time.perf_counter()
    instance = get_strategy(request.strategy, **request.params)
    frame = load_bars(stores, request.symbol, request.resolution, request.duration)
    result = run_engine(frame, instance, request.config, resolution=request.resolution)
    name = request.strategy if isinstance(request.strategy, str) else strategy_name(instance)
    sources = frozenset(stores.bars.sources(request.symbol, result.resolution))
    record = _record(request.symbol, frame, name, instance, result, sources)
    return _Computed(frame, result, record, sources, time.perf_counter() - started)


def _commit(stores: Stores, request: BacktestRequest, computed: _Computed) -> StoredRun:
    run_id = stores.runs.add(computed.record)
    record, result = computed.record, computed.result
    log.info(
        "run %d: %s %s %s %s",
        run_id, record.symbol, record.resolution, record.strategy, result.summary(),
    )  # fmt: skip
    metrics.record_backtest(request.resolution.name, computed.seconds)
    return StoredRun(
        run_id, record.symbol, result, computed.frame, record.data_fingerprint, computed.sources
    )


def store_result(
    settings: Settings, symbol: str, frame: pd.DataFrame, strategy: Any, result: Result
) -> int:
    """Store a result computed elsewhere (the Python API) on stored bars of ``symbol``."""
    instance = get_strategy(strategy, **result.params)
    name = strategy if isinstance(strategy, str) else strategy_name(instance)
    with open_stores(settings) as stores:
        sources = frozenset(stores.bars.sources(symbol, result.resolution))
        record = _record(symbol, frame, name, instance, result, sources)
        run_id = stores.runs.add(record)
    log.info("run %d: %s %s %s %s", run_id, symbol, record.resolution, name, result.summary())
    return run_id


def _record(
    symbol: str,
    frame: pd.DataFrame,
    name: str,
    instance: Any,
    result: Result,
    sources: frozenset[str],
) -> RunRecord:
    document = result.to_dict()
    return RunRecord(
        symbol=symbol,
        resolution=result.resolution,
        strategy=name,
        params=_jsonable(strategy_params(instance)),
        config=result.config.to_dict(),
        start_ts=frame.index[0].to_pydatetime(),
        end_ts=frame.index[-1].to_pydatetime(),
        bars=len(frame),
        data_fingerprint=fingerprint(frame),
        data_source=",".join(sorted(sources)),
        code_version=code_version(instance),
        metrics=document["metrics"],
        trades=document["trades"],
    )


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))  # type: ignore[no-any-return]


def buy_hold_metrics(result: Result) -> dict[str, float]:
    """The risk metrics of the buy-and-hold curve, computed like the strategy's."""
    from algotrader.backtest import metrics as mt

    curve = result.buy_hold.to_numpy(np.float64)
    periods = result.metrics["periods_per_year"]
    rf = result.config.risk_free_rate
    growth = mt.cagr(result.metrics["buy_hold_return"], result.metrics["years"])
    drawdown = mt.max_drawdown(curve)[0]
    return {
        "cagr": growth,
        "volatility": mt.annualized_volatility(curve, periods),
        "sharpe": mt.sharpe_ratio(curve, periods, rf),
        "sortino": mt.sortino_ratio(curve, periods, rf),
        "max_drawdown": drawdown,
        "calmar": mt.calmar_ratio(growth, drawdown),
    }
