"""Normalise and check a bar frame before it is stored (DESIGN section 3).

Every provider's output goes through :func:`validate_bars`. It returns a canonical bar frame
(see :mod:`algotrader.frames`): a UTC ``DatetimeIndex`` named ``ts`` (microsecond unit), sorted
ascending, and exactly
the float64 columns ``open, high, low, close, volume`` (other columns are dropped). It refuses,
with one :class:`~algotrader.errors.InvalidInputError` line naming the first offending bar:

* an empty frame, a missing OHLCV column or a value that is not a number;
* NaN or infinite values (volume included: a provider without volumes must fill 0 explicitly);
* a price that is zero or negative, a negative volume;
* ``high < max(open, close)``, ``low > min(open, close)`` (and so ``high < low``);
* a missing (NaT) or duplicated timestamp.

Bad bars are refused rather than repaired: a silently "fixed" bar would change backtest results
without anyone knowing why.

>>> import pandas as pd
>>> raw = pd.DataFrame(
...     {"open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5], "volume": [10]},
...     index=pd.to_datetime(["2024-01-02"]),
... )
>>> validate_bars(raw).index.tz
datetime.timezone.utc
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.frames import INDEX_NAME, OHLCV_COLUMNS
from algotrader.symbols import shorten

_PRICES = ("open", "high", "low", "close")
_FIX = "fix or remove that bar"


def validate_bars(
    frame: pd.DataFrame,
    describe_row: Callable[[int], str] | None = None,
    column_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return ``frame`` as a canonical, checked bar frame, or raise one clear line.

    ``describe_row(i)`` names the ``i``-th row of ``frame`` as given (before sorting) for the
    error message, e.g. ``"prices.csv line 7"``; without it the bar's timestamp is used.
    ``column_names`` maps canonical names (``"close"``) to what the user calls them
    (``"Adj Close"``) so the message names the column they can find. The check is vectorised:
    a million bars take a few tens of milliseconds.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"validate_bars expects a DataFrame, got {type(frame).__name__}")
    names = dict(column_names or {})

    def label(column: str) -> str:
        return names.get(column, column)

    if INDEX_NAME in frame.columns and not isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.set_index(INDEX_NAME)
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"bars have no {', '.join(repr(label(c)) for c in missing)} column "
            f"(found: {', '.join(map(str, frame.columns)) or 'none'})",
            "provide open, high, low, close and volume (fill volume with 0 when unknown)",
        )
    if len(frame) == 0:
        raise InvalidInputError(
            "no bars to store (the data is empty)", "check the source, symbol and dates"
        )

    index = _utc_index(frame.index)

    def where(i: int) -> str:
        if describe_row is not None:
            return describe_row(i)
        ts = index[i]
        return f"bar {i + 1}" if ts is pd.NaT else f"bar at {ts.isoformat()}"

    columns = {column: _floats(frame[column], where, label(column)) for column in OHLCV_COLUMNS}
    _check_values(columns, where, label)
    _check_index(index, describe_row, label(INDEX_NAME))

    order = None if index.is_monotonic_increasing else np.argsort(index.asi8, kind="stable")
    if order is not None:
        index = index[order]
    data = {c: (v if order is None else v[order]) for c, v in columns.items()}
    out = pd.DataFrame(data, index=index, copy=order is None)
    out.index.name = INDEX_NAME
    return out


def _floats(column: pd.Series, where: Callable[[int], str], label: str) -> np.ndarray:
    """The column as float64; the first value that is not a number is refused by row."""
    values = column.to_numpy()
    if values.dtype == np.float64:
        return values
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        numeric = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
    text = np.flatnonzero(np.isnan(numeric) & pd.notna(values))
    if text.size:
        bad = int(text[0])
        raise InvalidInputError(
            f"{where(bad)}, column {label!r}: {shorten(repr(values[bad]))} is not a number", _FIX
        )
    return numeric  # only None/NA: the NaN check names the bar


def _utc_index(index: pd.Index) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(index)
        except (TypeError, ValueError):
            raise InvalidInputError(
                "bars are not indexed by timestamps", "index the frame by a UTC DatetimeIndex"
            ) from None
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    # One resolution for every frame (microseconds: pandas' default and what the store loads),
    # so frames compare equal and concatenate without surprises. Duplicates are checked after
    # this, so two stamps that only differ below a microsecond are caught.
    # no freq: frames from different sources then compare equal
    return pd.DatetimeIndex(index.as_unit("us"), freq=None)  # type: ignore[arg-type]


def _first(mask: np.ndarray) -> int:
    """Position of the first True, or the frame length when there is none."""
    pos = int(mask.argmax()) if mask.size else 0
    return pos if mask.size and mask[pos] else mask.size


def _check_values(
    cols: dict[str, np.ndarray], where: Callable[[int], str], label: Callable[[str], str]
) -> None:
    o, h, lo, c, v = (cols[k] for k in OHLCV_COLUMNS)

    def not_finite(col: str) -> Callable[[int], str]:
        def say(i: int) -> str:
            x = cols[col][i]
            what = "empty or NaN value" if np.isnan(x) else f"{x} is not a finite number"
            return f"{where(i)}, column {label(col)!r}: {what}"

        return say

    def not_positive(col: str) -> Callable[[int], str]:
        def say(i: int) -> str:
            return f"{where(i)}, column {label(col)!r}: {cols[col][i]:g} is not a positive price"

        return say

    def negative_volume(i: int) -> str:
        return f"{where(i)}, column {label('volume')!r}: {v[i]:g} is a negative volume"

    def high_below_low(i: int) -> str:
        return f"{where(i)}, column {label('high')!r}: high {h[i]:g} is below low {lo[i]:g}"

    def high_below_body(i: int) -> str:
        side = "open" if o[i] >= c[i] else "close"
        return (
            f"{where(i)}, column {label('high')!r}: high {h[i]:g} is below "
            f"{side} {max(o[i], c[i]):g}"
        )

    def low_above_body(i: int) -> str:
        side = "open" if o[i] <= c[i] else "close"
        return (
            f"{where(i)}, column {label('low')!r}: low {lo[i]:g} is above "
            f"{side} {min(o[i], c[i]):g}"
        )

    # Order matters for ties on one row: the most basic problem is named first.
    checks: list[tuple[np.ndarray, Callable[[int], str]]] = [
        *((~np.isfinite(cols[col]), not_finite(col)) for col in OHLCV_COLUMNS),
        *((cols[col] <= 0, not_positive(col)) for col in _PRICES),
        (v < 0, negative_volume),
        (h < lo, high_below_low),
        (h < np.maximum(o, c), high_below_body),
        (lo > np.minimum(o, c), low_above_body),
    ]
    # The earliest bad row wins, whatever the check, so a user fixing a file from the top meets
    # the problems in file order.
    best: tuple[int, Callable[[int], str]] | None = None
    for mask, say in checks:
        pos = _first(mask)
        if pos < mask.size and (best is None or pos < best[0]):
            best = (pos, say)
    if best is not None:
        raise InvalidInputError(best[1](best[0]), _FIX)


def _check_index(
    index: pd.DatetimeIndex, describe_row: Callable[[int], str] | None, ts_label: str
) -> None:
    ints = index.asi8
    nat = np.iinfo(np.int64).min  # how pandas stores NaT
    pos = _first(ints == nat)
    if pos < ints.size:
        where = describe_row(pos) if describe_row is not None else f"bar {pos + 1}"
        raise InvalidInputError(f"{where}, column {ts_label!r}: the timestamp is missing", _FIX)
    if index.is_monotonic_increasing:
        same = np.flatnonzero(ints[1:] == ints[:-1])
        if same.size:
            later = int(same[0]) + 1
            _duplicate(index, describe_row, ts_label, later, later - 1)
        return
    # Stable sort keeps equal timestamps in their original order, so within a run of equal
    # values every element after the first repeats an earlier row.
    order = np.argsort(ints, kind="stable")
    sorted_ints = ints[order]
    same = np.flatnonzero(sorted_ints[1:] == sorted_ints[:-1])
    if same.size:
        later_positions = order[same + 1]
        k = int(later_positions.argmin())
        _duplicate(index, describe_row, ts_label, int(later_positions[k]), int(order[same[k]]))


def _duplicate(
    index: pd.DatetimeIndex,
    describe_row: Callable[[int], str] | None,
    ts_label: str,
    later: int,
    earlier: int,
) -> None:
    stamp = index[later].isoformat()
    if describe_row is None:
        where, first = f"bar {later + 1}", f"bar {earlier + 1}"
    else:
        where, first = describe_row(later), describe_row(earlier)
        # "prices.csv line 9 ... repeats line 8": drop the part both descriptions share
        shared = os.path.commonprefix([where, first])  # noqa: RUF071 (text, not paths)
        whole_words = shared[: shared.rfind(" ")]
        first = first[whole_words.rfind(" ") + 1 :]  # keeps the last shared word ("line")
    raise InvalidInputError(
        f"{where}, column {ts_label!r}: timestamp {stamp} repeats {first}",
        "remove one of the two bars",
    )
