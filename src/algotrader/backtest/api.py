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
from algotrader.errors import InvalidInputError
from algotrader.frames import INDICATOR_COLUMNS
from algotrader.strategies.registry import get_strategy
from algotrader.timeframes import Resolution


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


def _with_indicators(frame: pd.DataFrame) -> pd.DataFrame:
    if all(col in frame.columns for col in INDICATOR_COLUMNS):
        return frame
    from algotrader.indicators import compute_indicators  # type: ignore[attr-defined]

    computed = compute_indicators(frame)
    missing = [c for c in INDICATOR_COLUMNS if c not in frame.columns]
    return frame.assign(**{c: computed[c] for c in missing})
