"""The Python API: ``Backtest(frame, strategy, **config).run()``.

>>> from algotrader import Backtest                                  # doctest: +SKIP
>>> result = Backtest(bars, "ma_cross", cash=10_000, commission_bps=1).run(fast=10, slow=30)
>>> result.metrics["sharpe"], result.trades.head()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from algotrader.backtest.engine import ExecutionPath, run_backtest
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.errors import InvalidInputError
from algotrader.frames import INDICATOR_COLUMNS
from algotrader.strategies.registry import get_strategy
from algotrader.timeframes import Resolution

if TYPE_CHECKING:
    from algotrader.research.api import Optimization


class Backtest:
    """One strategy over one bar frame.

    Args:
        frame: bars indexed by UTC timestamps with ``open, high, low, close, volume``; missing
            indicator columns are computed with :func:`algotrader.indicators.compute_indicators`.
        strategy: a registered name (``"ma_cross"``), ``"path/file.py:Class"``, a strategy class or
            an instance.
        resolution: bar size (``"1d"``, ``"1h"`` ...) for annualising; inferred when omitted.
        path: ``"auto"`` (vectorised when the strategy offers ``signals``), ``"on_bar"`` or
            ``"vectorized"``.
        **config: :class:`BacktestConfig` fields: ``cash``, ``commission_per_share``,
            ``commission_bps``, ``commission_min``, ``slippage_bps``, ``fill`` ("open"/"close"),
            ``allow_short``, ``whole_shares``, ``risk_free_rate``.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        strategy: Any = "ma_cross",
        *,
        resolution: str | Resolution | None = None,
        path: ExecutionPath = "auto",
        **config: Any,
    ) -> None:
        valid = set(BacktestConfig.__dataclass_fields__)
        unknown = sorted(set(config) - valid)
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(valid), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"unknown backtest setting {unknown[0]!r}",
                f"{hint}valid settings: {', '.join(sorted(valid))}",
            )
        self.config = BacktestConfig(**config)
        self.frame = frame
        self.strategy = strategy
        self.resolution = resolution
        self.path: ExecutionPath = path

    @classmethod
    def from_store(
        cls,
        symbol: str,
        resolution: str = "1d",
        strategy: Any = "ma_cross",
        *,
        duration: str | None = None,
        database_url: str | None = None,
        **config: Any,
    ) -> Backtest:
        """A backtest over the bars of ``symbol`` stored in the database (with their indicators).

        ``duration`` ("1 Y") keeps only the last part of the stored history; ``database_url``
        defaults to the configured database (``ALGOTRADER_DATABASE_URL`` or the SQLite file).

        >>> Backtest.from_store("SPY", "1d", "rsi", duration="2 Y").run()  # doctest: +SKIP
        """
        from algotrader.backtest.runner import load_for_backtest
        from algotrader.config import load_settings
        from algotrader.db.engine import open_database
        from algotrader.db.store import BarStore
        from algotrader.timeframes import parse_duration, parse_resolution

        res = parse_resolution(resolution)
        db = open_database(load_settings(database_url=database_url))
        try:
            window = parse_duration(duration) if duration else None
            frame = load_for_backtest(BarStore(db), symbol.upper(), res, window)
        finally:
            db.dispose()
        return cls(frame, strategy, resolution=res, **config)

    def run(self, **params: Any) -> Result:
        """Run the backtest; ``params`` override the strategy's parameters (strings coerced)."""
        strategy = get_strategy(self.strategy, **params)
        return run_backtest(
            _with_indicators(self.frame),
            strategy,
            self.config,
            path=self.path,
            resolution=self.resolution,
        )


    def optimize(
        self,
        *,
        maximize: str | None = None,
        minimize: str | None = None,
        constraint: Any = None,
        method: str = "grid",
        trials: int | None = None,
        seed: int | None = None,
        jobs: int | None = None,
        executor: Any = None,
        **space: Any,
    ) -> Optimization:
        """Optimise the strategy's parameters; returns an :class:`~algotrader.research.Optimization`
        with ``best`` (the best point's full :class:`Result`), ``table`` and ``study``.

        >>> opt = Backtest(bars, "ma_cross").optimize(  # doctest: +SKIP
        ...     fast=range(5, 51, 5), slow=range(20, 201, 20), constraint="fast < slow")
        >>> opt.best.metrics["sharpe"], opt.table.head()  # doctest: +SKIP

        ``maximize``/``minimize`` name any metric (default: maximise ``sharpe``); ``constraint``
        is an expression like ``"fast < slow"`` or a callable on the point dict; ``method`` is
        ``"grid"``, ``"random"`` or ``"optuna"`` (with ``trials`` and ``seed``). ``jobs``: worker
        processes for strategies without a compiled fast path (default: all cores when the study
        is large, else this process); ``executor``: an executor object, ``"local"`` or a Dask
        address (``"tcp://scheduler:8786"``, or ``"dask-local"`` for a local cluster).
        """
        from algotrader.research.api import optimize_backtest

        points = trials if method != "grid" and trials else None
        executor, owned = _optimize_executor(self, executor, jobs, points, space)
        try:
            return optimize_backtest(
                self.frame, self.strategy, self.config, resolution=self.resolution,
                path=self.path, with_indicators=_with_indicators, maximize=maximize,
                minimize=minimize, constraint=constraint, method=method, trials=trials,
                seed=seed, threads=jobs, executor=executor, space=space,
            )
        finally:
            if owned is not None:
                owned.close()


def _optimize_executor(
    bt: Backtest, executor: Any, jobs: int | None, points: int | None, space: dict[str, Any]
) -> tuple[Any, Any]:
    """``(executor, the one to close afterwards or None)`` for :meth:`Backtest.optimize`."""
    from algotrader.research.api import grid_size, worker_processes

    if isinstance(executor, str):
        from algotrader.executors import make_executor

        made = make_executor(executor, jobs=jobs)
        return made, made
    if executor is not None:
        return executor, None
    count = points if points is not None else grid_size(space)
    workers = worker_processes(bt.strategy, bt.path, len(bt.frame), count, jobs)
    if workers <= 1:
        return None, None
    from algotrader.executors import LocalExecutor

    pool = LocalExecutor(workers)
    return pool, pool


def _with_indicators(frame: pd.DataFrame) -> pd.DataFrame:
    if all(col in frame.columns for col in INDICATOR_COLUMNS):
        return frame
    from algotrader.indicators import compute_indicators  # type: ignore[attr-defined]

    computed = compute_indicators(frame)
    missing = [c for c in INDICATOR_COLUMNS if c not in frame.columns]
    return frame.assign(**{c: computed[c] for c in missing})
