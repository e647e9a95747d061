"""``ath_breakout``: all-time-high breakout with a SuperTrend stop.

Rule: BUY when close > the previous bar's ath (a close above every earlier high); SELL when
close < supertrend (price broke back below the trend line). The stop wins if both hold on one bar,
so the strategy never enters below its own stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from algotrader.strategies._rules import BREAKOUT, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("ath_breakout")
class ATHBreakout(RuleStrategy):
    """Buy new all-time-high closes, exit below the SuperTrend line."""

    rule = "BUY when close > previous bar's ath, SELL when close < supertrend"
    columns = ("ath", "supertrend")

    def start(self) -> None:
        self._prev_ath = np.nan

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        close, prev_ath = row["close"], self._prev_ath
        self._prev_ath = row["ath"]
        if close < row["supertrend"]:
            return SELL
        if close > prev_ath:
            return BUY
        return None

    def rule_for(self) -> Rule:
        return Rule(BREAKOUT, ("close", "ath", "supertrend"))
