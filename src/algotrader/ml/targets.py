"""Targets: what a model learns to forecast at bar t, from bars after t.

* ``next_return``: close[t+1] / close[t] - 1 (horizon 1);
* ``fwd_return``: close[t+h] / close[t] - 1;
* ``direction``: 1 when close[t+h] > close[t], else 0 (a classifier's label).

A label at t is known only at bar t+h (its *label end*): training windows drop ("purge") every
sample whose label ends inside the period being predicted, see :mod:`algotrader.ml.splits`.
"""

from __future__ import annotations

import difflib

import numpy as np

from algotrader.errors import InvalidInputError

TARGETS: tuple[str, ...] = ("next_return", "fwd_return", "direction")
NO_LABEL_END = np.iinfo(np.int64).max


def check_target(kind: str, horizon: int) -> tuple[str, int]:
    """The validated (target, horizon); ``next_return`` always has horizon 1."""
    name = str(kind).strip().lower()
    if name not in TARGETS:
        close = difflib.get_close_matches(name, TARGETS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"unknown target {kind!r}", f"{hint}use one of {', '.join(TARGETS)}"
        )
    if horizon < 1:
        raise InvalidInputError(f"invalid horizon {horizon}", "use a horizon of at least 1 bar")
    if name == "next_return" and horizon != 1:
        raise InvalidInputError(
            f"next_return has a horizon of 1 bar, not {horizon}",
            f"use --target fwd_return --horizon {horizon}",
        )
    return name, horizon


def forward_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """close[t+h] / close[t] - 1, NaN for the last ``horizon`` bars."""
    out = np.full(close.shape[0], np.nan)
    if horizon < close.shape[0]:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    out[~np.isfinite(out)] = np.nan
    return out


def make_target(close: np.ndarray, kind: str, horizon: int) -> np.ndarray:
    """The label of every bar (NaN where the future bar does not exist yet)."""
    kind, horizon = check_target(kind, horizon)
    ret = forward_return(np.asarray(close, dtype=np.float64), horizon)
    if kind == "direction":
        return np.where(np.isnan(ret), np.nan, (ret > 0).astype(np.float64))
    return ret


def label_end(ts_ns: np.ndarray, horizon: int) -> np.ndarray:
    """The timestamp of bar t+h for every bar t (:data:`NO_LABEL_END` when it does not exist)."""
    out = np.full(ts_ns.shape[0], NO_LABEL_END, dtype=np.int64)
    if horizon < ts_ns.shape[0]:
        out[:-horizon] = ts_ns[horizon:]
    return out


__all__ = ["NO_LABEL_END", "TARGETS", "check_target", "forward_return", "label_end", "make_target"]
