"""Technical indicators with TA-Lib's definitions.

:func:`compute_indicators` turns a bar frame into the :data:`INDICATOR_COLUMNS` frame (or the
columns asked for); it is the single implementation used for the database and for in-memory
backtests. Each stored indicator is declared once in :mod:`algotrader.frames` (see "Adding an
indicator" there); :mod:`algotrader.indicators.registry` resolves the declarations to kernels.

Columns: ``ma20``/``ma50`` SMA; ``ema_fast``/``ema_slow`` EMA 12/26 seeded with the SMA of the
first window; ``macd``/``macd_signal`` MACD(12, 26, 9) with TA-Lib's seeding; ``bb_mid``,
``bb_upper``, ``bb_lower`` Bollinger(20, 2, population std); ``rsi`` Wilder RSI(14); ``atr`` Wilder
ATR(14); ``tr`` true range (NaN on the first bar); ``ath`` running maximum of the high;
``supertrend``, ``supertrend_upper``, ``supertrend_lower``, ``supertrend_trend`` SuperTrend(10, 3)
on Wilder ATR(10). Warm-up values are NaN, never zero.

The kernels over numpy arrays are exported as well. They are loaded on first use, so importing
this package (or its registry) does not import numba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .registry import INDICATOR_COLUMNS, STORED_INDICATORS, IndicatorSpec

if TYPE_CHECKING:
    from ._frame import compute_indicators
    from ._kernels import (
        MACD,
        Bollinger,
        SuperTrend,
        all_time_high,
        atr,
        bollinger,
        ema,
        macd,
        rsi,
        sma,
        supertrend,
        true_range,
    )

_LAZY = {
    "compute_indicators": "._frame",
    **{
        name: "._kernels"
        for name in (
            "MACD",
            "Bollinger",
            "SuperTrend",
            "all_time_high",
            "atr",
            "bollinger",
            "ema",
            "macd",
            "rsi",
            "sma",
            "supertrend",
            "true_range",
        )
    },
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "INDICATOR_COLUMNS",
    "MACD",
    "STORED_INDICATORS",
    "Bollinger",
    "IndicatorSpec",
    "SuperTrend",
    "all_time_high",
    "atr",
    "bollinger",
    "compute_indicators",
    "ema",
    "macd",
    "rsi",
    "sma",
    "supertrend",
    "true_range",
]
