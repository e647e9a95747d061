"""Technical indicators with TA-Lib's definitions.

:func:`compute_indicators` turns a bar frame into the :data:`algotrader.frames.INDICATOR_COLUMNS`
frame; it is the single implementation used for the database and for in-memory backtests.

Columns: ``ma20``/``ma50`` SMA; ``ema_fast``/``ema_slow`` EMA 12/26 seeded with the SMA of the
first window; ``macd``/``macd_signal`` MACD(12, 26, 9) with TA-Lib's seeding; ``bb_mid``,
``bb_upper``, ``bb_lower`` Bollinger(20, 2, population std); ``rsi`` Wilder RSI(14); ``atr`` Wilder
ATR(14); ``tr`` true range (NaN on the first bar); ``ath`` running maximum of the high;
``supertrend``, ``supertrend_upper``, ``supertrend_lower``, ``supertrend_trend`` SuperTrend(10, 3)
on Wilder ATR(10). Warm-up values are NaN, never zero.

The kernels over numpy arrays are exported as well.
"""

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

__all__ = [
    "MACD",
    "Bollinger",
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
