"""``hello_world``: the smallest possible strategy.

Rule: BUY on the very first bar and never sell, i.e. buy and hold. With the default next-open fill
it buys at the second bar's open, so it matches the buy-and-hold curve exactly. Copy it as a
template: ``on_bar`` gets the bar index ``i``, the current ``row`` and the history ``df``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from algotrader.strategies._rules import FIRST_BAR, Rule, RuleStrategy
from algotrader.strategies.base import BUY, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("hello_world")
class HelloWorld(RuleStrategy):
    """Buy on the first bar, hold forever."""

    rule = "BUY on the first bar, never SELL (buy and hold)"

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        return BUY if i == 0 else None

    def rule_for(self) -> Rule:
        return Rule(FIRST_BAR)
