"""Compiled signal rules: the built-in strategies' logic as one numba step per bar.

Each built-in strategy describes its rule as a :class:`Rule` (a kind, the frame columns it reads
and up to two numbers). :func:`rule_step` evaluates one bar of any rule; it is inlined both into
:func:`rule_signals` (the vectorised ``signals()`` of the built-ins) and into the backtest
kernel, which then computes signals, book, equity and statistics in a single pass without a
signal array. The Python ``on_bar`` of each built-in stays the readable reference; tests check
that all three agree bar for bar.

Every comparison with NaN is false, so warm-up bars never signal (as in ``on_bar``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from algotrader.strategies.base import Strategy

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
_EMPTY = np.empty(0, np.float64)


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
            np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64)) for name in self.inputs
        ]
        cols += [_EMPTY] * (3 - len(cols))
        return cols[0], cols[1], cols[2]

    def numbers(self) -> tuple[float, float]:
        """The parameters padded to two floats."""
        padded = (*map(float, self.params), 0.0, 0.0)
        return padded[0], padded[1]


@numba.njit(cache=True, inline="always")
def _sma_cross_step(t, x, old_fast, old_slow, fast_n, slow_n, sum_f, sum_s, prev_f, prev_s):  # type: ignore[no-untyped-def]
    # Running sums in the SMA kernel's order of operations, so the averages (and therefore the
    # crossings) equal sma() bit for bit.
    fast = np.nan
    slow = np.nan
    nf = int(fast_n)
    ns = int(slow_n)
    sum_f += x
    if t >= nf - 1:
        fast = sum_f / nf
        sum_f -= old_fast
    sum_s += x
    if t >= ns - 1:
        slow = sum_s / ns
        sum_s -= old_slow
    sig = 0
    if fast > slow and prev_f <= prev_s:
        sig = 1
    elif fast < slow and prev_f >= prev_s:
        sig = -1
    return sig, sum_f, sum_s, fast, slow


@numba.njit(cache=True, inline="always")
def rule_step(  # type: ignore[no-untyped-def]
    kind, t, sig_t, x0, x1, x2, old_fast, old_slow, p0, p1, s0, s1, s2, s3
):
    """The signal of bar ``t`` (+1, -1, 0) and the rule's updated state ``s0..s3``.

    ``x0, x1, x2`` are the rule's inputs at ``t``; ``sig_t`` the precomputed signal (SIGNALS);
    ``old_fast`` / ``old_slow`` the inputs leaving the SMA windows (``a[t - fast + 1]``...).
    Scalars only, so the bar loop that inlines it keeps everything in registers.
    """
    sig = 0
    if kind == SIGNALS:
        sig = sig_t
    elif kind == SMA_CROSS:
        sig, s0, s1, s2, s3 = _sma_cross_step(t, x0, old_fast, old_slow, p0, p1, s0, s1, s2, s3)
    elif kind == CROSS:
        if x0 > x1 and s0 <= s1:
            sig = 1
        elif x0 < x1 and s0 >= s1:
            sig = -1
        s0 = x0
        s1 = x1
    elif kind == ABOVE_BELOW:
        if x0 > x1:
            sig = 1
        elif x0 < x1:
            sig = -1
    elif kind == BAND:
        if x0 < x1:
            sig = 1
        elif x0 > x2:
            sig = -1
    elif kind == LEVELS:
        if x0 < p0:
            sig = 1
        elif x0 > p1:
            sig = -1
    elif kind == FLIP:
        if x0 > 0 and s0 < 0:
            sig = 1
        elif x0 < 0 and s0 > 0:
            sig = -1
        s0 = x0
    elif kind == BREAKOUT:
        if x0 < x2:
            sig = -1
        elif x0 > s0:
            sig = 1
        s0 = x1
    elif kind == STREAK:
        # s0: previous close, s1 / s2: lengths of the current runs of lower / higher closes.
        s1 = s1 + 1.0 if x0 < s0 else 0.0
        s2 = s2 + 1.0 if x0 > s0 else 0.0
        s0 = x0
        sig = 1 if s1 >= p0 else (-1 if s2 >= p1 else 0)
    elif kind == FIRST_BAR and t == 0:
        sig = 1
    return sig, s0, s1, s2, s3


@numba.njit(cache=True)
def _rule_signals(kind, n, a, b, c, p0, p1):  # type: ignore[no-untyped-def]
    out = np.zeros(n, np.int8)
    s0, s1, s2, s3 = initial_state(kind)
    lag_fast = int(p0) - 1 if kind == SMA_CROSS else 0
    lag_slow = int(p1) - 1 if kind == SMA_CROSS else 0
    has_a, has_b, has_c = a.shape[0] > 0, b.shape[0] > 0, c.shape[0] > 0
    for t in range(n):
        x0 = a[t] if has_a else 0.0
        old_fast = a[t - lag_fast] if has_a and t >= lag_fast else 0.0
        old_slow = a[t - lag_slow] if has_a and t >= lag_slow else 0.0
        sig, s0, s1, s2, s3 = rule_step(
            kind, t, 0, x0, b[t] if has_b else 0.0, c[t] if has_c else 0.0, old_fast, old_slow,
            p0, p1, s0, s1, s2, s3,
        )
        out[t] = sig
    return out


@numba.njit(cache=True, inline="always")
def initial_state(kind):  # type: ignore[no-untyped-def]
    """The state before the first bar (NaN "previous" values compare false)."""
    if kind == SMA_CROSS:
        return 0.0, 0.0, np.nan, np.nan
    if kind == STREAK:
        return np.nan, 0.0, 0.0, 0.0
    return np.nan, np.nan, np.nan, np.nan


def rule_signals(rule: Rule, frame: pd.DataFrame) -> np.ndarray:
    """The rule's int8 signal per bar of ``frame`` (+1 BUY, -1 SELL, 0 none)."""
    a, b, c = rule.arrays(frame)
    p0, p1 = rule.numbers()
    out: np.ndarray = _rule_signals(rule.kind, len(frame), a, b, c, p0, p1)
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
