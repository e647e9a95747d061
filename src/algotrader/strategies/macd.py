"""``macd``: MACD(12, 26, 9) signal-line crossover.

Rule: BUY on the bar where macd crosses above macd_signal (macd > signal now, macd <= signal on the
previous bar); SELL where it crosses below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from algotrader.strategies._rules import CROSS, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("macd")
class MACDStrategy(RuleStrategy):
    """MACD line crossing its signal line."""

    rule = "BUY when macd crosses above macd_signal, SELL when it crosses below"
    columns = ("macd", "macd_signal")

    def start(self) -> None:
        self._prev_macd = np.nan
        self._prev_signal = np.nan

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        macd, signal = row["macd"], row["macd_signal"]
        prev_macd, prev_signal = self._prev_macd, self._prev_signal
        self._prev_macd, self._prev_signal = macd, signal
        if macd > signal and prev_macd <= prev_signal:
            return BUY
        if macd < signal and prev_macd >= prev_signal:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(CROSS, ("macd", "macd_signal"))
