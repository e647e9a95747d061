"""``supertrend``: SuperTrend(10, 3) trend flips.

Rule: BUY on the bar where supertrend_trend flips from -1 to +1, SELL where it flips from +1 to -1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from algotrader.strategies._rules import FLIP, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("supertrend")
class SuperTrendStrategy(RuleStrategy):
    """Follow SuperTrend direction changes."""

    rule = "BUY when supertrend_trend flips up (-1 -> +1), SELL when it flips down (+1 -> -1)"
    columns = ("supertrend_trend",)

    def start(self) -> None:
        self._prev_trend = np.nan

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        trend, prev = row["supertrend_trend"], self._prev_trend
        self._prev_trend = trend
        if trend > 0 and prev < 0:
            return BUY
        if trend < 0 and prev > 0:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(FLIP, ("supertrend_trend",))
