"""compute_indicators: the one place a bar frame gets its indicator columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from algotrader.frames import INDICATOR_COLUMNS

from ._kernels import (
    _bollinger_into,
    _ema_into,
    _macd_into,
    _rsi_into,
    _running_max_into,
    _sma_into,
    _supertrend_into,
    _true_range_into,
    _wilder_atr_into,
)

MA_FAST, MA_SLOW = 20, 50
EMA_FAST, EMA_SLOW, MACD_SIGNAL = 12, 26, 9
BB_PERIOD, BB_DEV = 20, 2.0
RSI_PERIOD = 14
ATR_PERIOD = 14
SUPERTREND_PERIOD, SUPERTREND_MULT = 10, 3.0

_ROW = {name: i for i, name in enumerate(INDICATOR_COLUMNS)}


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        series = frame[name]
    except KeyError:
        raise KeyError(f"bar frame has no {name!r} column (needs open, high, low, close)") from None
    return np.ascontiguousarray(series.to_numpy(dtype=np.float64, copy=False))


def compute_indicators(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a new frame on ``frame.index`` with exactly :data:`INDICATOR_COLUMNS` (float64).

    ``frame`` is a bar frame (``high``, ``low`` and ``close`` are read). Definitions follow
    TA-Lib (see :mod:`algotrader.indicators`); warm-up values are NaN. This is the only
    implementation: ingestion stores its output and backtests compute it in memory.
    """
    high = _column(frame, "high")
    low = _column(frame, "low")
    close = _column(frame, "close")
    size = close.shape[0]

    # One C-ordered (columns x rows) block: each row is a contiguous kernel output, and its
    # transpose becomes the frame's single float64 block without the copy that consolidating a
    # dict of 17 arrays would cost.
    block = np.empty((len(INDICATOR_COLUMNS), size))
    rows = {name: block[i] for name, i in _ROW.items()}

    _bollinger_into(
        close, BB_PERIOD, BB_DEV, BB_DEV, rows["bb_mid"], rows["bb_upper"], rows["bb_lower"]
    )
    if MA_FAST == BB_PERIOD:
        rows["ma20"][:] = rows["bb_mid"]
    else:  # pragma: no cover - only if the periods are ever changed apart
        _sma_into(close, MA_FAST, rows["ma20"])
    _sma_into(close, MA_SLOW, rows["ma50"])
    _ema_into(close, EMA_FAST, rows["ema_fast"])
    _ema_into(close, EMA_SLOW, rows["ema_slow"])
    _macd_into(close, EMA_FAST, EMA_SLOW, MACD_SIGNAL, rows["macd"], rows["macd_signal"])
    _rsi_into(close, RSI_PERIOD, rows["rsi"])
    tr = rows["tr"]
    _true_range_into(high, low, close, tr)
    _wilder_atr_into(tr, ATR_PERIOD, rows["atr"])
    _running_max_into(high, rows["ath"])
    atr_st = np.empty(size)
    _wilder_atr_into(tr, SUPERTREND_PERIOD, atr_st)
    _supertrend_into(
        high,
        low,
        close,
        atr_st,
        SUPERTREND_MULT,
        rows["supertrend"],
        rows["supertrend_upper"],
        rows["supertrend_lower"],
        rows["supertrend_trend"],
    )

    return pd.DataFrame(block.T, index=frame.index, columns=list(INDICATOR_COLUMNS), copy=False)
