"""The strategy side of a backtest: which path runs it, its hooks and its signal arrays."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.backtest import _errors
from algotrader.backtest._bars import lazy_indicators, normalise_bars
from algotrader.backtest._on_bar import decode_answer
from algotrader.errors import InvalidInputError
from algotrader.strategies._rules import Rule

ExecutionPath = Literal["auto", "on_bar", "vectorized"]
_SIGNALS_FIX = "return one +1 (BUY), -1 (SELL) or 0 per bar"


_BASE = "algotrader.strategies.base"
_RULES = "algotrader.strategies._rules"


def _defining_class(cls: type, attr: str) -> type | None:
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass
    return None


def _defining_module(cls: type, attr: str) -> str | None:
    klass = _defining_class(cls, attr)
    return None if klass is None else klass.__module__


def choose_path(strategy: Any, path: ExecutionPath) -> bool:
    """True for the vectorised path (``signals``), False for ``on_bar``."""
    has_signals = callable(getattr(strategy, "signals", None))
    has_on_bar = callable(getattr(strategy, "on_bar", None))
    if path == "vectorized":
        if not has_signals:
            raise InvalidInputError(
                f"{type(strategy).__name__} has no signals(frame) method",
                "use the on_bar path or add a vectorised signals method",
            )
        return True
    if path == "on_bar":
        if not has_on_bar:
            raise InvalidInputError(f"{type(strategy).__name__} has no on_bar method")
        return False
    if path != "auto":
        raise InvalidInputError(f"invalid path {path!r}", 'use "auto", "on_bar" or "vectorized"')
    if not has_signals:
        return False
    # A subclass that overrides on_bar but inherits signals must run its own on_bar. A compiled
    # rule's signals belong to the class that defines the rule.
    mro = type(strategy).__mro__
    sig_cls = _defining_class(type(strategy), "signals")
    if sig_cls is not None and sig_cls.__module__ == _RULES:
        sig_cls = _defining_class(type(strategy), "rule_for")
    bar_cls = _defining_class(type(strategy), "on_bar")
    if bar_cls is None or sig_cls is None or bar_cls.__module__ == _BASE:
        return True
    return mro.index(sig_cls) <= mro.index(bar_cls)


def fused_rule(strategy: Any) -> Rule | None:
    """The compiled rule of a built-in strategy (None for anything else)."""
    # Only the built-in classes themselves: a user subclass may change prepare or signals.
    cls = type(strategy)
    if not cls.__module__.startswith("algotrader.strategies.") or not hasattr(cls, "rule_for"):
        return None
    rule: Rule = strategy.rule_for()
    return rule


def call_hook(strategy: Any, hook: str, frame: pd.DataFrame) -> Any:
    """Call ``strategy.start()`` / ``strategy.prepare(frame)``; a failure is one line."""
    method = getattr(strategy, hook, None)
    if not callable(method):
        return None
    try:
        return method(frame) if hook == "prepare" else method()
    except Exception as exc:
        raise _errors.raised(strategy, exc, hook, frame, None) from exc


def prepared(strategy: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """``strategy.prepare(frame)`` (reading indicators on demand), checked."""
    if _defining_module(type(strategy), "prepare") in (None, _BASE):
        return frame
    out = call_hook(strategy, "prepare", lazy_indicators(frame))
    if not isinstance(out, pd.DataFrame):
        raise _errors.bad_answer(
            strategy, "prepare", out, None, None, "return the frame with your added columns"
        )
    return normalise_bars(pd.DataFrame(out))


def vectorized_signals(strategy: Any, frame: pd.DataFrame) -> np.ndarray:
    """``strategy.signals(frame)`` as int8 codes, or one line saying what is wrong with it."""
    try:
        raw = strategy.signals(lazy_indicators(frame))
    except Exception as exc:
        raise _errors.raised(strategy, exc, "signals", frame, None) from exc
    values = np.asarray(raw)
    if values.shape != (len(frame),):
        raise _errors.bad_answer(
            strategy, "signals", raw, None, None, f"return one value per bar ({len(frame)})"
        )
    if values.dtype == np.int8:
        bad = np.flatnonzero((values < -1) | (values > 1))
        if not bad.size:
            return np.ascontiguousarray(values)
        return _decode_signals(strategy, values, frame, int(bad[0]))
    if values.dtype.kind in "iuf":
        out = values.astype(np.int8)
        ok = out.astype(values.dtype) == values
        bad = np.flatnonzero(~ok | (out < -1) | (out > 1))
        if not bad.size:
            return out
        return _decode_signals(strategy, values, frame, int(bad[0]))
    if values.dtype.kind == "O":
        return _decode_signals(strategy, values, frame, None)
    raise _errors.bad_answer(strategy, "signals", raw, None, None, _SIGNALS_FIX)


def _decode_signals(
    strategy: Any, values: np.ndarray, frame: pd.DataFrame, bad: int | None
) -> np.ndarray:
    if bad is not None:
        raise _errors.bad_answer(
            strategy, "signals", values[bad].item(), frame, bad, _SIGNALS_FIX
        )
    # Object arrays: the on_bar vocabulary ("BUY", "SELL", None, +1/-1/0), bar by bar; a
    # missing value (pandas' NaN in a column of strings) is no signal.
    out = np.empty(len(values), np.int8)
    for i, answer in enumerate(values):
        if isinstance(answer, float) and math.isnan(answer):
            out[i] = 0
            continue
        try:
            out[i] = decode_answer(answer, i, strategy, frame)
        except _errors.StrategyError as exc:
            raise _errors.bad_answer(strategy, "signals", answer, frame, i, _SIGNALS_FIX) from exc
    return out


