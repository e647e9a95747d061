"""Numba order logic of the single-symbol book: sizing, entries, exits, stops, limit entries.

Every function here takes and returns scalars and named tuples only (no arrays), so after
inlining into the bar loop of :mod:`algotrader.backtest._kernel` the whole book lives in
registers. :func:`exit_all` and :func:`enter` are the exceptions, compiled once and called: they
run once per trade, and their inlined copies (at the open, the limit, the stops, the close)
made the kernel's first compile 2.4x longer (50 s against 21 s) and bought no measurable
speed. A function that may trade returns :data:`Fill` tuples ``(side, price, quantity,
commission, reason)``; a quantity of 0 means nothing traded, and the loop records the others.

Conventions (documented in the README, "Sizing and exits"):

* market and stop orders pay slippage; limit orders (take-profit, limit entries) fill at their
  price, or at the open when the bar opened beyond it;
* exit levels are set from the entry fill price (percent) or the ATR of the signal bar (atr);
* when a stop and the take-profit could both have triggered in one bar, the stop wins;
  an open beyond a level fills at the open; the trailing level moves after the bar's check.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

# Fill reasons (Result.fills "reason", Result.trades "exit_reason").
SIGNAL = 0
LIMIT = 1
STOP_LOSS = 2
TAKE_PROFIT = 3
TRAILING_STOP = 4

# Sizing modes, in BacktestConfig.sizing order.
ALL_IN = 0
PERCENT = 1
CASH = 2
SHARES = 3
VOLATILITY = 4

NO_ORDER = 2
"""``Book.order`` when the last close decided no change."""


class Costs(NamedTuple):
    """Order settings the kernel reads (see :class:`~algotrader.backtest.BacktestConfig`)."""

    fill_at_close: bool
    allow_short: bool
    whole_shares: bool
    cash0: float
    per_share: float
    bps: float
    minimum: float
    slippage_bps: float
    sizing: int
    size: float
    stop_loss: float
    take_profit: float
    trailing_stop: float
    exit_in_atr: bool
    limit_offset: float
    limit_bars: int
    rf_per_bar: float


class Book(NamedTuple):
    """The state carried from bar to bar.

    ``pos`` is -1, 0 or +1; ``order`` is the target decided at the last close (:data:`NO_ORDER`
    when the signal asked for no change); NaN levels are inactive; ``trail_dist`` is the fixed
    trailing distance in ATR mode; ``pend_*`` is a resting limit entry (side 0: none).
    """

    cash: float
    qty: float
    pos: int
    order: int
    stop_px: float
    take_px: float
    trail_px: float
    trail_dist: float
    extreme: float
    pend_side: int
    pend_px: float
    pend_left: int
    pend_atr: float


NO_FILL = (0, 0.0, 0.0, 0.0, 0)


def new_book(cash: float) -> Book:
    """A flat book holding ``cash``."""
    nan = np.nan
    return Book(cash, 0.0, 0, NO_ORDER, nan, nan, nan, nan, nan, 0, nan, 0, nan)


@numba.njit(cache=True, error_model="numpy", inline="always")
def commission(qty, price, per_share, bps, minimum):  # type: ignore[no-untyped-def]
    """Per-share plus basis-point commission, at least ``minimum`` (nothing for no trade)."""
    if qty <= 0.0:
        return 0.0
    fee = qty * per_share + qty * price * bps * 1e-4
    return max(fee, minimum)


@numba.njit(cache=True, error_model="numpy", inline="always")
def affordable(cash, exec_price, whole, per_share, bps, minimum):  # type: ignore[no-untyped-def]
    """The largest quantity whose notional plus commission fits in ``cash``."""
    if cash <= 0.0 or exec_price <= 0.0 or not math.isfinite(exec_price):
        return 0.0
    qty = cash / (exec_price + per_share + exec_price * bps * 1e-4)
    if qty * per_share + qty * exec_price * bps * 1e-4 < minimum:
        qty = (cash - minimum) / exec_price
    if whole:
        qty = math.floor(qty)
    return max(qty, 0.0)


@numba.njit(cache=True, error_model="numpy", inline="always")
def entry_qty(cash, exec_price, atr, k):  # type: ignore[no-untyped-def]
    """Quantity of a new entry under the sizing mode, capped at what the cash pays for."""
    whole, per_share, bps, minimum = k.whole_shares, k.per_share, k.bps, k.minimum
    if k.sizing == PERCENT:
        return affordable(k.size * cash, exec_price, whole, per_share, bps, minimum)
    if k.sizing == CASH:
        return affordable(min(k.size, cash), exec_price, whole, per_share, bps, minimum)
    cap = affordable(cash, exec_price, whole, per_share, bps, minimum)
    if k.sizing == SHARES:
        wanted = k.size
    elif k.sizing == VOLATILITY:
        wanted = k.size * cash / atr if atr > 0.0 else 0.0
    else:
        return cap
    if whole:
        wanted = math.floor(wanted)
    return min(wanted, cap)


@numba.njit(cache=True, error_model="numpy", inline="always")
def slipped(price, side, k):  # type: ignore[no-untyped-def]
    """``price`` moved against an order of ``side`` (+1 buys higher, -1 sells lower)."""
    return price * (1.0 + side * k.slippage_bps * 1e-4)


@numba.njit(cache=True, error_model="numpy", inline="always")
def with_order(b, order):  # type: ignore[no-untyped-def]
    return Book(b.cash, b.qty, b.pos, order, b.stop_px, b.take_px, b.trail_px, b.trail_dist,
                b.extreme, b.pend_side, b.pend_px, b.pend_left, b.pend_atr)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _without_limit(b):  # type: ignore[no-untyped-def]
    return Book(b.cash, b.qty, b.pos, b.order, b.stop_px, b.take_px, b.trail_px, b.trail_dist,
                b.extreme, 0, np.nan, 0, np.nan)


@numba.njit(cache=True, error_model="numpy")
def exit_all(b, price, why, k):  # type: ignore[no-untyped-def]
    """Close the whole position at ``price`` (already slipped for market and stop orders)."""
    fee = commission(b.qty, price, k.per_share, k.bps, k.minimum)
    cash = b.cash + (b.pos * b.qty * price - fee)
    nan = np.nan
    book = Book(cash, 0.0, 0, b.order, nan, nan, nan, nan, nan, b.pend_side, b.pend_px,
                b.pend_left, b.pend_atr)
    return book, (-b.pos, price, b.qty, fee, why)


@numba.njit(cache=True, error_model="numpy")
def enter(b, side, price, atr, why, k):  # type: ignore[no-untyped-def]
    """Open a ``side`` position at ``price`` (already slipped) and arm its exit levels."""
    # Exits in ATRs need the signal bar's ATR: no entry during its warm-up.
    qty = entry_qty(b.cash, price, atr, k) if atr > 0.0 or not k.exit_in_atr else 0.0
    if not qty > 0.0:
        return b, NO_FILL
    fee = commission(qty, price, k.per_share, k.bps, k.minimum)
    cash = b.cash - (side * qty * price + fee)
    unit = atr if k.exit_in_atr else price
    stop = price - side * k.stop_loss * unit
    take = price + side * k.take_profit * unit
    trail = price - side * k.trailing_stop * unit
    dist = k.trailing_stop * atr if k.exit_in_atr else np.nan
    book = Book(cash, qty, side, b.order, stop, take, trail, dist, price, 0, np.nan, 0, np.nan)
    return book, (side, price, qty, fee, why)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _stop_level(b):  # type: ignore[no-untyped-def]
    """The binding stop (the tighter of stop-loss and trailing stop) and its reason."""
    level, why = b.stop_px, STOP_LOSS
    tighter = math.isnan(level) or b.pos * (b.trail_px - level) > 0.0
    if not math.isnan(b.trail_px) and tighter:
        level, why = b.trail_px, TRAILING_STOP
    return level, why


@numba.njit(cache=True, error_model="numpy", inline="always")
def gap_exits(b, o, k):  # type: ignore[no-untyped-def]
    """Resting exits the open went through fill at the open (the stop first)."""
    level, why = _stop_level(b)
    if b.pos * (o - level) <= 0.0:
        return exit_all(b, slipped(o, -b.pos, k), why, k)
    if b.pos * (o - b.take_px) >= 0.0:
        return exit_all(b, o, TAKE_PROFIT, k)
    return b, NO_FILL


@numba.njit(cache=True, error_model="numpy", inline="always")
def intrabar_exits(b, high, low, check_take, k):  # type: ignore[no-untyped-def]
    """Stop (first) and take-profit against the bar's range, then the trailing update."""
    level, why = _stop_level(b)
    worst = low if b.pos > 0 else high
    best = high if b.pos > 0 else low
    if b.pos * (worst - level) <= 0.0:
        return exit_all(b, slipped(level, -b.pos, k), why, k)
    if check_take and b.pos * (best - b.take_px) >= 0.0:
        return exit_all(b, b.take_px, TAKE_PROFIT, k)
    if math.isnan(b.trail_px):
        return b, NO_FILL
    extreme = max(b.extreme, high) if b.pos > 0 else min(b.extreme, low)
    if k.exit_in_atr:
        trail = extreme - b.pos * b.trail_dist
    else:
        trail = extreme * (1.0 - b.pos * k.trailing_stop)
    if not b.pos * (trail - b.trail_px) > 0.0:
        trail = b.trail_px
    book = Book(b.cash, b.qty, b.pos, b.order, b.stop_px, b.take_px, trail, b.trail_dist,
                extreme, b.pend_side, b.pend_px, b.pend_left, b.pend_atr)
    return book, NO_FILL


