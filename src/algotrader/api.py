"""The Python API: ``from algotrader import Backtest, Strategy``.

:class:`Backtest` runs a strategy over any bar frame; :meth:`Backtest.from_store` loads the bars
stored in the database (fetching what is missing with ``auto_fetch=True``), and
``run(store=True)`` keeps the run in ``backtest_runs`` like the CLI does.

>>> from algotrader import Backtest                                  # doctest: +SKIP
>>> bt = Backtest.from_store("SPY", "1d", "rsi", duration="2 Y", auto_fetch=True)
>>> result = bt.run(lower=25, store=True)
>>> result.metrics["sharpe"], bt.run_id
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from algotrader.backtest.api import Backtest as _FrameBacktest
from algotrader.backtest.result import Result

if TYPE_CHECKING:
    from algotrader.research.api import Optimization

__all__ = ["Backtest"]


class Backtest(_FrameBacktest):
    """One strategy over one bar frame (see :class:`algotrader.backtest.api.Backtest`), plus the
    database: :meth:`from_store` and ``run(store=True)``."""

    symbol: str | None = None
    run_id: int | None = None
    _database_url: str | None = None

    @classmethod
    def from_store(
        cls,
        symbol: str,
        resolution: str = "1d",
        strategy: Any = "ma_cross",
        *,
        duration: str | None = None,
        auto_fetch: bool = False,
        fetch_duration: str | None = None,
        source: str | None = None,
        database_url: str | None = None,
        **config: Any,
    ) -> Backtest:
        """A backtest over the bars of ``symbol`` stored in the database (with indicators).

        ``duration`` ("1 Y") keeps only the last part of the stored history; ``auto_fetch``
        first fetches what the store lacks of ``fetch_duration`` (default: ``duration`` or 5 Y)
        from ``source`` (default: ``ALGOTRADER_DATA_SOURCE``); ``database_url`` defaults to the
        configured database.

        >>> Backtest.from_store("SPY", "1d", "rsi", duration="2 Y").run()  # doctest: +SKIP
        """
        from algotrader.app._stores import open_stores
        from algotrader.app.bars import DEFAULT_FETCH, ensure_bars, load_bars
        from algotrader.config import load_settings
        from algotrader.symbols import parse_symbol
        from algotrader.timeframes import parse_duration, parse_resolution

        sym = parse_symbol(symbol)
        res = parse_resolution(resolution)
        window = parse_duration(duration) if duration else None
        settings = load_settings(database_url=database_url)
        if auto_fetch:
            fetch = parse_duration(fetch_duration) if fetch_duration else window or DEFAULT_FETCH
            ensure_bars(settings, sym, res, fetch, source=source)
        with open_stores(settings) as stores:
            frame = load_bars(stores, sym, res, window)
        bt = cls(frame, strategy, resolution=res, **config)
        bt.symbol, bt._database_url = sym, database_url
        return bt

    def run(self, *, store: bool = False, **params: Any) -> Result:
        """Run the backtest; ``params`` override the strategy's parameters (strings coerced).

        ``store=True`` (only for :meth:`from_store` backtests) records the run in the database,
        like ``algotrader backtest``; its id is then in :attr:`run_id`.
        """
        if not store:
            return super().run(**params)
        from algotrader.app.backtests import store_result
        from algotrader.config import load_settings
        from algotrader.errors import InvalidInputError

        if self.symbol is None:
            raise InvalidInputError(
                "only backtests made with Backtest.from_store can be stored",
                "load the bars with Backtest.from_store(symbol, resolution, strategy)",
            )
        result = super().run(**params)
        settings = load_settings(database_url=self._database_url)
        self.run_id = store_result(settings, self.symbol, self.frame, self.strategy, result)
        return result

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
        from algotrader.app.research import study_executor
        from algotrader.research.api import optimize_backtest

        points = trials if method != "grid" and trials else None
        executor, owned = study_executor(
            self.strategy, self.path, len(self.frame), points, space, executor=executor, jobs=jobs
        )
        try:
            return optimize_backtest(
                self.frame,
                self.strategy,
                self.config,
                resolution=self.resolution,
                path=self.path,
                with_indicators=_all_indicators,
                maximize=maximize,
                minimize=minimize,
                constraint=constraint,
                method=method,
                trials=trials,
                seed=seed,
                threads=jobs,
                executor=executor,
                space=space,
            )
        finally:
            if owned is not None:
                owned.close()


def _all_indicators(frame: Any) -> Any:
    """The stored-indicator columns a generic strategy may read, computed when missing."""
    from algotrader.backtest._bars import with_indicators
    from algotrader.frames import INDICATOR_COLUMNS

    return with_indicators(frame, INDICATOR_COLUMNS)
