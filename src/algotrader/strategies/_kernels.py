"""The built-in strategies' compiled (numba) code, kept apart so listing strategies stays fast.

Importing numba and loading cached machine code costs about half a second; only running a
strategy needs it, never naming or listing one.
"""

from __future__ import annotations

import numba
import numpy as np

from algotrader.strategies._rules import (
    ABOVE_BELOW,
    BAND,
    BREAKOUT,
    CROSS,
    FIRST_BAR,
    FLIP,
    LEVELS,
    SIGNALS,
    SMA_CROSS,
    STREAK,
)


@numba.njit(cache=True)
def crossings(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+1 where ``a`` crosses above ``b`` (a > b now, a <= b on the previous bar), -1 for below.

    A nan on either bar never counts as a crossing (every comparison with nan is false). One fused
    pass: the array version allocated eight temporaries per call.
    """
    n = a.shape[0]
    out = np.zeros(n, np.int8)
    for t in range(1, n):
        if a[t] > b[t] and a[t - 1] <= b[t - 1]:
            out[t] = 1
        elif a[t] < b[t] and a[t - 1] >= b[t - 1]:
            out[t] = -1
    return out


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
    return crossing(fast, slow, prev_f, prev_s), sum_f, sum_s, fast, slow


@numba.njit(cache=True, inline="always")
def crossing(x, y, prev_x, prev_y):  # type: ignore[no-untyped-def]
    """+1 when ``x`` crosses above ``y`` on this bar, -1 when below, else 0 (a NaN never
    crosses)."""
    if x > y and prev_x <= prev_y:
        return 1
    if x < y and prev_x >= prev_y:
        return -1
    return 0


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
        sig = crossing(x0, x1, s0, s1)
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
def rule_signals_kernel(kind, n, a, b, c, p0, p1):  # type: ignore[no-untyped-def]
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
            kind,
            t,
            0,
            x0,
            b[t] if has_b else 0.0,
            c[t] if has_c else 0.0,
            old_fast,
            old_slow,
            p0,
            p1,
            s0,
            s1,
            s2,
            s3,
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
