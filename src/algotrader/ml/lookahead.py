"""The look-ahead check of features: recompute on truncated histories, compare to the full run.

A causal feature's value at bar t does not change when the bars after t are removed. The check
cuts the history at several points (always including "all but the last bar"), rebuilds the
features on each cut and compares them, bit for bit (NaN equal to NaN), with the full-history
values of the same bars. A feature that reads even one bar ahead differs at the cut's last bar.

>>> report = check_lookahead(bars)                  # doctest: +SKIP
>>> report.ok, report.leaking                       # doctest: +SKIP
(True, {})
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ml.features import EventTimes, Feature, build_features


@dataclass(frozen=True)
class LookaheadReport:
    """Which features changed when later bars were removed, and at which cut (bar count)."""

    bars: int
    cuts: tuple[int, ...]
    features: tuple[str, ...]
    leaking: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.leaking


def cut_points(n: int, count: int = 6) -> tuple[int, ...]:
    """Truncation lengths spread over the second half of the history, plus ``n - 1``."""
    if n < 3:
        raise InvalidInputError(f"{n} bars are too few to check", "use at least 3 bars")
    spread = np.linspace(n // 2, n - 1, num=max(count, 2)).astype(int)
    return tuple(sorted({int(k) for k in spread if 1 <= k < n} | {n - 1}))


def check_lookahead(
    frame: pd.DataFrame,
    features: Iterable[str | Feature] | None = None,
    events: EventTimes | pd.DataFrame | None = None,
    *,
    cuts: Iterable[int] | None = None,
) -> LookaheadReport:
    """Compare features on truncated copies of ``frame`` with the full-history values."""
    chosen = list(features) if features is not None else None
    full = build_features(frame, chosen, events)
    points = tuple(cuts) if cuts is not None else cut_points(len(frame))
    leaking: dict[str, int] = {}
    for k in points:
        part = build_features(frame.iloc[:k], chosen, events)
        for name in full.columns:
            if name in leaking:
                continue
            same = np.array_equal(
                part[name].to_numpy(np.float64), full[name].to_numpy(np.float64)[:k], equal_nan=True
            )
            if not same:
                leaking[name] = k
    return LookaheadReport(len(frame), points, tuple(full.columns), leaking)


__all__ = ["LookaheadReport", "check_lookahead", "cut_points"]
