"""One-line errors for strategies that fail or answer something the engine cannot use."""

from __future__ import annotations

import inspect
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError, UserError

_PACKAGE = str(Path(__file__).resolve().parents[1])
_MAX_MESSAGE = 160


class StrategyError(InvalidInputError):
    """A user strategy raised or returned something unusable.

    The message names the strategy, where (file:line) and on which bar; the original exception,
    if any, is chained as ``__cause__`` so ``--debug`` can show its traceback.
    """


def strategy_label(strategy: Any) -> str:
    """``ClassName (path/to/file.py)`` for messages (the file when it can be found)."""
    cls = type(strategy)
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        path = None
    return f"{cls.__name__} ({_short(path)})" if path else cls.__name__


def bar_label(frame: pd.DataFrame | None, bar: int | None) -> str:
    """`` on bar 57 (2024-03-01 00:00 UTC)`` or an empty string when unknown."""
    if bar is None:
        return ""
    when = ""
    if frame is not None and 0 <= bar < len(frame):
        stamp = pd.Timestamp(frame.index[bar])
        when = f" ({stamp:%Y-%m-%d %H:%M}{' UTC' if stamp.tzinfo is not None else ''})"
    return f" on bar {bar}{when}"


def raised(
    strategy: Any, exc: BaseException, hook: str, frame: pd.DataFrame | None, bar: int | None
) -> StrategyError:
    """The one-line error for ``exc`` raised inside ``strategy.<hook>``.

    A :class:`~algotrader.errors.UserError` raised there (an unknown column, a write to ``df``)
    keeps its own message and fix, with the place added.
    """
    if isinstance(exc, StrategyError):
        return exc
    where = _user_frame(exc, strategy)
    at = f" at {where}" if where else ""
    head = f"strategy {type(strategy).__name__}.{hook}{at}{bar_label(frame, bar)}"
    if isinstance(exc, UserError):
        return StrategyError(f"{head}: {exc.problem}", exc.fix)
    text = " ".join(str(exc).split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return StrategyError(
        f"{head} raised {detail}", "fix the strategy (run with --debug for the traceback)"
    )


def bad_answer(
    strategy: Any, hook: str, answer: Any, frame: pd.DataFrame | None, bar: int | None, fix: str
) -> StrategyError:
    """The one-line error for a return value the engine cannot use."""
    return StrategyError(
        f"strategy {strategy_label(strategy)} {hook} returned {_describe(answer)}"
        f"{bar_label(frame, bar)}",
        fix,
    )


def _describe(answer: Any) -> str:
    if isinstance(answer, (bool, np.bool_)):
        return f"{bool(answer)!r} (True/False are not BUY/SELL)"
    if hasattr(answer, "shape") and hasattr(answer, "dtype"):
        kind = " (True/False are not BUY/SELL)" if answer.dtype == np.bool_ else ""
        return f"a {type(answer).__name__} of shape {answer.shape} and dtype {answer.dtype}{kind}"
    text = repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


def _user_frame(exc: BaseException, strategy: Any) -> str:
    """``file.py:line`` of the innermost traceback frame in the strategy's file (else outside
    algotrader), or an empty string."""
    frames = traceback.extract_tb(exc.__traceback__)
    try:
        own = inspect.getsourcefile(type(strategy))
    except (TypeError, OSError):
        own = None
    own_path = str(Path(own).resolve()) if own else None
    chosen = None
    for item in frames:
        path = str(Path(item.filename).resolve())
        mine = path == own_path if own_path is not None else not path.startswith(_PACKAGE)
        if mine:
            chosen = item
    if chosen is None:
        return ""
    return f"{_short(chosen.filename)}:{chosen.lineno}"


def _short(path: str | None) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
