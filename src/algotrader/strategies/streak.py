"""``streak``: buy after a run of down closes, sell after a run of up closes (seed 000).

Rule: BUY when the last ``down`` (3) closes each fell from the previous close; SELL when the last
``up`` (5) closes each rose. A run keeps signalling while it lasts; an unchanged close ends
both runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from algotrader.errors import InvalidInputError
from algotrader.strategies._rules import STREAK, Rule, RuleStrategy
from algotrader.strategies.base import BUY, SELL, Signal
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd


@register("streak")
class StreakStrategy(RuleStrategy):
    """Mean reversion on streaks of consecutive down / up closes."""

    rule = "BUY after `down` (3) consecutive lower closes, SELL after `up` (5) higher closes"
    params: ClassVar[Mapping[str, Any]] = {"down": 3, "up": 5}

    down: int
    up: int

    def validate(self) -> None:
        if self.down < 1 or self.up < 1:
            raise InvalidInputError(
                f"invalid streak lengths down={self.down} up={self.up}", "use lengths >= 1"
            )

    def start(self) -> None:
        self._prev_close = np.nan
        self._downs = 0
        self._ups = 0

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        close, prev = row["close"], self._prev_close
        self._prev_close = close
        self._downs = self._downs + 1 if close < prev else 0
        self._ups = self._ups + 1 if close > prev else 0
        if self._downs >= self.down:
            return BUY
        if self._ups >= self.up:
            return SELL
        return None

    def rule_for(self) -> Rule:
        return Rule(STREAK, ("close",), (self.down, self.up))

    def warmup_bars(self, frame: pd.DataFrame) -> int:
        return min(self.down, len(frame))
