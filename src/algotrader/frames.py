"""The bar frame every stage passes on.

A bar frame is a :class:`pandas.DataFrame` indexed by a tz-aware UTC ``DatetimeIndex`` named
``ts`` (strictly increasing, unique), with float64 columns :data:`OHLCV_COLUMNS` and, once
indicators are computed, :data:`INDICATOR_COLUMNS`. Missing values (indicator warm-up) are NaN in
memory and NULL in the database, never zero. Daily bars are keyed by the session date at 00:00 UTC;
weekly bars by the Monday of the week at 00:00 UTC.
"""

from __future__ import annotations

import pandas as pd

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

INDICATOR_COLUMNS: tuple[str, ...] = (
    "ma20",
    "ma50",
    "ema_fast",
    "ema_slow",
    "macd",
    "macd_signal",
    "bb_mid",
    "bb_upper",
    "bb_lower",
    "rsi",
    "atr",
    "tr",
    "ath",
    "supertrend",
    "supertrend_upper",
    "supertrend_lower",
    "supertrend_trend",
)

INDEX_NAME = "ts"


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows (the right columns, dtypes and index)."""
    index = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME).as_unit("us")
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS}, index=index)