@numba.njit(cache=True, error_model="numpy", inline="always")
def move_to(b, target, price, atr, k):  # type: ignore[no-untyped-def]
    """Market order from the current position to ``target`` at ``price``: exit, then entry."""
    out = NO_FILL
    if b.pos != 0 and target != b.pos:
        b, out = exit_all(b, slipped(price, -b.pos, k), SIGNAL, k)
    if target != 0 and target != b.pos:
        b, fill = enter(b, target, slipped(price, target, k), atr, SIGNAL, k)
        return b, out, fill
    return b, out, NO_FILL


@numba.njit(cache=True, error_model="numpy", inline="always")
def at_open(b, o, prev_close, prev_atr, k):  # type: ignore[no-untyped-def]
    """Gap exits, then the order decided at the previous close (market, or a resting limit)."""
    first = NO_FILL
    if b.pos != 0:
        b, first = gap_exits(b, o, k)
    target = b.order
    b = with_order(b, NO_ORDER)
    if target == NO_ORDER or target == b.pos:
        return b, first, NO_FILL
    if math.isnan(k.limit_offset) or target == 0:
        b, out, fill = move_to(b, target, o, prev_atr, k)
        return b, (out if out[2] > 0.0 else first), fill
    b, out, _ = move_to(b, 0, o, prev_atr, k)
    if b.pend_side == 0:
        price = prev_close * (1.0 - target * k.limit_offset)
        b = Book(b.cash, b.qty, b.pos, b.order, b.stop_px, b.take_px, b.trail_px, b.trail_dist,
                 b.extreme, target, price, k.limit_bars, prev_atr)
    return b, (out if out[2] > 0.0 else first), NO_FILL


