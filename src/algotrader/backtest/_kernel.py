"""Numba kernels: orders, positions, fills and equity from a per-bar signal array.

Both execution paths end here, so the accounting arithmetic exists exactly once. The order helpers
(:func:`rebalance`, :func:`target_of`) are also called from Python by the ``on_bar`` engine to
keep a live :class:`~algotrader.backtest.engine.Portfolio` for strategies that look at it; being
the same compiled functions, they give the same numbers to the last bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def _commission(qty: float, price: float, per_share: float, bps: float, minimum: float) -> float:
    if qty <= 0.0:
        return 0.0
    fee = qty * per_share + qty * price * bps * 1e-4
    return max(fee, minimum)


@numba.njit(cache=True, error_model="numpy")
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


@numba.njit(cache=True, error_model="numpy")
def close_order(
    qty: float,
    side: int,
    price: float,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
) -> tuple[float, float]:
    """Price the exit of a ``side`` position of ``qty`` shares: ``(exec price, commission)``."""
    exec_price = price * (1.0 - side * slippage_bps * 1e-4)
    return exec_price, _commission(qty, exec_price, per_share, bps, minimum)


@numba.njit(cache=True, error_model="numpy")
def rebalance(
    cash: float,
    qty: float,
    pos: int,
    target: int,
    price: float,
    whole_shares: bool,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
) -> tuple[float, float, int, float, float, float, float, float, float]:
    """Move the book from ``pos`` to ``target`` at ``price`` (close first, then open).

    Returns ``(cash, qty, pos, exit_qty, exit_price, exit_fee, entry_qty, entry_price,
    entry_fee)``; a zero quantity means that leg did not trade (nothing to close, or not even
    one whole share affordable).
    """
    exit_qty = 0.0
    exit_px = 0.0
    exit_fee = 0.0
    if pos != 0 and target != pos:
        exit_px, exit_fee = close_order(qty, pos, price, per_share, bps, minimum, slippage_bps)
        cash += pos * qty * exit_px - exit_fee
        exit_qty = qty
        qty = 0.0
        pos = 0
    entry_qty = 0.0
    entry_px = 0.0
    entry_fee = 0.0
    if target != 0 and target != pos:
        entry_qty, entry_px, entry_fee = open_order(
            cash, target, price, whole_shares, per_share, bps, minimum, slippage_bps
        )
        if entry_qty > 0.0:
            cash -= target * entry_qty * entry_px + entry_fee
            qty = entry_qty
            pos = target
    return cash, qty, pos, exit_qty, exit_px, exit_fee, entry_qty, entry_px, entry_fee


@numba.njit(cache=True, error_model="numpy")
def target_of(signal: int, allow_short: bool, pos: int) -> int:
    """The position a signal asks for: BUY -> +1, SELL -> 0 (or -1 with shorts), none -> pos."""
    if signal > 0:
        return 1
    if signal < 0:
        return -1 if allow_short else 0
    return pos


@numba.njit(cache=True, error_model="numpy")
def _book(
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
    equity: np.ndarray,
    position: np.ndarray,
    f_bar: np.ndarray,
    f_side: np.ndarray,
    f_price: np.ndarray,
    f_qty: np.ndarray,
    f_comm: np.ndarray,
    record: bool,
) -> int:
    nf = 0
    cash = cash0
    qty = 0.0
    pos = 0
    for t in range(close.shape[0]):
        if fill_at_close:
            sig = signals[t]
            price = close[t]
        else:
            sig = signals[t - 1] if t > 0 else 0
            price = open_[t]
        if sig != 0:
            target = target_of(sig, allow_short, pos)
            if target != pos:
                old = pos
                cash, qty, pos, xq, xp, xf, eq, ep, ef = rebalance(
                    cash, qty, pos, target, price, whole_shares, per_share, bps, minimum,
                    slippage_bps,
                )
                if xq > 0.0:
                    if record:
                        f_bar[nf] = t
                        f_side[nf] = -old
                        f_price[nf] = xp
                        f_qty[nf] = xq
                        f_comm[nf] = xf
                    nf += 1
                if eq > 0.0:
                    if record:
                        f_bar[nf] = t
                        f_side[nf] = pos
                        f_price[nf] = ep
                        f_qty[nf] = eq
                        f_comm[nf] = ef
                    nf += 1
        equity[t] = cash + pos * qty * close[t]
        position[t] = pos
    return nf


@numba.njit(cache=True, error_model="numpy")
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

    A signal on bar ``t`` (+1 BUY, -1 SELL, 0 none) sets the target position (see
    :func:`target_of`) and executes at ``open_[t+1]`` or, with ``fill_at_close``, at ``close[t]``;
    a signal on the last bar with next-open fills never executes.

    Returns ``(equity, position, fill_bar, fill_side, fill_price, fill_qty, fill_commission)``:
    equity and position (-1/0/+1) at each bar's close, then one row per fill, where ``fill_side`` is
    +1 for a buy and -1 for a sell.
    """
    n = close.shape[0]
    equity = np.empty(n, np.float64)
    position = np.zeros(n, np.int8)
    # Two passes (count, then record) keep the hot loop free of growable arrays, which numba
    # would otherwise reference-count on every bar (50x slower); each pass costs ~1 ms per 1M bars.
    nf = 0
    for record in (False, True):
        f_bar = np.empty(nf, np.int64)
        f_side = np.empty(nf, np.int8)
        f_price = np.empty(nf, np.float64)
        f_qty = np.empty(nf, np.float64)
        f_comm = np.empty(nf, np.float64)
        nf = _book(
            open_, close, signals, fill_at_close, allow_short, whole_shares, cash0, per_share,
            bps, minimum, slippage_bps, equity, position, f_bar, f_side, f_price, f_qty, f_comm,
            record,
        )
    return equity, position, f_bar, f_side, f_price, f_qty, f_comm
