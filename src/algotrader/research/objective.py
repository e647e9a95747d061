"""What a study optimises: one backtest metric, maximised or minimised, optionally pooled over
several symbols (mean, median or min of the per-symbol values)."""

from __future__ import annotations

import difflib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from algotrader.errors import InvalidInputError

Direction = Literal["maximize", "minimize"]
Pool = Literal["mean", "median", "min"]
POOLS: tuple[str, ...] = ("mean", "median", "min")


@cache
def metric_names() -> tuple[str, ...]:
    """The keys of ``Result.metrics`` (asked from the metrics module, so they never drift)."""
    import numpy as np
    import pandas as pd

    from algotrader.backtest.metrics import compute_metrics

    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    equity = np.array([1.0, 1.0, 1.0])
    keys = compute_metrics(
        index, equity, equity, np.zeros(3), np.empty(0), cash=1.0, resolution="1d"
    )
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class Objective:
    """A metric to optimise.

    Attributes:
        metric: a key of ``Result.metrics`` (``sharpe``, ``total_return``, ``calmar`` ...).
        direction: ``"maximize"`` or ``"minimize"``.
        pool: how per-symbol values combine when a study spans several symbols: ``"mean"``,
            ``"median"`` or ``"min"`` (the worst symbol: the lowest value when maximising, the
            highest when minimising); ``None`` for one symbol.
    """

    metric: str = "sharpe"
    direction: Direction = "maximize"
    pool: Pool | None = None

    def __post_init__(self) -> None:
        names = metric_names()
        if self.metric not in names:
            close = difflib.get_close_matches(self.metric, list(names), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"unknown objective {self.metric!r}", f"{hint}use one of {', '.join(names)}"
            )
        if self.direction not in ("maximize", "minimize"):
            raise InvalidInputError(
                f"invalid direction {self.direction!r}", 'use "maximize" or "minimize"'
            )
        if self.pool is not None and self.pool not in POOLS:
            close = difflib.get_close_matches(str(self.pool), list(POOLS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(f"invalid pool {self.pool!r}", f"{hint}use mean, median or min")

    def combine(self, values: Sequence[float]) -> float:
        """One objective value from per-symbol values; nan if any symbol's value is nan."""
        if not values or any(math.isnan(v) for v in values):
            return math.nan
        if len(values) == 1:
            return float(values[0])
        if self.pool == "median":
            return float(statistics.median(values))
        if self.pool == "min":
            # "min" means the worst symbol, whichever way is better.
            return float(min(values) if self.direction == "maximize" else max(values))
        return float(math.fsum(values) / len(values))

    def sort_key(self, value: float) -> tuple[int, float]:
        """Ascending sort key: best first, nan last."""
        if math.isnan(value):
            return (1, 0.0)
        return (0, -value if self.direction == "maximize" else value)

    def is_better(self, a: float, b: float) -> bool:
        return self.sort_key(a) < self.sort_key(b)

    def describe(self) -> str:
        text = f"{self.direction} {self.metric}"
        return f"{text} ({self.pool} over symbols)" if self.pool else text

