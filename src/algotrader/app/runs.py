"""Stored runs of every kind: list them, show one, rerun one and compare to the last bit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app._stores import open_stores
from algotrader.app.bars import fetch_command, load_window
from algotrader.backtest.engine import run_backtest as run_engine
from algotrader.backtest.result import BacktestConfig
from algotrader.config import Settings
from algotrader.errors import DataNotFoundError
from algotrader.ports.runs import RunRecord
from algotrader.strategies.registry import get_strategy


def get_run(settings: Settings, run_id: int) -> RunRecord:
    """The stored run ``run_id`` (one clear line when there is none)."""
    with open_stores(settings) as stores:
        return stores.runs.get(run_id)


RUN_KINDS = ("backtest", "portfolio", "walkforward", "study_point")


def list_runs(
    settings: Settings, limit: int = 50, *, kinds: tuple[str, ...] | None = None
) -> list[RunRecord]:
    """The latest stored runs (of ``kinds``), newest first."""
    with open_stores(settings) as stores:
        return stores.runs.latest(limit, kinds=kinds)


@dataclass(frozen=True)
class RerunReport:
    """A stored run recomputed: did the data, the code, the metrics and the trades stay equal?

    ``result`` is a backtest :class:`~algotrader.backtest.result.Result` or a
    :class:`~algotrader.portfolio.PortfolioResult`, after the run's kind.
    """

    run: RunRecord
    result: Any
    same_data: bool
    same_code: bool
    identical_metrics: bool
    identical_trades: bool
    differences: list[str]


def rerun(settings: Settings, run_id: int) -> RerunReport:
    """Recompute a stored run on the same stored bars and compare metrics and trades exactly."""
    run = get_run(settings, run_id)
    if run.kind == "walkforward":
        return _rerun_walkforward(settings, run)
    if run.kind == "portfolio":
        from algotrader.app.portfolios import rerun_portfolio
        from algotrader.portfolio.registry import get_allocator

        result: Any = rerun_portfolio(settings, run)
        same_data = True  # rerun_portfolio refuses bars whose fingerprint changed
        same_code = code_version(get_allocator(run.strategy, **run.params)) == run.code_version
    else:
        result, same_data, same_code = _rerun_backtest(settings, run)
    return _compare(run, result, same_data, same_code)


def _rerun_backtest(settings: Settings, run: RunRecord) -> tuple[Any, bool, bool]:
    with open_stores(settings) as stores:
        frame = load_window(stores, run.symbol, run.resolution, run.start_ts, run.end_ts)
    if frame.empty:
        raise DataNotFoundError(
            f"the bars of run {run.id} ({run.symbol} {run.resolution}) are no longer stored",
            f"re-ingest them with `{fetch_command(run.symbol, run.resolution, None)}`",
        )
    instance = get_strategy(run.strategy, **run.params)
    result = run_engine(frame, instance, BacktestConfig(**run.config), resolution=run.resolution)
    same_data = fingerprint(frame) == run.data_fingerprint
    return result, same_data, code_version(instance) == run.code_version


def _rerun_walkforward(settings: Settings, run: RunRecord) -> RerunReport:
    from algotrader.app.research import rerun_walkforward

    result = rerun_walkforward(settings, run)
    strategy = get_strategy(run.strategy, **run.params)
    trades = [t for fold in result.folds for t in fold.result.to_dict()["trades"]]
    return _compare(
        run,
        result,
        True,
        code_version(strategy) == run.code_version,
        metrics=result.to_dict()["out_of_sample"],
        trades=trades,
    )


def _compare(
    run: RunRecord,
    result: Any,
    same_data: bool,
    same_code: bool,
    *,
    metrics: dict[str, Any] | None = None,
    trades: list[dict[str, Any]] | None = None,
) -> RerunReport:
    if metrics is None:
        document = result.to_dict()
        metrics, trades = document["metrics"], document["trades"]
    differences = [
        f"{key}: stored {run.metrics.get(key)!r}, now {value!r}"
        for key, value in metrics.items()
        if run.metrics.get(key) != value
    ]
    return RerunReport(
        run=run,
        result=result,
        same_data=same_data,
        same_code=same_code,
        identical_metrics=not differences and set(run.metrics) == set(metrics),
        identical_trades=trades == run.trades,
        differences=differences,
    )
