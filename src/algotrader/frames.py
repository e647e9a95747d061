"""The bar frame every stage passes on.

A bar frame is a :class:`pandas.DataFrame` indexed by a tz-aware UTC ``DatetimeIndex`` named
``ts`` (strictly increasing, unique), with float64 columns :data:`OHLCV_COLUMNS` and, once
indicators are computed, :data:`INDICATOR_COLUMNS`. Missing values (indicator warm-up) are NaN in
memory and NULL in the database, never zero. Daily bars are keyed by the session date at 00:00 UTC;
weekly bars by the Monday of the week at 00:00 UTC.

:data:`INDICATOR_COLUMNS` follows from the indicator declarations in
:mod:`algotrader.indicators.registry` (read on first use; that module imports nothing heavy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from algotrader.indicators.registry import INDICATOR_COLUMNS

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

INDEX_NAME = "ts"

__all__ = ["INDEX_NAME", "INDICATOR_COLUMNS", "OHLCV_COLUMNS", "empty_bars"]


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows (the right columns, dtypes and index)."""
    index = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME).as_unit("us")
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS}, index=index)


def __getattr__(name: str) -> Any:
    # The stored indicator columns are declared with their indicators; this keeps the historical
    # import path ``from algotrader.frames import INDICATOR_COLUMNS`` working.
    if name == "INDICATOR_COLUMNS":
        from algotrader.indicators.registry import INDICATOR_COLUMNS

        return INDICATOR_COLUMNS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
