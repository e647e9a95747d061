"""``bollinger``: Bollinger-band mean reversion (20-bar SMA +- 2 population std).

Rule: BUY when close < bb_lower, SELL when close > bb_upper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from algotrader.strategies._util import column, to_signals
from algotrader.strategies.base import BUY, SELL, Signal, Strategy
from algotrader.strategies.registry import register


@register("bollinger")
class BollingerStrategy(Strategy):
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

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        close = column(frame, "close")
        return to_signals(close < column(frame, "bb_lower"), close > column(frame, "bb_upper"))
