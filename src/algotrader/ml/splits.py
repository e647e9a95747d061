"""Walk-forward periods with purge and embargo.

The time axis (every bar timestamp of the symbols) is cut into test periods: the first starts
``train`` after the first bar, the next ones every ``retrain_every`` (one open-ended period when
it is not given). Each period is predicted only by a model trained before it:

* its training window ends ``embargo`` bars before the period starts (the gap), and starts
  ``train`` before the period (``sliding``) or at the first bar (``expanding``);
* **purge**: a training sample's label must end inside the window (label end < window end), so
  the last ``horizon`` bars of every training window never enter training.

>>> walk_forward_periods(index, Duration(3, "Y"), Duration(3, "M"), embargo=5)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.timeframes import Duration

Window = Literal["sliding", "expanding"]
_OPEN_END = np.iinfo(np.int64).max
_MAX_PERIODS = 10_000


@dataclass(frozen=True)
class Period:
    """One walk-forward step: train on [train_start, train_end), predict [test_start, test_end).

    Times are UTC nanoseconds; ``test_end`` is ``None`` for the last, open-ended period.
    """

    number: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int | None

    def test_mask(self, ts_ns: np.ndarray) -> np.ndarray:
        end = _OPEN_END if self.test_end is None else self.test_end
        return (ts_ns >= self.test_start) & (ts_ns < end)

    def train_mask(self, ts_ns: np.ndarray, label_end_ns: np.ndarray) -> np.ndarray:
        """Samples in the window whose label also ends inside it (purge)."""
        return (ts_ns >= self.train_start) & (label_end_ns < self.train_end)

    def to_dict(self) -> dict[str, str | int | None]:
        def iso(ns: int | None) -> str | None:
            return None if ns is None else pd.Timestamp(ns, tz="UTC").isoformat()

        return {
            "number": self.number,
            "train_start": iso(self.train_start),
            "train_end": iso(self.train_end),
            "test_start": iso(self.test_start),
            "test_end": iso(self.test_end),
        }


def offset(duration: Duration, count: int = 1) -> pd.DateOffset:
    """``count`` times ``duration`` as a calendar offset."""
    n = duration.count * count
    if duration.unit == "Y":
        return pd.DateOffset(years=n)
    if duration.unit == "M":
        return pd.DateOffset(months=n)
    if duration.unit == "W":
        return pd.DateOffset(weeks=n)
    if duration.unit == "D":
        return pd.DateOffset(days=n)
    return pd.DateOffset(seconds=n)


def walk_forward_periods(
    times: pd.DatetimeIndex,
    train: Duration,
    retrain_every: Duration | None = None,
    *,
    embargo: int = 0,
    window: Window = "sliding",
) -> list[Period]:
    """The periods over ``times`` (sorted unique bar timestamps); see the module docstring."""
    if window not in ("sliding", "expanding"):
        raise InvalidInputError(f"invalid window {window!r}", 'use "sliding" or "expanding"')
    if embargo < 0:
        raise InvalidInputError(f"invalid embargo {embargo}", "use 0 or more bars")
    times = pd.DatetimeIndex(times).as_unit("ns")
    if len(times) == 0:
        raise DataNotFoundError("no bars to train on", "ingest bars first")
    first = times[0]
    starts = _period_starts(times, first + offset(train), retrain_every)
    if not starts:
        raise DataNotFoundError(
            f"too little data: the history ({times[0]:%Y-%m-%d} .. {times[-1]:%Y-%m-%d}, "
            f"{len(times)} bars) is not longer than --train {train}",
            "ingest a longer history (-d) or shorten --train",
        )
    ns = np.asarray(times.asi8, dtype=np.int64)
    periods = []
    for number, pos in enumerate(starts):
        end_pos = pos - embargo
        if window == "expanding":
            start_pos = 0
        else:
            start_pos = int(np.searchsorted(ns, (times[pos] - offset(train)).value, side="left"))
        if end_pos <= start_pos:
            raise DataNotFoundError(
                f"too little data: the embargo of {embargo} bars leaves period {number + 1} "
                "no training window",
                "lengthen --train or reduce --embargo",
            )
        following = starts[number + 1] if number + 1 < len(starts) else None
        periods.append(
            Period(
                number=number + 1,
                train_start=int(ns[start_pos]),
                train_end=int(ns[end_pos]),
                test_start=int(ns[pos]),
                test_end=None if following is None else int(ns[following]),
            )
        )
    return periods


def _period_starts(
    times: pd.DatetimeIndex, first_start: pd.Timestamp, every: Duration | None
) -> list[int]:
    """Positions in ``times`` where a test period begins."""
    n = len(times)
    first = int(times.searchsorted(first_start, side="left"))
    if first >= n:
        return []
    if every is None:
        return [first]
    span = (times[-1] - first_start).total_seconds()
    if span / every.approx_seconds > _MAX_PERIODS:
        raise InvalidInputError(
            f"--retrain-every {every} makes more than {_MAX_PERIODS:,} periods",
            'retrain less often, e.g. --retrain-every "3 M"',
        )
    starts = [first]
    k = 1
    while True:
        boundary = first_start + offset(every, k)
        pos = int(times.searchsorted(boundary, side="left"))
        if pos >= n:
            return starts
        if pos > starts[-1]:
            starts.append(pos)
        k += 1


__all__ = ["Period", "Window", "offset", "walk_forward_periods"]
