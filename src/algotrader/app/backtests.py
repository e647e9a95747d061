"""Backtest use cases on stored data: run (one or a batch), store, list, show, rerun.

Data always flows through the database: bars are loaded from the store (fetched into it first
when ``auto_fetch`` is on), each run is stored with its parameters, the fingerprint of the bars it
used and the code version (the package's and the strategy's own source), and a stored run can be
recomputed and compared to the last bit.
"""

from __future__ import annotations

import json
import logging
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
) -> list[BatchItem]:
    """Run independent backtests (one per symbol); a symbol that fails is reported, and the
    others still run. Items come back best total return first, failures last."""
    failed: dict[int, str] = {}
    for k, request in enumerate(requests):
        if request.auto_fetch:
            try:
                _fetch(settings, request, listener)
            except UserError as exc:
                failed[k] = exc.message
    items: list[BatchItem] = []
    with open_stores(settings) as stores:
        for k, request in enumerate(requests):
            if k in failed:
                item = BatchItem(request.symbol, None, failed[k])
            else:
                try:
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
    instance = get_strategy(request.strategy, **request.params)
    frame = load_bars(stores, request.symbol, request.resolution, request.duration)
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
