"""Job use cases: submit, list, show and cancel jobs; run one; serve the queue as a worker.

A job is a kind plus a JSON payload. A kind is one function ``run(ctx, payload) -> result``
registered with :func:`job_kind` (optionally with a ``check(payload)`` run at submit time, so a
bad payload is refused before it is queued)::

    @job_kind("backtest", check=_backtest_request)
    def _backtest(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
        ...  # store what it produces through ctx.stores; return a JSON-able summary

Jobs need PostgreSQL (the queue is procrastinate, see :mod:`algotrader.db.queue`). Each attempt
runs in one transaction holding the job's row: the backtest runs a job stores (through
``ctx.stores.runs``) and its result commit together, so a job is stored exactly once however
often a killed worker's job is delivered again.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from algotrader.app._stores import Stores, open_stores
from algotrader.app.backtests import BacktestRequest, run_stored
from algotrader.app.bars import DEFAULT_FETCH, ensure_bars
from algotrader.app.research import ResearchRequest, run_optimization
from algotrader.backtest.result import BacktestConfig
from algotrader.config import Settings
from algotrader.db.jobs import SqlJobStore
from algotrader.errors import InvalidInputError, UserError
from algotrader.observability.metrics import record_job
from algotrader.ports.jobs import JOB_STATES, JobRecord, WorkerOptions
from algotrader.research.optimize import strategy_param_names
from algotrader.research.space import check_names
from algotrader.research.tasks import StrategyRef
from algotrader.strategies.registry import get_strategy
from algotrader.symbols import parse_symbol
from algotrader.timeframes import parse_duration, parse_resolution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What a job kind works with: the settings, the open stores (runs stored through
    ``stores.runs`` commit with the job's result) and ``should_stop()`` (the job was cancelled:
    stop at the next safe point by raising :class:`JobCancelled`)."""

    settings: Settings
    stores: Stores
    should_stop: Callable[[], bool]

    def check_stop(self) -> None:
        if self.should_stop():
            raise JobCancelled


class JobCancelled(Exception):
    """Raised by a job kind that noticed it was cancelled."""


JobFunction = Callable[[JobContext, dict[str, Any]], dict[str, Any]]
PayloadCheck = Callable[[dict[str, Any]], object]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    check: PayloadCheck | None = None


_KINDS: dict[str, JobKind] = {}


def job_kind(
    name: str, *, check: PayloadCheck | None = None
) -> Callable[[JobFunction], JobFunction]:
    """Register ``run`` as the job kind ``name``."""

    def register(run: JobFunction) -> JobFunction:
        _KINDS[name] = JobKind(name, run, check)
        return run

    return register


def job_kinds() -> list[str]:
    return sorted(_KINDS)


