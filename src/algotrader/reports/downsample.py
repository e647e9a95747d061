"""Display downsampling: consecutive bars grouped into buckets, each drawn as one point.

Only what is *drawn* is downsampled; metrics, the heatmap and the tables use every bar. Candles
aggregate exactly (first open, highest high, lowest low, last close, summed volume); lines show
each bucket's last value, and drawdowns each bucket's deepest value, so no trough disappears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_POINTS = 3_000
"""Most points (candles) a chart draws per series: SVG stays smooth at this size."""


@dataclass(frozen=True)
class Buckets:
    """Bars ``starts[k] .. starts[k+1]-1`` form bucket ``k``; ``size`` bars per bucket."""

    index: pd.DatetimeIndex
    starts: np.ndarray
    size: int
    labels: np.ndarray
    """One string per bucket (an object array: Plotly takes it without a per-item check)."""

    @property
    def ends(self) -> np.ndarray:
        """Index of each bucket's last bar."""
        return np.r_[self.starts[1:] - 1, len(self.index) - 1].astype(np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    def first(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values)[self.starts]

    def last(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values)[self.ends]

    def high(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(np.fmax, values)

    def low(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(np.fmin, values)

    def total(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(np.add, np.nan_to_num(np.asarray(values, np.float64)))

    def _reduce(self, ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        if self.size == 1:
            return np.asarray(values, np.float64)
        return np.asarray(ufunc.reduceat(np.asarray(values, np.float64), self.starts))

    def of(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        """The bucket of each timestamp (the bar at or before it)."""
        bars = self.index.searchsorted(pd.DatetimeIndex(stamps), side="right") - 1
        bars = np.clip(bars, 0, len(self.index) - 1)
        return np.asarray(bars // self.size, dtype=np.int64)


def label_format(index: pd.DatetimeIndex) -> str:
    """Dates for daily and weekly bars, date and time (UTC) for intraday bars."""
    if len(index) < 2:
        return "%Y-%m-%d"
    step = np.median(np.diff(index[:10_001].as_unit("s").asi8))
    return "%Y-%m-%d %H:%M" if step < 86_400 else "%Y-%m-%d"


def buckets_for(index: pd.DatetimeIndex, max_points: int = MAX_POINTS) -> Buckets:
    """Group ``index``'s bars into at most ``max_points`` buckets of equal size."""
    index = pd.DatetimeIndex(index).tz_convert("UTC")
    n = len(index)
    size = max(1, math.ceil(n / max_points)) if n else 1
    starts = np.arange(0, n, size, dtype=np.int64)
    labels = np.asarray(index[starts].strftime(label_format(index)), dtype=object)
    if len(set(labels)) != len(labels):  # category labels must be unique
        labels = np.asarray(index[starts].strftime("%Y-%m-%d %H:%M:%S.%f"), dtype=object)
    return Buckets(index, starts, size, labels)
