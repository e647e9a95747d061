"""The bar frame every stage passes on, and the stored indicators it carries.

A bar frame is a :class:`pandas.DataFrame` indexed by a tz-aware UTC ``DatetimeIndex`` named
``ts`` (strictly increasing, unique), with float64 columns :data:`OHLCV_COLUMNS` and, once
indicators are computed, :data:`INDICATOR_COLUMNS`. Missing values (indicator warm-up) are NaN in
memory and NULL in the database, never zero. Daily bars are keyed by the session date at 00:00 UTC;
weekly bars by the Monday of the week at 00:00 UTC.

Stored indicators are declared once, here (:data:`STORED_INDICATORS`): which columns each writes,
which bar columns it reads, its parameters, its warm-up and the name of its kernel. The frame
columns (:data:`INDICATOR_COLUMNS`), :func:`algotrader.indicators.compute_indicators`, the
``market_prices`` columns of :mod:`algotrader.db.models`, what ingest stores and what a backtest
computes on demand all follow from these declarations. They live in this basic module (data
only, no imports beyond the standard library and pandas) so every layer can read them; the
kernels themselves are in :mod:`algotrader.indicators`.

Adding an indicator
-------------------
1. Append an :class:`IndicatorSpec` to :data:`STORED_INDICATORS`, naming a kernel in
   ``algotrader/indicators/_kernels.py`` that fills its output arrays in place, called as
   ``kernel(*input_arrays, *params, *output_arrays)`` (write the kernel if none fits).
2. Add an Alembic migration that adds the column(s) to ``market_prices`` as nullable
   double-precision floats (``tests/indicators/test_registry.py`` checks the migrated schema on
   SQLite and PostgreSQL and fails until the migration exists).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

INDEX_NAME = "ts"

_BAR_COLUMNS = frozenset(OHLCV_COLUMNS)


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows (the right columns, dtypes and index)."""
    index = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME).as_unit("us")
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS}, index=index)


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One stored indicator.

    Attributes:
        name: the indicator's name (``"bollinger"``).
        outputs: the columns it writes, in order (``("bb_mid", "bb_upper", "bb_lower")``).
        inputs: the bar columns it reads (``("close",)``).
        params: its fixed parameters, in the kernel's argument order (``(("n", 20), ...)``);
            ints are periods, floats multipliers.
        warmup: how many leading bars every output leaves NaN (a window not yet filled).
        kernel: name of the function in ``algotrader/indicators/_kernels.py`` that computes it
            (resolved there, so this declaration imports nothing heavy).
        description: one line for people: the definition and its TA-Lib equivalent.
    """

    name: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    params: tuple[tuple[str, int | float], ...]
    warmup: int
    kernel: str
    description: str

    def __post_init__(self) -> None:
        unknown = [c for c in self.inputs if c not in _BAR_COLUMNS]
        if unknown or not self.outputs:
            raise ValueError(f"indicator {self.name!r}: inputs must be bar columns, got {unknown}")

    @property
    def param_values(self) -> tuple[int | float, ...]:
        """The parameter values in kernel order."""
        return tuple(value for _, value in self.params)


def _spec(
    name: str,
    outputs: tuple[str, ...],
    inputs: tuple[str, ...],
    params: tuple[tuple[str, int | float], ...],
    warmup: int,
    kernel: str,
    description: str,
) -> IndicatorSpec:
    return IndicatorSpec(name, outputs, inputs, params, warmup, kernel, description)


STORED_INDICATORS: tuple[IndicatorSpec, ...] = (
    _spec("sma20", ("ma20",), ("close",), (("n", 20),), 19, "_sma_into",
          "simple moving average of the close over 20 bars (TA-Lib SMA)"),
    _spec("sma50", ("ma50",), ("close",), (("n", 50),), 49, "_sma_into",
          "simple moving average of the close over 50 bars (TA-Lib SMA)"),
    _spec("ema12", ("ema_fast",), ("close",), (("n", 12),), 11, "_ema_into",
          "EMA(12) of the close seeded with the SMA of its first window (TA-Lib EMA)"),
    _spec("ema26", ("ema_slow",), ("close",), (("n", 26),), 25, "_ema_into",
          "EMA(26) of the close seeded with the SMA of its first window (TA-Lib EMA)"),
    _spec("macd", ("macd", "macd_signal"), ("close",),
          (("fast", 12), ("slow", 26), ("signal", 9)), 33, "_macd_into",
          "MACD line EMA12 - EMA26 and its EMA9 signal, TA-Lib's seeding (TA-Lib MACD)"),
    _spec("bollinger", ("bb_mid", "bb_upper", "bb_lower"), ("close",),
          (("n", 20), ("dev_up", 2.0), ("dev_down", 2.0)), 19, "_bollinger_into",
          "SMA(20) +- 2 population standard deviations (TA-Lib BBANDS)"),
    _spec("rsi", ("rsi",), ("close",), (("n", 14),), 14, "_rsi_into",
          "Wilder RSI(14) of the close (TA-Lib RSI)"),
    _spec("atr", ("atr",), ("high", "low", "close"), (("n", 14),), 14, "_atr_into",
          "Wilder average true range over 14 bars (TA-Lib ATR)"),
    _spec("true_range", ("tr",), ("high", "low", "close"), (), 1, "_true_range_into",
          "max(high - low, |high - previous close|, |low - previous close|) (TA-Lib TRANGE)"),
    _spec("ath", ("ath",), ("high",), (), 0, "_running_max_into",
          "all-time high: running maximum of the high"),
    _spec("supertrend", ("supertrend", "supertrend_upper", "supertrend_lower", "supertrend_trend"),
          ("high", "low", "close"), (("n", 10), ("mult", 3.0)), 10, "_supertrend_hlc_into",
          "SuperTrend(10, 3) on Wilder ATR(10): line, final bands and trend +1/-1"),
)
"""Every stored indicator, in column order."""

INDICATOR_COLUMNS: tuple[str, ...] = tuple(c for spec in STORED_INDICATORS for c in spec.outputs)
"""The stored indicator columns of a bar frame and of ``market_prices``, in order."""

_BY_COLUMN: dict[str, IndicatorSpec] = {c: s for s in STORED_INDICATORS for c in s.outputs}


def spec_for(column: str) -> IndicatorSpec:
    """The declaration that writes ``column`` (KeyError for a column no indicator writes)."""
    return _BY_COLUMN[column]


def is_indicator_column(column: object) -> bool:
    """True for a stored indicator column name (exact, lower-case)."""
    return isinstance(column, str) and column in _BY_COLUMN


def specs_for(columns: Iterable[str]) -> tuple[IndicatorSpec, ...]:
    """The declarations needed for ``columns`` (unknown names ignored), in declaration order."""
    wanted = {_BY_COLUMN[c].name for c in columns if c in _BY_COLUMN}
    return tuple(s for s in STORED_INDICATORS if s.name in wanted)


__all__ = [
    "INDEX_NAME",
    "INDICATOR_COLUMNS",
    "OHLCV_COLUMNS",
    "STORED_INDICATORS",
    "IndicatorSpec",
    "empty_bars",
    "is_indicator_column",
    "spec_for",
    "specs_for",
]