@numba.njit(cache=True, error_model="numpy", inline="always")
def limit_fill(b, o, high, low, k):  # type: ignore[no-untyped-def]
    """A resting limit entry fills when the range reaches it; expires after its bars."""
    side = b.pend_side
    reach = low if side > 0 else high
    if side * (b.pend_px - reach) >= 0.0:
        price = min(o, b.pend_px) if side > 0 else max(o, b.pend_px)
        return enter(_without_limit(b), side, price, b.pend_atr, LIMIT, k)
    left = b.pend_left - 1
    if left > 0:
        book = Book(b.cash, b.qty, b.pos, b.order, b.stop_px, b.take_px, b.trail_px,
                    b.trail_dist, b.extreme, side, b.pend_px, left, b.pend_atr)
        return book, NO_FILL
    return _without_limit(b), NO_FILL


@numba.njit(cache=True, error_model="numpy", inline="always")
def decide(b, sig, allow_short):  # type: ignore[no-untyped-def]
    """The order a signal on this bar's close asks for; a signal against a resting limit entry
    cancels it."""
    target = b.pos
    if sig > 0:
        target = 1
    elif sig < 0:
        target = -1 if allow_short else 0
    order = target if target != b.pos else NO_ORDER
    if sig != 0 and b.pend_side != 0 and target != b.pend_side:
        return with_order(_without_limit(b), order)
    return with_order(b, order)
