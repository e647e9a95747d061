"""Backtests on stored data: database -> engine -> ``backtest_runs``.

Data always flows through the database: bars are loaded from the store (fetched into it first
when ``auto_fetch`` is on), each run is stored with its parameters, the fingerprint of the bars it
used and the code version, and a stored run can be recomputed and compared to the last bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.data.providers import is_synthetic
from algotrader.db.engine import Database
from algotrader.db.models import BacktestRun
from algotrader.db.store import BarStore
from algotrader.errors import DataNotFoundError
from algotrader.frames import OHLCV_COLUMNS
from algotrader.strategies.registry import get_strategy, strategy_name, strategy_params
from algotrader.timeframes import Duration, Resolution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRun:
    """A backtest that was stored: its id plus what it ran on."""

    run_id: int
    symbol: str
    result: Result
    frame: pd.DataFrame
    fingerprint: str
    sources: frozenset[str] = field(default_factory=frozenset)

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.sources)


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the bars' timestamps and OHLCV values (what a backtest's result depends on)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(pd.DatetimeIndex(frame.index).as_unit("us").asi8).tobytes())
    for column in OHLCV_COLUMNS:
        digest.update(np.ascontiguousarray(frame[column].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


@cache
def code_version() -> str:
    """Package version plus a hash of the package's source, so any code change is visible."""
    from algotrader import __version__

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def slice_to_duration(frame: pd.DataFrame, duration: Duration | None) -> pd.DataFrame:
    """The last ``duration`` of ``frame`` (ending at its last bar)."""
    if duration is None or frame.empty:
        return frame
    start = pd.Timestamp(duration.start_before(frame.index[-1].to_pydatetime()))
    return frame[frame.index >= start]


def fetch_command(symbol: str, resolution: str, duration: Duration | None) -> str:
    return f'algotrader ingest -s {symbol} -r {resolution} -d "{duration or Duration(5, "Y")}"'


def load_for_backtest(
    store: BarStore, symbol: str, resolution: Resolution, duration: Duration | None
) -> pd.DataFrame:
    """Stored bars with indicators, sliced to ``duration``; one clear line when there are none."""
    frame = slice_to_duration(store.load_bars(symbol, resolution.name), duration)
    if frame.empty:
        raise DataNotFoundError(
            f"no {resolution.name} bars of {symbol} in the database",
            f"fetch them with `{fetch_command(symbol, resolution.name, duration)}` "
            "or add --auto-fetch",
        )
    return frame


def run_stored_backtest(
    db: Database,
    symbol: str,
    resolution: Resolution,
    strategy: Any,
    params: dict[str, Any],
    config: BacktestConfig,
    *,
    duration: Duration | None = None,
) -> StoredRun:
    """Backtest ``strategy`` on the stored bars of ``symbol`` and store the run."""
    store = BarStore(db)
    frame = load_for_backtest(store, symbol, resolution, duration)
    instance = get_strategy(strategy, **params)
    result = run_backtest(frame, instance, config, resolution=resolution)
    fp = fingerprint(frame)
    sources = frozenset(store.sources(symbol, resolution.name))
    document = result.to_dict()
    name = strategy if isinstance(strategy, str) else strategy_name(instance)
    run = BacktestRun(
        symbol=symbol,
        resolution=resolution.name,
        strategy=name,
        params=_jsonable(strategy_params(instance)),
        config=config.to_dict(),
        start_ts=frame.index[0].to_pydatetime(),
        end_ts=frame.index[-1].to_pydatetime(),
        bars=len(frame),
        data_fingerprint=fp,
        data_source=",".join(sorted(sources)),
        code_version=code_version(),
        metrics=document["metrics"],
        trades=document["trades"],
    )
    with db.engine.begin() as conn:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            session.add(run)
            session.flush()
            run_id = int(run.id)
            session.commit()
    log.info("run %d: %s %s %s %s", run_id, symbol, resolution.name, name, result.summary())
    return StoredRun(run_id, symbol, result, frame, fp, sources)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))


def get_run(db: Database, run_id: int) -> BacktestRun:
    with db.engine.connect() as conn:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            run = session.get(BacktestRun, run_id)
            if run is None:
                raise DataNotFoundError(
                    f"no backtest run with id {run_id}", "see `algotrader runs list` for the ids"
                )
            session.expunge(run)
            return run


def list_runs(db: Database, limit: int = 50) -> list[BacktestRun]:
    with db.engine.connect() as conn:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            runs = list(
                session.scalars(select(BacktestRun).order_by(BacktestRun.id.desc()).limit(limit))
            )
            for run in runs:
                session.expunge(run)
            return runs


@dataclass(frozen=True)
class RerunReport:
    run: BacktestRun
    result: Result
    same_data: bool
    identical_metrics: bool
    identical_trades: bool
    differences: list[str]


def rerun(db: Database, run_id: int) -> RerunReport:
    """Recompute a stored run on the same stored bars and compare metrics and trades exactly."""
    run = get_run(db, run_id)
    store = BarStore(db)
    end = pd.Timestamp(run.end_ts) + pd.Timedelta(microseconds=1)
    frame = store.load_bars(run.symbol, run.resolution, run.start_ts, end.to_pydatetime())
    if frame.empty:
        raise DataNotFoundError(
            f"the bars of run {run_id} ({run.symbol} {run.resolution}) are no longer stored",
            f"re-ingest them with `{fetch_command(run.symbol, run.resolution, None)}`",
        )
    same_data = fingerprint(frame) == run.data_fingerprint
    instance = get_strategy(run.strategy, **run.params)
    result = run_backtest(frame, instance, BacktestConfig(**run.config), resolution=run.resolution)
    document = result.to_dict()
    differences = [
        f"{key}: stored {run.metrics.get(key)!r}, now {value!r}"
        for key, value in document["metrics"].items()
        if run.metrics.get(key) != value
    ]
    return RerunReport(
        run=run,
        result=result,
        same_data=same_data,
        identical_metrics=not differences and set(run.metrics) == set(document["metrics"]),
        identical_trades=document["trades"] == run.trades,
        differences=differences,
    )


__all__ = [
    "RerunReport",
    "StoredRun",
    "code_version",
    "fingerprint",
    "get_run",
    "list_runs",
    "load_for_backtest",
    "rerun",
    "run_stored_backtest",
]
