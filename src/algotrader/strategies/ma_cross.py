"""``ma_cross``: golden / death cross of two simple moving averages of the close.

Rule: BUY on the bar where SMA(fast) crosses above SMA(slow) (fast > slow now, fast <= slow on the
previous bar); SELL where it crosses below. Signals fire on crossings only, so the first trade waits
for a real cross after the warm-up. The SMAs are computed from ``close`` in :meth:`prepare` (columns
``sma_fast`` and ``sma_slow``), so ``fast`` and ``slow`` are tunable: ``--param fast=10``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from algotrader.errors import InvalidInputError
from algotrader.strategies._rules import SMA_CROSS, Rule, RuleStrategy
from algotrader.strategies._util import column, with_columns
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("ma_cross")
class MACross(RuleStrategy):
    """SMA(fast) / SMA(slow) crossover on the close."""

    rule = "BUY when SMA(fast) crosses above SMA(slow), SELL when it crosses below"
    params: ClassVar[Mapping[str, Any]] = {"fast": 20, "slow": 50}
    columns = ("sma_fast", "sma_slow")

    fast: int
    slow: int

    def validate(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise InvalidInputError(
                f"invalid ma_cross windows fast={self.fast} slow={self.slow}",
                "use 1 <= fast < slow",
            )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        from algotrader.indicators import sma  # lazily: its compiled kernels load in ~0.4 s

        close = column(frame, "close")
        return with_columns(frame, sma_fast=sma(close, self.fast), sma_slow=sma(close, self.slow))

    def start(self) -> None:
        self._prev_fast = np.nan
        self._prev_slow = np.nan

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        fast, slow = row["sma_fast"], row["sma_slow"]
        prev_fast, prev_slow = self._prev_fast, self._prev_slow
        self._prev_fast, self._prev_slow = fast, slow
        if fast > slow and prev_fast <= prev_slow:
            return BUY
        if fast < slow and prev_fast >= prev_slow:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(SMA_CROSS, ("close",), (self.fast, self.slow))
