"""``rsi``: RSI(14) mean reversion.

Rule: BUY when rsi < lower (oversold, default 30), SELL when rsi > upper (overbought, default 70).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.strategies._util import column, to_signals
from algotrader.strategies.base import BUY, SELL, Signal, Strategy
from algotrader.strategies.registry import register


@register("rsi")
class RSIStrategy(Strategy):
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

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        rsi = column(frame, "rsi")
        return to_signals(rsi < self.lower, rsi > self.upper)
