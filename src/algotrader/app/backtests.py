"""Backtest use cases on stored data: run (one or a batch), store, list, show, rerun.

Data always flows through the database: bars are loaded from the store (fetched into it first
when ``auto_fetch`` is on), each run is stored with its parameters, the fingerprint of the bars it
used and the code version (the package's and the strategy's own source), and a stored run can be
recomputed and compared to the last bit.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from algotrader.app._stores import Stores, open_stores
from algotrader.app.bars import DEFAULT_FETCH, ensure_bars, fetch_command, load_bars
from algotrader.app.ingest import IngestListener
from algotrader.backtest.engine import run_backtest as run_engine
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.config import Settings
from algotrader.data.providers import is_synthetic
from algotrader.errors import DataNotFoundError, UserError
from algotrader.frames import OHLCV_COLUMNS
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


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the bars' timestamps and OHLCV values (what a backtest's result depends on)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(pd.DatetimeIndex(frame.index).as_unit("us").asi8).tobytes())
    for column in OHLCV_COLUMNS:
        digest.update(np.ascontiguousarray(frame[column].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


@cache
def _package_version() -> str:
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{version('algotrader')}+{digest.hexdigest()[:12]}"


def code_version(strategy: object | None = None) -> str:
    """The package version and a hash of its source, plus (for a strategy defined outside the
    package, e.g. ``strategies/my_strategy.py``) a hash of that strategy's source file."""
    version = _package_version()
    source = _strategy_source(strategy)
    if source is None:
        return version
    return f"{version}+s{hashlib.sha256(source).hexdigest()[:12]}"


def _strategy_source(strategy: object | None) -> bytes | None:
    if strategy is None:
        return None
    try:
        path = inspect.getsourcefile(type(strategy))
    except TypeError:
        return None
    if path is None:
        return None
    package = Path(__file__).resolve().parents[1]
    resolved = Path(path).resolve()
    if resolved.is_relative_to(package) or not resolved.is_file():
        return None
    return resolved.read_bytes()


def run_backtest(
    settings: Settings, request: BacktestRequest, listener: IngestListener | None = None
) -> StoredRun:
    """Run ``request`` on the stored bars (fetching them first with ``auto_fetch``, telling
    ``listener`` about it); store the run."""
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
) -> list[BatchItem]:
    """Run independent backtests (one per symbol); a symbol that fails is reported, and the
    others still run. Items come back best total return first, failures last."""
    items: list[BatchItem] = []
    for request in requests:
        try:
            if request.auto_fetch:
                _fetch(settings, request, listener)
            with open_stores(settings) as stores:
                item = BatchItem(request.symbol, run_stored(stores, request))
        except UserError as exc:
            item = BatchItem(request.symbol, None, exc.message)
        items.append(item)
        if on_done is not None:
            on_done(item)
    return sorted(items, key=_batch_rank)


def _batch_rank(item: BatchItem) -> tuple[int, float, str]:
    if item.run is None:
        return (1, 0.0, item.symbol)
    value = item.run.result.metrics.get("total_return")
    return (0, -float(value) if value is not None else 0.0, item.symbol)


def run_stored(stores: Stores, request: BacktestRequest) -> StoredRun:
    """Backtest ``request`` on the stored bars and store the run (within open stores)."""
    started = time.perf_counter()
    frame = load_bars(stores, request.symbol, request.resolution, request.duration)
    instance = get_strategy(request.strategy, **request.params)
    result = run_engine(frame, instance, request.config, resolution=request.resolution)
    name = request.strategy if isinstance(request.strategy, str) else strategy_name(instance)
    stored = _store(stores, request.symbol, frame, name, instance, result)
    metrics.record_backtest(request.resolution.name, time.perf_counter() - started)
    return stored


def store_result(
    settings: Settings, symbol: str, frame: pd.DataFrame, strategy: Any, result: Result
) -> int:
    """Store a result computed elsewhere (the Python API) on stored bars of ``symbol``."""
    instance = get_strategy(strategy, **result.params)
    name = strategy if isinstance(strategy, str) else strategy_name(instance)
    with open_stores(settings) as stores:
        return _store(stores, symbol, frame, name, instance, result).run_id


def _store(
    stores: Stores, symbol: str, frame: pd.DataFrame, name: str, instance: Any, result: Result
) -> StoredRun:
    fp = fingerprint(frame)
    sources = frozenset(stores.bars.sources(symbol, result.resolution))
    document = result.to_dict()
    record = RunRecord(
        symbol=symbol,
        resolution=result.resolution,
        strategy=name,
        params=_jsonable(strategy_params(instance)),
        config=result.config.to_dict(),
        start_ts=frame.index[0].to_pydatetime(),
        end_ts=frame.index[-1].to_pydatetime(),
        bars=len(frame),
        data_fingerprint=fp,
        data_source=",".join(sorted(sources)),
        code_version=code_version(instance),
        metrics=document["metrics"],
        trades=document["trades"],
    )
    run_id = stores.runs.add(record)
    log.info("run %d: %s %s %s %s", run_id, symbol, record.resolution, name, result.summary())
    return StoredRun(run_id, symbol, result, frame, fp, sources)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))  # type: ignore[no-any-return]


def get_run(settings: Settings, run_id: int) -> RunRecord:
    """The stored run ``run_id`` (one clear line when there is none)."""
    with open_stores(settings) as stores:
        return stores.runs.get(run_id)


def list_runs(settings: Settings, limit: int = 50) -> list[RunRecord]:
    """The latest stored runs, newest first."""
    with open_stores(settings) as stores:
        return stores.runs.latest(limit)


@dataclass(frozen=True)
class RerunReport:
    """A stored run recomputed: did the data, the code, the metrics and the trades stay equal?"""

    run: RunRecord
    result: Result
    same_data: bool
    same_code: bool
    identical_metrics: bool
    identical_trades: bool
    differences: list[str]


def rerun(settings: Settings, run_id: int) -> RerunReport:
    """Recompute a stored run on the same stored bars and compare metrics and trades exactly."""
    with open_stores(settings) as stores:
        run = stores.runs.get(run_id)
        end = pd.Timestamp(run.end_ts) + pd.Timedelta(microseconds=1)
        frame = stores.bars.load_bars(run.symbol, run.resolution, run.start_ts, end.to_pydatetime())
    if frame.empty:
        raise DataNotFoundError(
            f"the bars of run {run_id} ({run.symbol} {run.resolution}) are no longer stored",
            f"re-ingest them with `{fetch_command(run.symbol, run.resolution, None)}`",
        )
    instance = get_strategy(run.strategy, **run.params)
    result = run_engine(frame, instance, BacktestConfig(**run.config), resolution=run.resolution)
    document = result.to_dict()
    differences = [
        f"{key}: stored {run.metrics.get(key)!r}, now {value!r}"
        for key, value in document["metrics"].items()
        if run.metrics.get(key) != value
    ]
    return RerunReport(
        run=run,
        result=result,
        same_data=fingerprint(frame) == run.data_fingerprint,
        same_code=code_version(instance) == run.code_version,
        identical_metrics=not differences and set(run.metrics) == set(document["metrics"]),
        identical_trades=document["trades"] == run.trades,
        differences=differences,
    )


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
