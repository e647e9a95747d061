"""Per-period returns kept for every evaluated point (what DSR and PBO are computed from).

A period is a bar (``"bar"``) or a UTC day (``"1d"``, for intraday bars: a million one-minute bars
keep ~2,600 daily returns per point instead of a million). The return of period k is
``equity[end_k] / equity[end_(k-1)] - 1`` where ``end_k`` is the last bar of period k, so the
first (possibly partial) period only anchors the series. Stored as float32.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.timeframes import Resolution

ReturnsPeriodOption = Literal["auto", "bar", "1d"]


def resolve_period(option: str, resolution: Resolution) -> Literal["bar", "1d"]:
    """``"auto"`` keeps bar returns for daily and weekly bars and daily returns for intraday."""
    if option == "auto":
        return "1d" if resolution.is_intraday else "bar"
    if option in ("bar", "1d"):
        return option  # type: ignore[return-value]
    raise InvalidInputError(f"invalid returns period {option!r}", 'use "auto", "bar" or "1d"')


def period_ends(index: pd.DatetimeIndex, period: str) -> np.ndarray:
    """Row positions of the last bar of every period (int64, increasing)."""
    n = len(index)
    if period == "bar":
        return np.arange(n, dtype=np.int64)
    idx = pd.DatetimeIndex(index)
    days = idx.asi8 // {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}.get(
        str(idx.unit), 86_400_000_000_000
    )
    last = np.flatnonzero(np.diff(days) != 0)
    return np.append(last, n - 1).astype(np.int64) if n else np.empty(0, np.int64)


def period_returns(equity: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """float32 returns between consecutive period ends (length ``len(ends) - 1``)."""
    if ends.size < 2:
        return np.empty(0, np.float32)
    at = equity[ends]
    return (at[1:] / at[:-1] - 1.0).astype(np.float32)


def returns_index(index: pd.DatetimeIndex, ends: np.ndarray) -> pd.DatetimeIndex:
    """The timestamp of each stored return: the last bar of its period."""
    return pd.DatetimeIndex(index)[ends[1:]]
