"""The strategy interface.

A strategy turns bars into ``"BUY"``, ``"SELL"`` or ``None``. Write one by subclassing
:class:`Strategy` and implementing :meth:`Strategy.on_bar`::

    from algotrader import Strategy

    class CloseAboveMA20(Strategy):
        name = "close_above_ma20"
        rule = "BUY when close > ma20, SELL when close < ma20"

        def on_bar(self, i, row, df):
            if row["close"] > row["ma20"]:
                return "BUY"
            if row["close"] < row["ma20"]:
                return "SELL"
            return None

``row`` is the current bar (keys are case-insensitive: ``row["MA20"]`` == ``row["ma20"]``) and
``df`` is the frame up to and including bar ``i`` -- never later bars. A signal is decided on the
bar's close and, by default, executes at the next bar's open. The older seed form
``on_bar(self, date, row, portfolio)`` works too, as do plain classes that do not inherit from
:class:`Strategy`.

Optionally implement :meth:`Strategy.signals` (one vectorised call for all bars) to let the engine
skip the per-bar Python loop; it must agree with ``on_bar`` bar for bar.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

BUY: Literal["BUY"] = "BUY"
SELL: Literal["SELL"] = "SELL"
Signal = Literal["BUY", "SELL"] | None


class Strategy:
    """Base class for strategies.

    Class attributes:
        name: registry name (``--strategy NAME``).
        rule: the trading rule in one line, shown by ``list_strategies()``.
        params: parameter names and defaults; each becomes an instance attribute
            (``Strategy(fast=10).fast == 10``).
        columns: frame columns the strategy reads; the first bar where all are non-NaN is where it
            can first trade (used for the warm-up and the buy-and-hold start).
    """

    name: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Any]] = {}
    columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        for key, value in resolve_params(type(self).__name__, dict(self.params), params).items():
            setattr(self, key, value)
        self.validate()

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameter values of this instance."""
        return {key: getattr(self, key) for key in self.params}

    def validate(self) -> None:
        """Check parameter values; raise :class:`InvalidInputError` on a bad one."""

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Add derived columns before the run (default: the frame unchanged).

        Must only use past and present values of each row (no ``shift(-1)``).
        """
        return frame

    def start(self) -> None:
        """Reset per-run state; called before the first bar of every ``on_bar`` run."""

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        """Decide on bar ``i``'s close: ``"BUY"``, ``"SELL"`` or ``None``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither on_bar nor signals")

    def warmup_bars(self, frame: pd.DataFrame) -> int:
        """Index of the first bar on which this strategy can signal (after :meth:`prepare`)."""
        return first_valid_bar(frame, self.columns)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{type(self).__name__}({args})"


def first_valid_bar(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> int:
    """The first row index where all ``columns`` are non-NaN (0 without columns, len if never)."""
    if not columns or len(frame) == 0:
        return 0
    arrays = [frame[col].to_numpy(dtype=np.float64) for col in columns]
    # Scan in chunks: the warm-up is short, so this usually touches only the first chunk.
    chunk = 4096
    for start in range(0, len(frame), chunk):
        ok = np.ones(min(chunk, len(frame) - start), dtype=bool)
        for values in arrays:
            ok &= ~np.isnan(values[start : start + chunk])
        hits = np.flatnonzero(ok)
        if hits.size:
            return start + int(hits[0])
    return len(frame)


def resolve_params(
    owner: str, defaults: dict[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge ``given`` into ``defaults``, refusing unknown names and coercing strings.

    Strings are converted to the type of the default (``"10"`` -> 10 when the default is an int),
    which is what ``--param fast=10`` on the command line relies on.
    """
    out = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            valid = ", ".join(defaults) or "none"
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"unknown parameter {key!r} for {owner}", f"{hint}valid parameters: {valid}"
            )
        out[key] = coerce_param(key, value, defaults[key])
    return out


def coerce_param(key: str, value: Any, default: Any) -> Any:
    """Convert ``value`` to the type of ``default`` (strings parsed, ints kept exact)."""
    if default is None or value is None:
        return value
    kind = type(default)
    try:
        if kind is bool:
            return _to_bool(value)
        if kind is int:
            if isinstance(value, str):
                return int(value.strip())
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return int(value)
            raise ValueError
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"invalid value {value!r} for parameter {key!r}",
            f"use a {kind.__name__} like {default!r}",
        ) from None
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "y", "on"):
            return True
        if text in ("0", "false", "no", "n", "off"):
            return False
        raise ValueError(value)
    return bool(value)


def plain_class_defaults(cls: type) -> dict[str, Any]:
    """Keyword parameters (with defaults) of a plain strategy class's ``__init__``."""
    try:
        sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    except (TypeError, ValueError):
        return {}
    return {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in list(sig.parameters.values())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
