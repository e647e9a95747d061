"""The bar frame a backtest reads: accepted shapes, and indicator columns computed on demand."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.frames import is_indicator_column
from algotrader.timeframes import RESOLUTIONS, Resolution, parse_resolution

_OHLCV = ("open", "high", "low", "close", "volume")
_DATE_COLUMNS = ("ts", "date", "datetime", "timestamp", "time")
_TICKS_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def normalise_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with lower-case OHLCV names and a timestamp index, or one clear error.

    Accepts the usual shape of downloaded data: ``Open/High/Low/Close/Volume`` in any case, and a
    ``Date``/``Datetime``/``Timestamp`` column when the index is not already timestamps.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError("the bars must be a pandas DataFrame", "pass a bar frame")
    rename: dict[Any, str] = {}
    present = set(frame.columns)
    for col in frame.columns:
        name = str(col).strip().lower()
        if name in _OHLCV and name not in present and name not in rename.values():
            rename[col] = name
    bars = frame.rename(columns=rename) if rename else frame
    if not isinstance(bars.index, pd.DatetimeIndex):
        bars = _with_time_index(bars)
    missing = [c for c in ("open", "close") if c not in bars.columns]
    if missing:
        raise InvalidInputError(
            f"the bars lack column(s) {', '.join(missing)}",
            "give open/high/low/close/volume columns (any case)",
        )
    if len(bars) == 0:
        raise InvalidInputError("no bars to backtest", "load a longer period")
    if not bars.index.is_monotonic_increasing:
        raise InvalidInputError("the bars are not in time order", "sort them by timestamp")
    return bars


def time_index(bars: pd.DataFrame) -> pd.DatetimeIndex:
    """The timestamp index of bars that went through :func:`normalise_bars` (no copy: building
    a DatetimeIndex from one costs more than a 10k-bar simulation's kernel)."""
    index = bars.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError("normalise_bars() first: the bars have no timestamp index")
    return index


def _with_time_index(frame: pd.DataFrame) -> pd.DataFrame:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for name in _DATE_COLUMNS:
        if name in lower:
            try:
                stamps = pd.to_datetime(frame[lower[name]], utc=True)
            except (ValueError, TypeError, OverflowError) as exc:
                raise InvalidInputError(
                    f"cannot read the {lower[name]!r} column as timestamps", "use ISO dates"
                ) from exc
            return frame.drop(columns=[lower[name]]).set_index(pd.DatetimeIndex(stamps, name="ts"))
    raise InvalidInputError(
        "the bars need a DatetimeIndex", "index them by UTC timestamp or add a Date column"
    )


def with_indicators(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame`` plus the stored indicator ``columns`` it lacks (others ignored); no copy of
    the existing columns."""
    missing = [c for c in columns if is_indicator_column(c) and c not in frame.columns]
    if not missing:
        return frame
    from algotrader.indicators import compute_indicators
    from algotrader.strategies._util import with_columns

    computed = compute_indicators(frame, missing)
    add = {c: computed[c].to_numpy() for c in computed.columns if c not in frame.columns}
    return with_columns(frame, **add)


class IndicatorFrame(pd.DataFrame):
    """A bar frame that computes a stored indicator column the first time it is read.

    What a strategy's ``prepare`` and ``signals`` receive: ``frame["rsi"]`` or ``frame.rsi`` on
    bars that lack the column computes just that indicator (TA-Lib definitions, see
    :mod:`algotrader.indicators`), so a backtest pays only for what its strategy reads. Anything
    derived from it is a plain DataFrame.
    """

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def __getitem__(self, key: Any) -> Any:
        self._add_missing(key)
        return super().__getitem__(key)

    def __getattr__(self, name: str) -> Any:  # type: ignore[misc]
        if is_indicator_column(name) and name not in self.columns:
            self._add_missing(name)
            return super().__getitem__(name)
        return super().__getattr__(name)

    def _add_missing(self, key: Any) -> None:
        names = [key] if isinstance(key, str) else key if isinstance(key, (list, tuple)) else []
        missing = [c for c in names if is_indicator_column(c) and c not in self.columns]
        if missing:
            from algotrader.indicators import compute_indicators

            computed = compute_indicators(pd.DataFrame(self), missing)
            for column in computed.columns:
                if column not in self.columns:
                    super().__setitem__(column, computed[column].to_numpy())


def lazy_indicators(frame: pd.DataFrame) -> IndicatorFrame:
    """``frame`` as an :class:`IndicatorFrame` (no copy of its columns)."""
    return frame if isinstance(frame, IndicatorFrame) else IndicatorFrame(frame)


def infer_resolution(index: pd.DatetimeIndex, given: str | Resolution | None) -> Resolution:
    if given is not None:
        return given if isinstance(given, Resolution) else parse_resolution(given)
    if len(index) < 2:
        return RESOLUTIONS["1d"]
    # The first 10k spacings are plenty and keep this O(1) for million-bar frames; read in the
    # index's own unit (a conversion would copy).
    head = np.asarray(index.asi8[:10_001])
    step = float(np.median(np.diff(head))) / _TICKS_PER_SECOND[str(index.unit)]
    # Nearest bar size on a log scale: daily bars with weekends still have a median of one day.
    return min(RESOLUTIONS.values(), key=lambda r: abs(math.log(max(step, 1.0) / r.seconds)))


