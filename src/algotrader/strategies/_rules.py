"""Compiled signal rules: the built-in strategies' logic as one numba step per bar.

Each built-in strategy describes its rule as a :class:`Rule` (a kind, the frame columns it reads
and up to two numbers). ``_kernels.rule_step`` evaluates one bar of any rule; it is inlined both
into :func:`rule_signals` (the vectorised ``signals()`` of the built-ins) and into the backtest
kernel, which then computes signals, book, equity and statistics in a single pass without a
signal array. The Python ``on_bar`` of each built-in stays the readable reference; tests check
that all three agree bar for bar.

Every comparison with NaN is false, so warm-up bars never signal (as in ``on_bar``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from algotrader.strategies.base import Strategy

if TYPE_CHECKING:
    import pandas as pd

# Rule kinds (the kernel switches on these; SIGNALS reads a precomputed int8 array).
SIGNALS = 0
FIRST_BAR = 1
SMA_CROSS = 2
CROSS = 3
ABOVE_BELOW = 4
BAND = 5
LEVELS = 6
FLIP = 7
BREAKOUT = 8
STREAK = 9

_ARITY = {
    SIGNALS: 0,
    FIRST_BAR: 0,
    SMA_CROSS: 1,
    CROSS: 2,
    ABOVE_BELOW: 2,
    BAND: 3,
    LEVELS: 1,
    FLIP: 1,
    BREAKOUT: 3,
    STREAK: 1,
}


def read_only(array: np.ndarray) -> np.ndarray:
    """``array``, or a read-only view of it, for a compiled kernel.

    numba compiles a kernel once per argument type, and a writable array is another type than a
    read-only one (what pandas' copy-on-write hands out): a mix of both would compile the
    kernel again, about a minute for the backtest kernel.
    """
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


_EMPTY = read_only(np.empty(0, np.float64))


@dataclass(frozen=True, slots=True)
class Rule:
    """A built-in strategy's rule for the compiled paths.

    Attributes:
        kind: one of the kinds above.
        inputs: the frame columns the rule reads, in the kernel's order (a, b, c).
        params: up to two numbers (windows, levels).
    """

    kind: int
    inputs: tuple[str, ...] = ()
    params: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.inputs) != _ARITY[self.kind] or len(self.params) > 2:
            raise ValueError(f"rule kind {self.kind} takes {_ARITY[self.kind]} inputs")

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The input columns as contiguous float64 arrays (empty for unused slots)."""
        cols = [
            read_only(np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64)))
            for name in self.inputs
        ]
        cols += [_EMPTY] * (3 - len(cols))
        return cols[0], cols[1], cols[2]

    def numbers(self) -> tuple[float, float]:
        """The parameters padded to two floats."""
        padded = (*map(float, self.params), 0.0, 0.0)
        return padded[0], padded[1]


def rule_signals(rule: Rule, frame: pd.DataFrame) -> np.ndarray:
    """The rule's int8 signal per bar of ``frame`` (+1 BUY, -1 SELL, 0 none)."""
    from algotrader.strategies._kernels import rule_signals_kernel

    a, b, c = rule.arrays(frame)
    p0, p1 = rule.numbers()
    out: np.ndarray = rule_signals_kernel(rule.kind, len(frame), a, b, c, p0, p1)
    return out


class RuleStrategy(Strategy):
    """A strategy whose rule is also compiled: :meth:`rule_for` describes it, ``signals`` runs it.

    The backtest engine evaluates the rule inside its single pass over the bars for the built-in
    classes; ``on_bar`` stays the readable reference, which tests compare bar for bar.
    """

    def rule_for(self) -> Rule:
        """The compiled form of this strategy's rule with its current parameters."""
        raise NotImplementedError

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        """+1 BUY, -1 SELL, 0 none per bar of ``frame`` (int8), from the compiled rule."""
        return rule_signals(self.rule_for(), frame)
