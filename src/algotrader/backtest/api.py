"""The Python API: ``Backtest(frame, strategy, **config).run()``.

>>> from algotrader import Backtest                                  # doctest: +SKIP
>>> result = Backtest(bars, "ma_cross", cash=10_000, commission_bps=1).run(fast=10, slow=30)
>>> result.metrics["sharpe"], result.trades.head()
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from algotrader.backtest.engine import ExecutionPath, run_backtest
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.strategies.registry import get_strategy
from algotrader.timeframes import Resolution


class Backtest:
    """One strategy over one bar frame.

    Args:
        frame: bars indexed by UTC timestamps with ``open, high, low, close, volume`` columns (any
            case, e.g. downloaded ``Open/High/Low/Close/Volume``); the stored indicator columns
            the strategy declares or reads are computed when missing.
        strategy: a registered name (``"ma_cross"``), ``"path/file.py:Class"``, a strategy class or
            an instance.
        resolution: bar size (``"1d"``, ``"1h"`` ...) for annualising; inferred when omitted.
        path: ``"auto"`` (vectorised when the strategy offers ``signals``), ``"on_bar"`` or
            ``"vectorized"``.
        **config: :class:`BacktestConfig` fields: ``cash``, ``commission_per_share``,
            ``commission_bps``, ``commission_min``, ``slippage_bps``, ``fill`` ("open"/"close"),
            ``allow_short``, ``whole_shares``, ``risk_free_rate``, ``sizing`` and ``size``,
            ``stop_loss``, ``take_profit``, ``trailing_stop``, ``exit_unit``, ``atr_period``,
            ``limit_entry``, ``limit_bars``; a misspelt name is refused with a suggestion.
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
            self.frame,
            strategy,
            self.config,
            path=self.path,
            resolution=self.resolution,
        )

