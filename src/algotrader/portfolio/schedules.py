"""On which bars a portfolio rebalances.

A rebalance is *decided* on a bar's close and, by default, *executed* at the next bar's open
(``fill="close"``: at the same close). Calendar periods are UTC. Every schedule fires on the panel's
first bar (the initial allocation). Then:

* ``daily``: the first bar of each UTC date (every bar of daily data);
* ``weekly``: the first bar of each week (weeks start on Monday);
* ``monthly``: the first bar of each calendar month;
* ``quarterly``: the first bar of each calendar quarter (January, April, July, October);
* ``drift``: every bar on which some symbol's weight at the close differs from its last target by
  more than ``drift_threshold`` (checked by the engine, since it depends on the book), and every
  bar on which the allocator's selection changes as for ``signal`` (for a user strategy: the set
  of listed symbols, i.e. an entry or a delisting);
* ``signal``: every bar on which the allocator's selection (the symbols it would hold) changes,
  e.g. a ``signals`` strategy turning long or flat, a new momentum top-N; a user
  :class:`~algotrader.portfolio.PortfolioStrategy` is asked on every bar and trades when it
  returns weights (``None`` = no change).

"First bar of a period" is known on that bar (its timestamp differs in period from the previous
bar's), so no schedule needs a later bar: a monthly decision is taken on the close of the month's
first bar and filled at the open of its second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_US_PER_DAY = 86_400 * 10**6


def period_starts(index: pd.DatetimeIndex, schedule: str) -> np.ndarray:
    """Bool per bar: True on the first bar of each calendar period of ``schedule`` (and bar 0)."""
    n = len(index)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    key = _period_key(pd.DatetimeIndex(index), schedule)
    out[0] = True
    out[1:] = key[1:] != key[:-1]
    return out


def _period_key(index: pd.DatetimeIndex, schedule: str) -> np.ndarray:
    utc = index.tz_convert("UTC") if index.tz is not None else index
    if schedule == "daily":
        return np.asarray(utc.as_unit("us").asi8 // _US_PER_DAY)
    if schedule == "weekly":
        # 1970-01-01 was a Thursday: shifting by 3 days makes every week start on a Monday.
        return np.asarray((utc.as_unit("us").asi8 // _US_PER_DAY + 3) // 7)
    years = np.asarray(utc.year, dtype=np.int64)
    months = np.asarray(utc.month, dtype=np.int64)
    if schedule == "monthly":
        return years * 12 + months
    if schedule == "quarterly":
        return years * 4 + (months - 1) // 3
    raise ValueError(schedule)


def selection_changes(selected: np.ndarray) -> np.ndarray:
    """Bool per bar: True on bar 0 and wherever a row of ``selected`` (bars x symbols) differs
    from the previous row."""
    n = selected.shape[0]
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    out[0] = True
    out[1:] = (selected[1:] != selected[:-1]).any(axis=1)
    return out
