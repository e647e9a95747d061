"""``rsi``: RSI(14) mean reversion.

Rule: BUY when rsi < lower (oversold, default 30), SELL when rsi > upper (overbought, default 70).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from algotrader.errors import InvalidInputError
from algotrader.strategies._rules import LEVELS, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("rsi")
class RSIStrategy(RuleStrategy):
    """Oversold / overbought levels on the stored ``rsi`` column."""

    rule = "BUY when rsi < lower (30), SELL when rsi > upper (70)"
    params: ClassVar[Mapping[str, Any]] = {"lower": 30.0, "upper": 70.0}
    columns = ("rsi",)

    lower: float
    upper: float

    def validate(self) -> None:
        if not 0 <= self.lower < self.upper <= 100:
            raise InvalidInputError(
                f"invalid rsi levels lower={self.lower} upper={self.upper}",
                "use 0 <= lower < upper <= 100",
            )

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        rsi = row["rsi"]
        if rsi < self.lower:
            return BUY
        if rsi > self.upper:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(LEVELS, ("rsi",), (self.lower, self.upper))
