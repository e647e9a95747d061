"""Numba kernels: signals -> orders -> fills -> equity, then the curve's statistics.

Every execution path ends here, so the accounting exists exactly once. :func:`run` simulates a
range of bars in one compiled pass: per bar it evaluates the signal (a built-in's compiled rule,
or the signal array ``on_bar`` / ``signals()`` produced), executes orders, checks exits and marks
equity, with no full-length temporaries beyond the equity and position curves. The state is
packed into a vector passed in and out, which is how the ``on_bar`` engine keeps a live portfolio
for seed-style strategies that read it; being the same compiled code, it gives the same numbers
to the last bit. The return, drawdown and exposure statistics are kept bar by bar: in the plain
loops' quiet stretches, where few values are live and a flat bar changes nothing (measured: about
a seventh faster than a second pass over the curve); the generic loop's bars get theirs in a
tight pass of their own (folded into that loop they made it slower than both passes). The plain
loops do not write the curves: each fill records the book it leaves, from which
:func:`fill_curves` draws them when they are read (a run read only for its metrics saves the
stores: measured, about a tenth of a million-bar run).

Order of events in a bar (documented in the README):

1. at the open: resting exits whose level the open gapped through fill at the open (stops first);
   then the order decided at the previous close (fill ``"open"``) executes: it moves the position
   the strategy saw when it decided to the target of its signal (a stop that already flattened
   the position is not re-entered by a "stay long" BUY);
2. during the bar: a resting limit entry fills if the range reaches it (at the open when it
   opened beyond the limit); then stop-loss / trailing stop (checked first: conservative) and
   take-profit against the low / high; a take-profit is not checked on the bar a limit entry
   filled (the high may have come before the fill); after the checks the trailing level follows
   the bar's high (low when short);
3. at the close: with fill ``"close"`` the bar's signal executes; equity is marked.

The order logic itself is in :mod:`algotrader.backtest._orders`.

A rule for the bar loops: an array passed into an inlined function costs an atomic reference
count increment and decrement per call unless numba can pair them up, which it does for a short
body such as :func:`_rule_at`'s but not around the order logic. So the order logic gets scalars
read in the loop, and the fill buffers go in only on a bar that filled (passing them on every
held bar made a million bars with a stop-loss take 108 ms instead of 15).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from algotrader.backtest import _orders
from algotrader.backtest._cache_guard import guard as _guard
from algotrader.backtest._orders import (
    NO_FILL,
    NO_ORDER,
    Book,
    Costs,
    affordable,
    at_open,
    commission,
    decide,
    intrabar_exits,
    limit_fill,
    move_to,
    new_book,
    with_order,
)
from algotrader.strategies import _kernels as _rule_kernels
from algotrader.strategies._kernels import crossing, initial_state, rule_step
from algotrader.strategies._rules import SIGNALS, SMA_CROSS

_MAX_FILLS_PER_BAR = 6  # a bar makes at most 3 fills; the buffers keep room for 6


class Stats(NamedTuple):
    """Running statistics of the equity curve (returns, drawdown, exposure) and buy & hold."""

    prev_equity: float
    sum_r: float
    down_sq: float
    sum_sq: float
    peak: float
    peak_bar: int
    worst: float
    worst_peak: int
    worst_peak_value: float
    trough: int
    recovery: int
    exposed: int
    bh_shares: float


@numba.njit(cache=True, error_model="numpy", inline="always")
def _record(fills, nf, t, f, b):  # type: ignore[no-untyped-def]
    # Fill f of bar t, and the book b once the events of its phase of the bar are done: the
    # last fill of a bar holds the book at its close, from which fill_curves draws the curves.
    if not f[2] > 0.0:
        return nf
    fills[0][nf] = t
    fills[1][nf] = f[0]
    fills[2][nf] = f[1]
    fills[3][nf] = f[2]
    fills[4][nf] = f[3]
    fills[5][nf] = f[4]
    fills[6][nf] = b.cash
    fills[7][nf] = b.pos * b.qty
    fills[8][nf] = b.pos
    return nf + 1


@numba.njit(cache=True, error_model="numpy", inline="always")
def _rule_at(  # type: ignore[no-untyped-def]
    t, kind, p0, p1, lag_fast, lag_slow, signals, a, bb, c, r0, r1, r2, r3
):
    # The rule reads scalars: this bar's inputs and, for SMA crossings, the values leaving each
    # window (a[t - fast + 1], a[t - slow + 1]).
    has_a = a.shape[0] > 0
    x0 = a[t] if has_a else 0.0
    old_fast = a[t - lag_fast] if has_a and t >= lag_fast else 0.0
    old_slow = a[t - lag_slow] if has_a and t >= lag_slow else 0.0
    return rule_step(
        kind, t, signals[t] if signals.shape[0] > 0 else 0, x0,
        bb[t] if bb.shape[0] > 0 else 0.0, c[t] if c.shape[0] > 0 else 0.0,
        old_fast, old_slow, p0, p1, r0, r1, r2, r3,
    )


@numba.njit(cache=True, error_model="numpy")
def _book_pass(  # type: ignore[no-untyped-def]
    t0, t1, b, rs, k, kind, p0, p1, signals, a, bb, c, open_, high, low, close, atr,
    equity, position, fills, nf,
):
    """Signals, orders, fills and equity for bars ``t0 .. t1-1``: ``(next bar, book, rule
    state, fills so far)``; stops early when the fill buffers might overflow. The inner loops
    (generic, or _sma_quiet) run quiet bars (nothing to execute, no signal) calling nothing, so
    their values stay in registers; the outer one handles bars with something to do. One loop
    with the calls inside runs about twice as slow."""
    cap = fills[0].shape[0] - _MAX_FILLS_PER_BAR
    has_atr = atr.shape[0] > 0
    has_exits = _has_exits(k)
    lag_fast, lag_slow, sma, warm = _sma_lags(kind, p0, p1)
    r0, r1, r2, r3 = rs
    t, sig, have_sig = t0, 0, False
    if nf > cap:
        return t, b, (r0, r1, r2, r3), nf
    while t < t1:
        if not have_sig:
            if b.order != NO_ORDER or b.pend_side != 0 or (has_exits and b.pos != 0):
                # Scalars in; the fill buffers only on a bar that filled (see the module docs).
                pc = close[t - 1] if t > 0 else np.nan
                pa = atr[t - 1] if has_atr and t > 0 else np.nan
                b, f1, f2, f3, f4 = _orders_in_bar(b, k, open_[t], high[t], low[t], pc, pa)
                if f1[2] > 0.0 or f2[2] > 0.0 or f3[2] > 0.0 or f4[2] > 0.0:
                    nf = _record_bar(fills, nf, t, f1, f2, f3, f4, b)
            sig, r0, r1, r2, r3 = _rule_at(
                t, kind, p0, p1, lag_fast, lag_slow, signals, a, bb, c, r0, r1, r2, r3
            )
        if sig != 0:
            b = decide(b, sig, k.allow_short)
            if k.fill_at_close and b.order != NO_ORDER:
                b, f5, f6 = _fill_at_close(b, k, close[t], atr[t] if has_atr else np.nan)
                nf = _record(fills, nf, t, f5, b)
                nf = _record(fills, nf, t, f6, b)
        equity[t] = b.cash + b.pos * b.qty * close[t]
        position[t] = b.pos
        t += 1
        have_sig = False
        if nf > cap:
            return t, b, (r0, r1, r2, r3), nf
        if b.order != NO_ORDER or b.pend_side != 0 or (has_exits and b.pos != 0):
            continue
        cash, qty, pos = b.cash, b.qty, b.pos
        if sma and t >= warm:
            t, sig, r0, r1, r2, r3, _ = _sma_quiet(
                t, t1, p0, p1, a, close, equity, position, cash, qty, pos, r0, r1, r2, r3,
                _NEW_STATS, 0.0, False,
            )
            have_sig = sig != 0
            continue
        # SMA rules leave the generic loop when the windows are full (outer loop, then _sma_quiet).
        end = min(t1, warm) if sma else t1
        while t < end:
            sig, r0, r1, r2, r3 = _rule_at(
                t, kind, p0, p1, lag_fast, lag_slow, signals, a, bb, c, r0, r1, r2, r3
            )
            if sig != 0:
                have_sig = True
                break
            equity[t] = cash + pos * qty * close[t]
            position[t] = pos
            t += 1
    return t1, b, (r0, r1, r2, r3), nf


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sma_lags(kind, p0, p1):  # type: ignore[no-untyped-def]
    # The SMA windows' lags (0 for other rules), whether the quiet bars past the warm-up can run
    # in _sma_quiet (no rule dispatch), and the first such bar.
    lag_fast = int(p0) - 1 if kind == SMA_CROSS else 0
    lag_slow = int(p1) - 1 if kind == SMA_CROSS else 0
    sma = kind == SMA_CROSS and lag_fast >= 0 and lag_slow >= 0
    return lag_fast, lag_slow, sma, max(lag_fast, lag_slow)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _record_bar(fills, nf, t, f1, f2, f3, f4, b):  # type: ignore[no-untyped-def]
    # The fills of bar t's open and intrabar events (_orders_in_bar).
    for f in (f1, f2, f3, f4):
        nf = _record(fills, nf, t, f, b)
    return nf


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sma_next(a, t, n_fast, n_slow, sum_f, sum_s):  # type: ignore[no-untyped-def]
    # _sma_cross_step's arithmetic in the same order (so the same crossings to the bit) for a
    # bar past the warm-up, without the rule-kind dispatch and the warm-up tests, which made the
    # generic loop about three times slower: (fast, slow, updated sums).
    x = a[t]
    sum_f += x
    fast = sum_f / n_fast
    sum_f -= a[t - n_fast + 1]
    sum_s += x
    slow = sum_s / n_slow
    sum_s -= a[t - n_slow + 1]
    return fast, slow, sum_f, sum_s


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sma_quiet(  # type: ignore[no-untyped-def]
    t, t1, p0, p1, a, close, equity, position, cash, qty, pos, sum_f, sum_s, prev_f, prev_s,
    st, rf, plain,
):
    # The quiet bars of an SMA crossing once both windows are full, up to the next crossing:
    # (bar, its signal, rule state, statistics). With ``plain`` (a constant at each call site,
    # so the compiled loop has no test of it) the bars' statistics are kept and the curves left
    # to fill_curves; else the curves are written.
    n_fast = int(p0)
    n_slow = int(p1)
    skip_flat = plain and _flat_is_unchanged(pos, cash, rf)
    while t < t1:
        fast, slow, sum_f, sum_s = _sma_next(a, t, n_fast, n_slow, sum_f, sum_s)
        sig = crossing(fast, slow, prev_f, prev_s)
        if sig != 0:
            return t, sig, sum_f, sum_s, fast, slow, st
        prev_f = fast
        prev_s = slow
        eq = cash + pos * qty * close[t]
        if not plain:
            equity[t] = eq
            position[t] = pos
        elif not (skip_flat and eq == st[0]):
            st = _stat(st, t, eq, pos, rf)
        t += 1
    return t, 0, sum_f, sum_s, prev_f, prev_s, st


# Under plain orders (:func:`_plain`) the only events are market orders at the open, so the two
# loops below carry the book (and the sums) in registers through the fills instead of leaving to
# the generic loop for each one (on 1M bars: -17 % for ma_cross, about -50 % for a signal
# array); the bars and the fills are those of :func:`_book_pass`. Each returns ``(next bar,
# book, rule state, fills)``. One loop for both, or the open's fills in a shared helper, made
# the SMA loop slower (measured).


@numba.njit(cache=True, error_model="numpy")
def _sma_plain_pass(  # type: ignore[no-untyped-def]
    t, t1, p0, p1, a, open_, close, atr, equity, position, b, k, rs, st,
    fills, nf,
):
    """Bars ``t .. t1-1`` of an SMA crossing past its warm-up, under plain orders."""
    cap = fills[0].shape[0] - _MAX_FILLS_PER_BAR
    has_atr = atr.shape[0] > 0
    rf = k.rf_per_bar
    sum_f, sum_s, prev_f, prev_s = rs
    while t < t1 and nf <= cap:
        if b.order != NO_ORDER:
            prev_atr = atr[t - 1] if has_atr and t > 0 else np.nan
            b, f1, f2 = at_open(b, open_[t], close[t - 1] if t > 0 else np.nan, prev_atr, k)
            nf = _record(fills, nf, t, f1, b)
            nf = _record(fills, nf, t, f2, b)
        # The rest of the bar, and the bars after it up to the next crossing.
        t, sig, sum_f, sum_s, prev_f, prev_s, st = _sma_quiet(
            t, t1, p0, p1, a, close, equity, position, b.cash, b.qty, b.pos,
            sum_f, sum_s, prev_f, prev_s, st, rf, True,
        )
        if t == t1:
            break
        b = decide(b, sig, k.allow_short)
        st = _stat(st, t, b.cash + b.pos * b.qty * close[t], b.pos, rf)
        t += 1
    return t, b, (sum_f, sum_s, prev_f, prev_s), st, nf


@numba.njit(cache=True, error_model="numpy")
def _signals_plain_pass(  # type: ignore[no-untyped-def]
    t, t1, signals, open_, close, atr, b, k, rs, st,
    fills, nf,
):
    """Bars ``t .. t1-1`` of a signal array, under plain orders."""
    cap = fills[0].shape[0] - _MAX_FILLS_PER_BAR
    has_atr = atr.shape[0] > 0
    rf = k.rf_per_bar
    skip_flat = _flat_is_unchanged(b.pos, b.cash, rf)
    while t < t1 and nf <= cap:
        if b.order != NO_ORDER:
            prev_atr = atr[t - 1] if has_atr and t > 0 else np.nan
            b, f1, f2 = at_open(b, open_[t], close[t - 1] if t > 0 else np.nan, prev_atr, k)
            nf = _record(fills, nf, t, f1, b)
            nf = _record(fills, nf, t, f2, b)
            skip_flat = _flat_is_unchanged(b.pos, b.cash, rf)
        # The rest of the bar, and the bars after it up to the next signal that moves the book.
        t, st = _signals_quiet(
            t, t1, signals, close, b.cash, b.qty, b.pos, k.allow_short, st, rf, skip_flat
        )
        if t == t1:
            break
        b = decide(b, signals[t], k.allow_short)
        eq = b.cash + b.pos * b.qty * close[t]
        if not (skip_flat and eq == st[0]):
            st = _stat(st, t, eq, b.pos, rf)
        t += 1
    return t, b, rs, st, nf


@numba.njit(cache=True, error_model="numpy", inline="always")
def _signals_quiet(  # type: ignore[no-untyped-def]
    t, t1, signals, close, cash, qty, pos, allow_short, st, rf, skip_flat
):
    # The bars of a signal array up to the next one that moves the position: (bar, statistics).
    while t < t1:
        s = signals[t]
        if s != 0 and (1 if s > 0 else (-1 if allow_short else 0)) != pos:
            break
        eq = cash + pos * qty * close[t]
        if not (skip_flat and eq == st[0]):
            st = _stat(st, t, eq, pos, rf)
        t += 1
    return t, st


@numba.njit(cache=True, error_model="numpy", inline="always")
def _has_exits(k):  # type: ignore[no-untyped-def]
    return not (
        math.isnan(k.stop_loss) and math.isnan(k.take_profit) and math.isnan(k.trailing_stop)
    )


@numba.njit(cache=True, error_model="numpy", inline="always")
def _plain(k):  # type: ignore[no-untyped-def]
    # Orders are market orders decided at the close and filled at the next open: nothing rests
    # (no stop, take-profit, trailing stop or limit entry), so quiet bars have no events.
    return not k.fill_at_close and math.isnan(k.limit_offset) and not _has_exits(k)


# The two functions below run on few bars. They are inlined since the quiet bars run in loops of
# their own: a call passed the book and the costs through memory, about a fifth of the cost of
# a bar with a fill (measured: -6 % for ma_cross, -20 % with stops on every held bar).


@numba.njit(cache=True, error_model="numpy", inline="always")
def _fill_at_close(b, k, close_t, atr_t):  # type: ignore[no-untyped-def]
    target = b.order
    return move_to(with_order(b, NO_ORDER), target, close_t, atr_t, k)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _orders_in_bar(b, k, o, high, low, prev_close, prev_atr):  # type: ignore[no-untyped-def]
    """The open and intrabar events of one bar (see the module docs): up to four fills."""
    b, f1, f2 = at_open(b, o, prev_close, prev_atr, k)
    f3 = NO_FILL
    if b.pend_side != 0:
        b, f3 = limit_fill(b, o, high, low, k)
    f4 = NO_FILL
    if b.pos != 0:
        b, f4 = intrabar_exits(b, high, low, not f3[2] > 0.0, k)
    return b, f1, f2, f3, f4


# The running statistics of an equity curve, one bar at a time: a tuple of (equity of the last
# bar, sum of returns, sum of squared downside excess returns, sum of squared returns, peak,
# peak bar, worst drawdown, its peak bar, its peak value, its trough bar, recovery bar (-1: not
# yet), bars in a position, level below which a bar may set a new worst drawdown). The order
# loops fold it into their quiet bars; :func:`curve_stats` runs it over a whole curve.
STATS_SIZE = 13


_NEW_STATS = (0.0, 0.0, 0.0, 0.0, -np.inf, 0, 0.0, 0, np.nan, 0, -1, 0, -np.inf)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _stat(st, t, eq, pos, rf):  # type: ignore[no-untyped-def]
    # Bar t of the curve: the arithmetic metrics._return_stats and metrics._drawdown define.
    prev, sum_r, down_sq, sum_sq, peak, peak_bar, worst, worst_peak, worst_value = st[:9]
    trough, recovery, exposed, floor = st[9:]
    if t > 0:
        r = eq / prev - 1.0
        sum_r += r
        sum_sq += r * r
        # A select, not a branch: the sign of a return is a coin flip, and a mispredicted
        # branch per bar costs more than the multiply-add (adding +0.0 changes nothing).
        e = r - rf
        below = e if e < 0.0 else 0.0
        down_sq += below * below
    if eq > peak:
        peak, peak_bar = eq, t
        floor = peak * (1.0 + worst) * (1.0 + 1e-9)
    # eq / peak - 1 is only needed near a new worst: above the floor (a relative margin much
    # wider than rounding) it cannot be one, so the division is skipped.
    if not eq > floor or not eq > 0.0:
        dd = eq / peak - 1.0
        if dd < worst:
            worst, worst_peak, worst_value, trough, recovery = dd, peak_bar, peak, t, -1
            floor = peak * (1.0 + worst) * (1.0 + 1e-9)
    if recovery < 0 and worst < 0.0 and eq >= worst_value and t != trough:
        recovery = t
    exposed += 1 if pos != 0 else 0
    return (eq, sum_r, down_sq, sum_sq, peak, peak_bar, worst, worst_peak, worst_value, trough,
            recovery, exposed, floor)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _flat_is_unchanged(pos, cash, rf):  # type: ignore[no-untyped-def]
    # Whether a flat bar whose equity equals the last bar's changes no statistic: its return is
    # exactly 0 (the equity is a finite non-zero cash), which adds nothing to the downside sum
    # when rf >= 0, and its drawdown and recovery tests repeat the last bar's.
    return pos == 0 and not 0.0 - rf < 0.0 and cash != 0.0 and math.isfinite(cash)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _stats_over(st, equity, position, rf, t0, t1):  # type: ignore[no-untyped-def]
    for t in range(t0, t1):
        st = _stat(st, t, equity[t], position[t], rf)
    return st


@numba.njit(cache=True, error_model="numpy", inline="always")
def _as_stats(st, n, bh_bar, bh_price, cash0):  # type: ignore[no-untyped-def]
    bh_shares = cash0 / bh_price if 0 <= bh_bar < n else 0.0
    return Stats(st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8], st[9], st[10],
                 st[11], bh_shares)


@numba.njit(cache=True, error_model="numpy")
def curve_stats(equity, position, rf, bh_bar, bh_price, cash0):  # type: ignore[no-untyped-def]
    """Return and drawdown statistics, exposure and buy & hold of a whole equity curve."""
    n = equity.shape[0]
    st = _stats_over(_NEW_STATS, equity, position, rf, 0, n)
    return _as_stats(st, n, bh_bar, bh_price, cash0)


@numba.njit(cache=True, error_model="numpy")
def packed_stats(state, n, bh_bar, bh_price, cash0):  # type: ignore[no-untyped-def]
    """The :class:`Stats` of a finished :func:`run` (its packed ``state``), as
    :func:`curve_stats` computes them from the curve."""
    _, _, st = _unpack(state)
    return _as_stats(st, n, bh_bar, bh_price, cash0)


def squared_deviations(stats: Stats, bars: int, equity: Callable[[], np.ndarray]) -> float:
    """The sum of squared deviations of the bar returns of an equity curve of ``bars`` values
    from their mean (the numerator of the sample variance); ``stats`` is :func:`curve_stats` of
    the same curve, which ``equity()`` returns when it is needed.

    From the running sums when that loses at most one bit, which is the usual case (a bar's mean
    return is tiny against its spread); else, for a curve that is nearly all trend, from a second
    pass over the curve (the two-pass form, accurate whatever the mean).
    """
    returns = bars - 1
    if returns < 2:
        return math.nan
    mean = stats.sum_r / returns
    one_pass = stats.sum_sq - stats.sum_r * mean
    if one_pass >= 0.5 * stats.sum_sq:
        return float(one_pass)
    return float(_deviations_pass(equity(), mean))


@numba.njit(cache=True, error_model="numpy")
def _deviations_pass(equity, mean):  # type: ignore[no-untyped-def]
    sq = 0.0
    for t in range(1, equity.shape[0]):
        r = equity[t] / equity[t - 1] - 1.0
        sq += (r - mean) * (r - mean)
    return sq


# --------------------------------------------------------------------------- single orders
# The all-in market-order arithmetic as two plain functions, for code that runs its own loop
# over the same book (the optimisation fast path): the same operations as the engine's default
# path (no sizing mode, no exits), so both agree to the last bit.


@numba.njit(cache=True, error_model="numpy")
def target_of(signal, allow_short, pos):  # type: ignore[no-untyped-def]
    """The position a signal asks for: BUY -> +1, SELL -> 0 (or -1 with shorts), none -> pos."""
    if signal > 0:
        return 1
    if signal < 0:
        return -1 if allow_short else 0
    return pos


@numba.njit(cache=True, error_model="numpy")
def rebalance(  # type: ignore[no-untyped-def]
    cash, qty, pos, target, price, whole_shares, per_share, bps, minimum, slippage_bps
):
    """Move an all-in book from ``pos`` to ``target`` at ``price`` (close first, then open).

    Returns ``(cash, qty, pos, exit_qty, exit_price, exit_fee, entry_qty, entry_price,
    entry_fee)``; a zero quantity means that leg did not trade.
    """
    exit_qty = 0.0
    exit_px = 0.0
    exit_fee = 0.0
    if pos != 0 and target != pos:
        exit_px = price * (1.0 + (-pos) * slippage_bps * 1e-4)
        exit_fee = commission(qty, exit_px, per_share, bps, minimum)
        cash = cash + (pos * qty * exit_px - exit_fee)
        exit_qty = qty
        qty = 0.0
        pos = 0
    entry_qty = 0.0
    entry_px = 0.0
    entry_fee = 0.0
    if target != 0 and target != pos:
        entry_px = price * (1.0 + target * slippage_bps * 1e-4)
        entry_qty = affordable(cash, entry_px, whole_shares, per_share, bps, minimum)
        if entry_qty > 0.0:
            entry_fee = commission(entry_qty, entry_px, per_share, bps, minimum)
            cash = cash - (target * entry_qty * entry_px + entry_fee)
            qty = entry_qty
            pos = target
        else:
            entry_qty = 0.0
    return cash, qty, pos, exit_qty, exit_px, exit_fee, entry_qty, entry_px, entry_fee


# Packed state: the book, the rule state and the curve statistics in one float64 vector, so
# Python can resume a simulation with a cheap call (typing a handful of arrays, not named tuples).
BOOK_SIZE = 13
RULE_SIZE = 4
STATE_SIZE = BOOK_SIZE + RULE_SIZE + STATS_SIZE


@numba.njit(cache=True, inline="always")
def _unpack(v):  # type: ignore[no-untyped-def]
    b = Book(v[0], v[1], int(v[2]), int(v[3]), v[4], v[5], v[6], v[7], v[8], int(v[9]), v[10],
             int(v[11]), v[12])
    o = BOOK_SIZE
    rs = (v[o], v[o + 1], v[o + 2], v[o + 3])
    o += RULE_SIZE
    st = (v[o], v[o + 1], v[o + 2], v[o + 3], v[o + 4], int(v[o + 5]), v[o + 6], int(v[o + 7]),
          v[o + 8], int(v[o + 9]), int(v[o + 10]), int(v[o + 11]), v[o + 12])
    return b, rs, st


@numba.njit(cache=True, inline="always")
def _pack(b, rs, st, v):  # type: ignore[no-untyped-def]
    v[0], v[1], v[2], v[3], v[4], v[5], v[6] = (
        b.cash, b.qty, b.pos, b.order, b.stop_px, b.take_px, b.trail_px)
    v[7], v[8], v[9], v[10], v[11], v[12] = (
        b.trail_dist, b.extreme, b.pend_side, b.pend_px, b.pend_left, b.pend_atr)
    o = BOOK_SIZE
    v[o], v[o + 1], v[o + 2], v[o + 3] = rs
    o += RULE_SIZE
    v[o], v[o + 1], v[o + 2], v[o + 3], v[o + 4], v[o + 5], v[o + 6] = st[:7]
    v[o + 7], v[o + 8], v[o + 9], v[o + 10], v[o + 11], v[o + 12] = st[7:]


@numba.njit(cache=True, inline="always")
def _costs(c):  # type: ignore[no-untyped-def]
    return Costs(c[0] != 0.0, c[1] != 0.0, c[2] != 0.0, c[3], c[4], c[5], c[6], c[7], int(c[8]),
                 c[9], c[10], c[11], c[12], c[13] != 0.0, c[14], int(c[15]), c[16])


@numba.njit(cache=True, error_model="numpy")
def run(  # type: ignore[no-untyped-def]
    t0, t1, state, costs, kind, p0, p1, signals, a, b, c, open_, high, low, close, atr,
    equity, position, fills, nf,
):
    """Simulate bars ``t0 .. t1-1`` from the packed ``state`` (updated in place).

    Returns ``(next bar, number of fills)``; the next bar is below ``t1`` when the fill buffers
    need to grow first.
    """
    book, rs, st = _unpack(state)
    k = _costs(costs)
    # Under plain orders a signal array, and an SMA crossing past its warm-up, run in a loop of
    # their own that also keeps the curve's statistics (the generic loop costs them a fifth
    # more, in calls and spills at each signal, if both share one function); the generic loop's
    # bars get theirs in a pass of their own.
    split = min(t1, max(t0, _first_plain_bar(k, kind, p0, p1)))
    t, book, rs, nf = _book_pass(
        t0, split, book, rs, k, kind, p0, p1, signals, a, b, c, open_, high, low,
        close, atr, equity, position, fills, nf,
    )
    st = _stats_over(st, equity, position, k.rf_per_bar, t0, t)
    if t == split < t1:
        if kind == SMA_CROSS:
            t, book, rs, st, nf = _sma_plain_pass(
                t, t1, p0, p1, a, open_, close, atr, equity, position, book, k, rs, st,
                fills, nf,
            )
        else:
            t, book, rs, st, nf = _signals_plain_pass(
                t, t1, signals, open_, close, atr, book, k, rs, st,
                fills, nf,
            )
    _pack(book, rs, st, state)
    return t, nf


_NEVER = 2**62


@numba.njit(cache=True, error_model="numpy", inline="always")
def _first_plain_bar(k, kind, p0, p1):  # type: ignore[no-untyped-def]
    if not _plain(k):
        return _NEVER
    if kind == SIGNALS:
        return 0
    _, _, sma, warm = _sma_lags(kind, p0, p1)
    return warm if sma else _NEVER


@numba.njit(cache=True, error_model="numpy")
def first_plain_bar(costs, kind, p0, p1):  # type: ignore[no-untyped-def]
    """The first bar :func:`run` leaves to the plain loops, which keep the statistics but not
    the curves (:func:`fill_curves` draws them when they are read); ``_NEVER`` when none."""
    return _first_plain_bar(_costs(costs), kind, p0, p1)


@numba.njit(cache=True, error_model="numpy")
def fill_curves(equity, position, start, close, fills, nf, cash0):  # type: ignore[no-untyped-def]
    """Bars ``start ..`` of the equity and position curves, from the book the last fill at or
    before each bar left (the book changes only with a fill): the arithmetic of the loops, so
    the same values to the bit."""
    bar, cash_after, held_after, pos_after = fills[0], fills[6], fills[7], fills[8]
    cash = cash0
    held = 0.0
    pos = 0
    j = 0
    for t in range(start, close.shape[0]):
        while j < nf and bar[j] <= t:
            cash, held, pos = cash_after[j], held_after[j], pos_after[j]
            j += 1
        equity[t] = cash + held * close[t]
        position[t] = pos


def compiled() -> bool:
    """Whether numba's on-disk cache holds :func:`run` for this source; when not, the first
    backtest of a process compiles it (about half a minute on a new install, once)."""
    try:
        # Entries for this source (numba checks its stamp); flushed or stale, the index is empty.
        return bool(run._cache._cache_file._load_index())  # type: ignore[attr-defined]
    except (AttributeError, OSError):  # another numba's internals: no claim either way
        return True


def pack_costs(k: Costs) -> np.ndarray:
    """``k`` as the float64 vector :func:`run` reads."""
    return np.array([float(x) for x in k], dtype=np.float64)


def new_state(cash: float, kind: int) -> np.ndarray:
    """The packed state before the first bar."""
    out = np.empty(STATE_SIZE, np.float64)
    out[:BOOK_SIZE] = new_book(cash)
    out[BOOK_SIZE : BOOK_SIZE + RULE_SIZE] = initial_state(kind)
    out[BOOK_SIZE + RULE_SIZE :] = _NEW_STATS
    return out


def unpack_book(state: np.ndarray) -> Book:
    """The book part of a packed state, for Python (the live portfolio)."""
    v = state.tolist()
    return Book(v[0], v[1], int(v[2]), int(v[3]), v[4], v[5], v[6], v[7], v[8], int(v[9]),
                v[10], int(v[11]), v[12])


# numba tracks only this file's changes; the order logic and the rules are compiled into it.
_guard(
    globals(),
    [_orders.__file__, _rule_kernels.__file__],
)