def _kind(name: str) -> JobKind:
    if name in _KINDS:
        return _KINDS[name]
    close = difflib.get_close_matches(name, list(_KINDS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InvalidInputError(f"unknown job kind {name!r}", f"{hint}use one of {', '.join(_KINDS)}")


# -- the built-in kinds ----------------------------------------------------------------------


def _backtest_request(payload: dict[str, Any], symbol: str | None = None) -> BacktestRequest:
    """A :class:`BacktestRequest` from a job payload (the same names as the CLI flags)."""
    known = {"symbol", "symbols", "resolution", "strategy", "params", "config", "duration",
             "auto_fetch", "fetch_duration", "source"}  # fmt: skip
    unknown = sorted(set(payload) - known)
    if unknown:
        raise InvalidInputError(
            f"unknown job payload field {unknown[0]!r}", f"use {', '.join(sorted(known))}"
        )
    params = dict(payload.get("params") or {})
    strategy = str(payload.get("strategy") or "ma_cross")
    get_strategy(strategy, **params)  # an unknown strategy or parameter: one clear line now
    duration, fetch = payload.get("duration"), payload.get("fetch_duration")
    return BacktestRequest(
        symbol=parse_symbol(symbol or str(payload.get("symbol") or "")),
        resolution=parse_resolution(str(payload.get("resolution") or "1d")),
        strategy=strategy,
        params=params,
        config=BacktestConfig(**(payload.get("config") or {})),
        duration=parse_duration(duration) if duration else None,
        auto_fetch=bool(payload.get("auto_fetch", False)),
        fetch_duration=parse_duration(fetch) if fetch else None,
        source=payload.get("source"),
    )


def _batch_requests(payload: dict[str, Any]) -> list[BacktestRequest]:
    symbols = payload.get("symbols") or []
    if not isinstance(symbols, list) or not symbols:
        raise InvalidInputError("a batch job needs symbols", 'give "symbols": ["AAPL", "MSFT"]')
    return [_backtest_request(payload, str(s)) for s in symbols]


def _run_one(ctx: JobContext, request: BacktestRequest) -> dict[str, Any]:
    if request.auto_fetch:
        duration = request.fetch_duration or DEFAULT_FETCH
        ensure_bars(ctx.settings, request.symbol, request.resolution, duration,
                    source=request.source)  # fmt: skip
    ctx.check_stop()
    run = run_stored(ctx.stores, request)
    metrics = run.result.metrics
    return {
        "symbol": request.symbol,
        "run_id": run.run_id,
        "total_return": metrics.get("total_return"),
        "sharpe": metrics.get("sharpe"),
        "num_trades": metrics.get("num_trades"),
        "summary": run.result.summary(),
    }


@job_kind("backtest", check=_backtest_request)
def _backtest(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """One backtest on stored bars (fetched first with ``auto_fetch``)."""
    return _run_one(ctx, _backtest_request(payload))


@job_kind("batch", check=_batch_requests)
def _batch(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """One backtest per symbol; a symbol that fails is reported and the others still run."""
    runs: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for request in _batch_requests(payload):
        ctx.check_stop()
        try:
            runs.append(_run_one(ctx, request))
        except UserError as exc:
            failed.append({"symbol": request.symbol, "error": exc.message})
    runs.sort(key=lambda r: -(r["total_return"] or 0.0))
    return {"runs": runs, "failed": failed}


_STUDY_FIELDS = ("symbol", "symbols", "resolution", "strategy", "grid", "objective", "minimize",
                 "constraint", "pool", "method", "trials", "seed", "params", "config",
                 "duration", "auto_fetch", "fetch_duration", "source")  # fmt: skip


def _study_request(payload: dict[str, Any]) -> ResearchRequest:
    """A :class:`ResearchRequest` from a job payload (the names of ``algotrader optimize``'s
    flags; ``grid`` is a list of specs like ``"fast=5:50:5"``); runs in this process."""
    unknown = sorted(set(payload) - set(_STUDY_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"unknown job payload field {unknown[0]!r}", f"use {', '.join(sorted(_STUDY_FIELDS))}"
        )
    symbols = payload.get("symbols") or ([payload["symbol"]] if payload.get("symbol") else [])
    grid = payload.get("grid") or []
    if not isinstance(symbols, list) or not symbols or not isinstance(grid, list) or not grid:
        raise InvalidInputError(
            "an optimise job needs symbols and a grid",
            'give "symbols": ["SPY"] and "grid": ["fast=5:50:5", "slow=20:200:20"]',
        )
    duration, fetch = payload.get("duration"), payload.get("fetch_duration")
    request = ResearchRequest(
        symbols=tuple(parse_symbol(str(s)) for s in symbols),
        resolution=parse_resolution(str(payload.get("resolution") or "1d")),
        strategy=str(payload.get("strategy") or "ma_cross"),
        grid=tuple(str(g) for g in grid),
        objective=str(payload.get("objective") or "sharpe"),
        minimize=bool(payload.get("minimize", False)),
        constraint=payload.get("constraint"),
        pool=payload.get("pool"),
        method=str(payload.get("method") or "grid"),
        trials=payload.get("trials"),
        seed=payload.get("seed"),
        params=dict(payload.get("params") or {}),
        config=BacktestConfig(**(payload.get("config") or {})),
        duration=parse_duration(duration) if duration else None,
        auto_fetch=bool(payload.get("auto_fetch", False)),
        fetch_duration=parse_duration(fetch) if fetch else None,
        source=payload.get("source"),
        jobs=1,  # the worker is the unit of parallelism: more workers, not more processes
    )
    # A bad grid, objective, constraint or parameter name: one clear line now.
    config = request.study_config()
    label, names = StrategyRef.of(request.strategy).label, strategy_param_names(request.strategy)[1]
    check_names(config.space.names, names, label)
    check_names(tuple(config.fixed), names, label)
    return request


@job_kind("optimise", check=_study_request)
def _optimise(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """An optimisation study (one per symbol, or pooled): every point stored as a run, the
    study with its DSR and PBO, all committed with the job's result."""
    studies = run_optimization(ctx.settings, _study_request(payload), stores=ctx.stores)
    ctx.check_stop()
    return {
        "studies": [
            {
                "study_id": s.study_id,
                "symbols": list(s.study.symbols),
                "points": s.study.n_trials,
                "best_params": s.study.best.params,
                "best_objective": _finite_or_none(s.study.best.objective),
                "best_run_id": s.best_run_id,
            }
            for s in studies
        ]
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# -- use cases -------------------------------------------------------------------------------


def submit_job(settings: Settings, kind: str, payload: dict[str, Any]) -> JobRecord:
    """Check ``payload`` for ``kind`` and queue the job (PostgreSQL only)."""
    return submit_jobs(settings, kind, [payload])[0]


def submit_jobs(settings: Settings, kind: str, payloads: list[dict[str, Any]]) -> list[JobRecord]:
    """Queue one job of ``kind`` per payload (all are checked before any is queued)."""
    job = _kind(kind)
    if job.check is not None:
        for payload in payloads:
            job.check(payload)
    with open_stores(settings) as stores:
        store = SqlJobStore(stores.db)
        return [store.submit(kind, payload) for payload in payloads]


def list_jobs(settings: Settings, limit: int = 50, state: str | None = None) -> list[JobRecord]:
    """The latest jobs, newest first (only those in ``state`` when given)."""
    if state is not None and state not in JOB_STATES:
        raise InvalidInputError(
            f"unknown job state {state!r}", f"use one of {', '.join(JOB_STATES)}"
        )
    with open_stores(settings) as stores:
        return SqlJobStore(stores.db).latest(limit, state)


def get_job(settings: Settings, job_id: int) -> JobRecord:
    with open_stores(settings) as stores:
        return SqlJobStore(stores.db).get(job_id)


def cancel_job(settings: Settings, job_id: int) -> JobRecord:
    """Cancel a queued job, or ask the worker running it to stop (state stays ``running``
    until it does)."""
    with open_stores(settings) as stores:
        return SqlJobStore(stores.db).cancel(job_id)


@dataclass(frozen=True)
class JobOutcome:
    """What one delivery of a job came to: ``succeeded``, ``failed``, ``cancelled`` or
    ``already_done`` (a repeated delivery of a finished job)."""

    job_id: int
    kind: str
    outcome: str
    seconds: float
    attempt: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None


def run_job(
    settings: Settings, job_id: int, should_stop: Callable[[], bool] = lambda: False
) -> JobOutcome:
    """Run job ``job_id`` here and now (what a worker does with each job it is given)."""
    with open_stores(settings) as stores:
        return _run_job(stores, SqlJobStore(stores.db), settings, job_id, should_stop, _worker_id())


def serve_jobs(
    settings: Settings,
    options: WorkerOptions,
    stop: threading.Event,
    on_job: Callable[[JobOutcome], None] | None = None,
) -> None:
    """Be a worker: run queued jobs until ``stop`` is set (the job in hand finishes first),
    telling ``on_job`` about each."""
    with open_stores(settings) as stores:
        jobs = SqlJobStore(stores.db)
        worker = _worker_id()

        def handle(job_id: int, should_stop: Callable[[], bool]) -> None:
            outcome = _run_job(stores, jobs, settings, job_id, should_stop, worker)
            if on_job is not None:
                on_job(outcome)

        jobs.queue.run_worker(handle, options, stop)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _run_job(
    stores: Stores,
    jobs: SqlJobStore,
    settings: Settings,
    job_id: int,
    should_stop: Callable[[], bool],
    worker: str,
) -> JobOutcome:
    started = time.perf_counter()
    record = jobs.start(job_id, worker)
    if record is None:
        return JobOutcome(job_id, "", "already_done", time.perf_counter() - started)
    outcome, error, result = _attempt(stores, jobs, settings, record, should_stop)
    if outcome in ("failed", "cancelled"):
        jobs.finish(job_id, outcome, error)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    record_job(record.kind, outcome, seconds)
    return JobOutcome(job_id, record.kind, outcome, seconds, record.attempts, error, result)


def _attempt(
    stores: Stores,
    jobs: SqlJobStore,
    settings: Settings,
    record: JobRecord,
    should_stop: Callable[[], bool],
) -> tuple[str, str | None, dict[str, Any] | None]:
    try:
        kind = _kind(record.kind)
        with jobs.attempt(record.id) as attempt:
            if attempt is None:
                return "already_done", None, None
            ctx = JobContext(settings, replace(stores, runs=attempt.runs), should_stop)
            result = kind.run(ctx, record.payload)
            ctx.check_stop()  # cancelled at the last moment: nothing is committed
            attempt.succeed(result)
        return "succeeded", None, result
    except JobCancelled:
        return "cancelled", "cancelled by the user", None
    except UserError as exc:
        return "failed", exc.message, None
    except Exception as exc:
        log.exception("job %d (%s) failed", record.id, record.kind)
        return "failed", f"internal error: {type(exc).__name__}: {exc}", None
