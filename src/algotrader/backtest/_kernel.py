"""Numba kernels: orders, positions, fills and equity from a per-bar signal array.

Both execution paths end here, so the accounting arithmetic exists exactly once. The order helpers
(:func:`open_order`, :func:`close_order`) are also called from Python by the ``on_bar`` engine to
keep a live :class:`~algotrader.backtest.engine.Portfolio` for strategies that look at it; being
the same compiled functions, they give the same numbers to the last bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Fill arrays grow by doubling; most backtests trade rarely, so start small.
_INITIAL_FILL_CAPACITY = 64


@numba.njit(cache=True)
def _commission(qty: float, price: float, per_share: float, bps: float, minimum: float) -> float:
    if qty <= 0.0:
        return 0.0
    fee = qty * per_share + qty * price * bps * 1e-4
    return max(fee, minimum)


@numba.njit(cache=True)
def open_order(
    cash: float,
    side: int,
    price: float,
    whole_shares: bool,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
) -> tuple[float, float, float]:
    """Size an all-in entry: ``(quantity, execution price, commission)``; quantity 0 = no order.

    The quantity is the largest one whose notional plus commission fits in ``cash``; slippage
    moves the price against the trade (up for a buy, down for a short sale).
    """
    exec_price = price * (1.0 + side * slippage_bps * 1e-4)
    if cash <= 0.0 or exec_price <= 0.0 or not math.isfinite(exec_price):
        return 0.0, exec_price, 0.0
    qty = cash / (exec_price + per_share + exec_price * bps * 1e-4)
    if qty * per_share + qty * exec_price * bps * 1e-4 < minimum:
        qty = (cash - minimum) / exec_price
    if whole_shares:
        qty = math.floor(qty)
    if qty <= 0.0:
        return 0.0, exec_price, 0.0
    return qty, exec_price, _commission(qty, exec_price, per_share, bps, minimum)


@numba.njit(cache=True)
def close_order(
    qty: float,
    side: int,
    price: float,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
) -> tuple[float, float]:
    """Price the exit of a ``side`` position of ``qty`` shares: ``(execution price, commission)``."""
    exec_price = price * (1.0 - side * slippage_bps * 1e-4)
    return exec_price, _commission(qty, exec_price, per_share, bps, minimum)


@numba.njit(cache=True)
def _grow(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[0] * 2, a.dtype)
    out[: a.shape[0]] = a
    return out


@numba.njit(cache=True)
def simulate(
    open_: np.ndarray,
    close: np.ndarray,
    signals: np.ndarray,
    fill_at_close: bool,
    allow_short: bool,
    whole_shares: bool,
    cash0: float,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the book over all bars.

    A signal on bar ``t`` (+1 BUY, -1 SELL, 0 none) sets the target position (+1 long; 0 flat, or
    -1 short when ``allow_short``) and executes at ``open_[t+1]`` or, with ``fill_at_close``, at
    ``close[t]``; a target that needs no change is ignored. Reversals close first, then open.

    Returns ``(equity, position, fill_bar, fill_side, fill_price, fill_qty, fill_commission)``:
    equity and position (-1/0/+1) at each bar's close, then one row per fill, where ``fill_side`` is
    +1 for a buy and -1 for a sell.
    """
    n = close.shape[0]
    equity = np.empty(n, np.float64)
    position = np.zeros(n, np.int8)
    cap = _INITIAL_FILL_CAPACITY
    f_bar = np.empty(cap, np.int64)
    f_side = np.empty(cap, np.int8)
    f_price = np.empty(cap, np.float64)
    f_qty = np.empty(cap, np.float64)
    f_comm = np.empty(cap, np.float64)
    nf = 0

    cash = cash0
    qty = 0.0
    pos = 0
    pending = 0  # target carried from the previous bar's signal (next-open fills)
    for t in range(n):
        for stage in range(2):
            # Stage 0 = this bar's open (yesterday's signal); stage 1 = this bar's close.
            if stage == 0:
                if fill_at_close or pending == 0:
                    continue
                sig = pending
                price = open_[t]
            else:
                if not fill_at_close:
                    break
                sig = signals[t]
                price = close[t]
                if sig == 0:
                    break
            if sig > 0:
                target = 1
            elif allow_short:
                target = -1
            else:
                target = 0
            if target == pos:
                continue
            if nf + 2 > f_bar.shape[0]:
                f_bar = _grow(f_bar)
                f_side = _grow(f_side)
                f_price = _grow(f_price)
                f_qty = _grow(f_qty)
                f_comm = _grow(f_comm)
            if pos != 0:
                px, fee = close_order(qty, pos, price, per_share, bps, minimum, slippage_bps)
                cash += pos * qty * px - fee
                f_bar[nf] = t
                f_side[nf] = -pos
                f_price[nf] = px
                f_qty[nf] = qty
                f_comm[nf] = fee
                nf += 1
                qty = 0.0
                pos = 0
            if target != 0:
                q, px, fee = open_order(
                    cash, target, price, whole_shares, per_share, bps, minimum, slippage_bps
                )
                if q > 0.0:
                    cash -= target * q * px + fee
                    f_bar[nf] = t
                    f_side[nf] = target
                    f_price[nf] = px
                    f_qty[nf] = q
                    f_comm[nf] = fee
                    nf += 1
                    qty = q
                    pos = target
        if not fill_at_close:
            pending = signals[t]
        equity[t] = cash + pos * qty * close[t]
        position[t] = pos
    return (
        equity,
        position,
        f_bar[:nf].copy(),
        f_side[:nf].copy(),
        f_price[:nf].copy(),
        f_qty[:nf].copy(),
        f_comm[:nf].copy(),
    )
