"""``db_ma_cross``: the seed's MA cross on the stored ``ma20`` / ``ma50`` indicator columns.

Rule: BUY whenever ma20 > ma50, SELL whenever ma20 < ma50 (a state, not a crossing: the engine
ignores a BUY while already long). Nothing happens while either average is still warming up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from algotrader.strategies._rules import ABOVE_BELOW, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("db_ma_cross")
class DBMACross(RuleStrategy):
    """MA20 above / below MA50, read from the database columns."""

    rule = "BUY when ma20 > ma50, SELL when ma20 < ma50"
    columns = ("ma20", "ma50")

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        if row["ma20"] > row["ma50"]:
            return BUY
        if row["ma20"] < row["ma50"]:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(ABOVE_BELOW, ("ma20", "ma50"))
