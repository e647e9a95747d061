"""The Python API: ``Backtest(frame, strategy, **config).run()``.

>>> from algotrader import Backtest                                  # doctest: +SKIP
>>> result = Backtest(bars, "ma_cross", cash=10_000, commission_bps=1).run(fast=10, slow=30)
>>> result.metrics["sharpe"], result.trades.head()
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from algotrader.backtest.engine import ExecutionPath, run_backtest
from algotrader.backtest.result import BacktestConfig, Result, remember_bars
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

    symbol: str | None = None
    """The symbol the bars belong to, for charts and reports (set by ``from_store``)."""

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

    def run(self, **params: Any) -> Result:
        """Run the backtest; ``params`` override the strategy's parameters (strings coerced)."""
        strategy = get_strategy(self.strategy, **params)
        result = run_backtest(
            self.frame,
            strategy,
            self.config,
            path=self.path,
            resolution=self.resolution,
        )
        return remember_bars(result, self.frame, self.symbol)
