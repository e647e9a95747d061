"""Aligning external signals and events to bars without look-ahead.

Rule: a bar sees what was known at its timestamp. A signal stamped ``s`` is visible on every bar
with ``ts >= s`` (the latest one wins, as of the bar), so a forecast made at bar t (stamped t) is
usable on bar t, never before; an event stamped ``D`` shows on the first bar with ``ts >= D``.
Bar timestamps are bar starts and decisions happen at the bar's close, so this is conservative.

Columns added to the bar frame (strategies read them as ``row["signal:lightgbm_v3"]``):

* ``signal:<source>:<name>`` for every (source, name) of the symbol's signals;
* ``signal:<source>`` as well when that source has a single name (the usual case);
* ``regime``: the signal named ``regime`` (written by regime models), when exactly one source has
  one, or the one of ``regime_source``;
* ``event:<kind>``: how many events of that kind became visible on the bar (0 otherwise).

The bar loader calls :func:`attach_signals` with the rows of ``external_signals`` (columns ts,
source, name, value) and of ``symbol_events``/``market_events`` (ts, kind) of the symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ml.features import newly_visible

SIGNAL_PREFIX = "signal:"
EVENT_PREFIX = "event:"
REGIME = "regime"


def _ns(values: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(values).as_unit("ns").asi8, dtype=np.int64)


def asof_values(
    bar_ns: np.ndarray, signal_ns: np.ndarray, values: np.ndarray, max_age_ns: int | None = None
) -> np.ndarray:
    """The latest value stamped at or before each bar (NaN before the first one, or if older
    than ``max_age_ns``). ``signal_ns`` must be sorted."""
    at = np.searchsorted(signal_ns, bar_ns, side="right") - 1
    out = np.where(at >= 0, values[np.maximum(at, 0)], np.nan).astype(np.float64)
    if max_age_ns is not None and signal_ns.size:
        stale = bar_ns - signal_ns[np.maximum(at, 0)] > max_age_ns
        out[stale] = np.nan
    return out


def align_signals(
    index: pd.DatetimeIndex,
    signals: pd.DataFrame,
    *,
    max_age: pd.Timedelta | None = None,
    regime_source: str | None = None,
) -> pd.DataFrame:
    """Signal columns for the bars of ``index`` (see the module docstring)."""
    bar_ns = _ns(pd.DatetimeIndex(index))
    max_age_ns = None if max_age is None else int(pd.Timedelta(max_age).value)
    columns: dict[str, np.ndarray] = {}
    if signals is not None and not signals.empty:
        names_per_source = {
            str(k): int(v) for k, v in signals.groupby("source")["name"].nunique().items()
        }
        for (source, name), rows in signals.groupby(["source", "name"], sort=True):
            ts = _ns(pd.DatetimeIndex(rows["ts"]))
            order = np.argsort(ts, kind="stable")
            values = asof_values(
                bar_ns, ts[order], rows["value"].to_numpy(np.float64)[order], max_age_ns
            )
            columns[f"{SIGNAL_PREFIX}{source}:{name}"] = values
            if names_per_source[str(source)] == 1:
                columns[f"{SIGNAL_PREFIX}{source}"] = values
        regime = _regime_column(signals, columns, regime_source)
        if regime is not None:
            columns[REGIME] = regime
    elif regime_source is not None:
        raise InvalidInputError(
            f"no regime signal from {regime_source!r} for these bars",
            "run `algotrader ml predict` with a regime (hmm) model first",
        )
    return pd.DataFrame(columns, index=index)


def _regime_column(
    signals: pd.DataFrame, columns: dict[str, np.ndarray], regime_source: str | None
) -> np.ndarray | None:
    sources = sorted(set(signals.loc[signals["name"] == REGIME, "source"]))
    if regime_source is not None:
        if regime_source not in sources:
            raise InvalidInputError(
                f"no regime signal from {regime_source!r} for these bars",
                f"regime sources stored: {', '.join(sources) or 'none'}",
            )
        return columns[f"{SIGNAL_PREFIX}{regime_source}:{REGIME}"]
    if len(sources) == 1:
        return columns[f"{SIGNAL_PREFIX}{sources[0]}:{REGIME}"]
    return None


def align_events(index: pd.DatetimeIndex, events: pd.DataFrame) -> pd.DataFrame:
    """``event:<kind>`` columns: events of that kind first visible on each bar."""
    bar_ns = _ns(pd.DatetimeIndex(index))
    columns: dict[str, np.ndarray] = {}
    if events is not None and not events.empty:
        for kind, rows in events.groupby("kind", sort=True):
            columns[f"{EVENT_PREFIX}{kind}"] = newly_visible(
                bar_ns, np.sort(_ns(pd.DatetimeIndex(rows["ts"])))
            )
    return pd.DataFrame(columns, index=index)


def attach_signals(
    frame: pd.DataFrame,
    signals: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    *,
    max_age: pd.Timedelta | None = None,
    regime_source: str | None = None,
) -> pd.DataFrame:
    """``frame`` plus the aligned signal and event columns (existing ones are replaced)."""
    index = pd.DatetimeIndex(frame.index)
    parts = [
        align_signals(
            index,
            signals if signals is not None else pd.DataFrame(),
            max_age=max_age,
            regime_source=regime_source,
        ),
        align_events(index, events if events is not None else pd.DataFrame()),
    ]
    added = pd.concat(parts, axis=1)
    if not len(added.columns):
        return frame
    return pd.concat([frame.drop(columns=list(added.columns), errors="ignore"), added], axis=1)


__all__ = [
    "EVENT_PREFIX",
    "REGIME",
    "SIGNAL_PREFIX",
    "align_events",
    "align_signals",
    "asof_values",
    "attach_signals",
]
