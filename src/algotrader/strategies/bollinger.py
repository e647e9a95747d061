"""``bollinger``: Bollinger-band mean reversion (20-bar SMA +- 2 population std).

Rule: BUY when close < bb_lower, SELL when close > bb_upper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from algotrader.strategies._rules import BAND, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("bollinger")
class BollingerStrategy(RuleStrategy):
    """Buy below the lower band, sell above the upper band."""

    rule = "BUY when close < bb_lower, SELL when close > bb_upper"
    columns = ("bb_lower", "bb_upper")

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        close = row["close"]
        if close < row["bb_lower"]:
            return BUY
        if close > row["bb_upper"]:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(BAND, ("close", "bb_lower", "bb_upper"))
