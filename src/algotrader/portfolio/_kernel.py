"""Numba kernel: one shared cash account, target weights -> orders, fills and equity.

The engine walks the bars once over (bars x symbols) arrays with NaN for missing bars. On each bar:

1. (``fill="open"``) pending targets execute at the open of the symbols that have a bar;
2. every symbol with a bar marks its last traded close; others keep the previous one;
3. the schedule (or the drift rule) decides; precomputed targets are applied directly, otherwise
   the kernel returns to Python (status :data:`DECIDE`) and is resumed with the answer;
4. (``fill="close"``) pending targets execute at this close;
5. a symbol whose data ends here (before the panel's last bar) is sold at this close: delisted;
6. cash, equity and each holding's value are recorded.

Orders of one rebalance: the book is valued at the execution prices (a symbol without a bar at its
last close), each target weight becomes a share count (weight x equity / price), sells execute
first, then buys are scaled down together (one factor) to the cash left after sells and fees. A
target for a symbol without a bar stays pending until its next bar (or the next decision). A book
whose equity is not positive (only possible with margin or shorts) is closed out instead.
Memory: the inputs, the (bars x symbols) holding values and the fill records; nothing per trial.
"""

from __future__ import annotations

import math

import numba
import numpy as np

DONE = 0
DECIDE = 1
GROW = 2

RESUME_NONE = 0
RESUME_APPLY = 1
RESUME_SKIP = 2

NOT_SCHEDULED = -3
ASK = -1

_DUST = 1e-12  # relative size below which an order or a negative cash balance is float noise


@numba.njit(cache=True, error_model="numpy")
def _fee(qty: float, price: float, per_share: float, bps: float, minimum: float) -> float:
    if qty <= 0.0:
        return 0.0
    fee = qty * per_share + qty * price * bps * 1e-4
    return max(fee, minimum)


@numba.njit(cache=True, error_model="numpy")
def _buy_scale(
    price: np.ndarray, delta: np.ndarray, avail: float, slip: float, per_share: float,
    bps: float, minimum: float,
) -> float:
    # Largest s in [0, 1] with sum_j (s d_j xp_j + max(s d_j c_j, min)) <= avail. The cost is
    # continuous and increasing in s; start from the no-minimum root (an upper bound) and add the
    # orders whose fee is the minimum until that set stops growing: a monotone, finite descent.
    notional = 0.0
    prop = 0.0
    for j in range(delta.shape[0]):
        if delta[j] > 0.0:
            xp = price[j] * (1.0 + slip * 1e-4)
            notional += delta[j] * xp
            prop += delta[j] * (per_share + xp * bps * 1e-4)
    if notional <= 0.0:
        return 1.0
    s = avail / (notional + prop)
    for _ in range(delta.shape[0] + 1):
        fixed = 0.0
        prop = 0.0
        for j in range(delta.shape[0]):
            if delta[j] > 0.0:
                xp = price[j] * (1.0 + slip * 1e-4)
                c = delta[j] * (per_share + xp * bps * 1e-4)
                if s * c < minimum:
                    fixed += minimum
                else:
                    prop += c
        s_new = (avail - fixed) / (notional + prop)
        if s_new >= s:
            break
        s = s_new
    return min(max(s, 0.0), 1.0) * (1.0 - _DUST)


@numba.njit(cache=True, error_model="numpy")
def _record(
    t: int, j: int, side: int, q: float, xp: float, fee: float, fills: tuple, nf: int  # type: ignore[type-arg]
) -> int:
    f_bar, f_sym, f_side, f_qty, f_px, f_fee = fills
    f_bar[nf] = t
    f_sym[nf] = j
    f_side[nf] = side
    f_qty[nf] = q
    f_px[nf] = xp
    f_fee[nf] = fee
    return nf + 1


@numba.njit(cache=True, error_model="numpy")
def _trade(
    t: int, price: np.ndarray, book: tuple, costs: tuple, fills: tuple, nf: int  # type: ignore[type-arg]
) -> int:
    acct, qty, last_px, pending, _target, delta = book
    whole, per_share, bps, minimum, slip, margin = costs
    n = qty.shape[0]
    cash = acct[0]
    equity = cash
    for j in range(n):
        if qty[j] != 0.0:
            p = price[j] if math.isfinite(price[j]) else last_px[j]
            equity += qty[j] * p
    for j in range(n):
        delta[j] = 0.0
        if math.isnan(pending[j]) or not math.isfinite(price[j]):
            continue
        # A book worth nothing (possible with margin) can only be closed out.
        want = pending[j] * equity / price[j] if equity > 0.0 else 0.0
        if whole:
            want = float(math.trunc(want))
        pending[j] = np.nan
        acct[1] -= 1.0
        d = want - qty[j]
        if abs(d) * price[j] > _DUST * abs(equity):
            delta[j] = d
    for j in range(n):  # sells first: their cash funds the buys
        if delta[j] < 0.0:
            q = -delta[j]
            xp = price[j] * (1.0 - slip * 1e-4)
            fee = _fee(q, xp, per_share, bps, minimum)
            cash += q * xp - fee
            qty[j] -= q
            nf = _record(t, j, -1, q, xp, fee, fills, nf)
    need = 0.0
    for j in range(n):
        if delta[j] > 0.0:
            xp = price[j] * (1.0 + slip * 1e-4)
            need += delta[j] * xp + _fee(delta[j], xp, per_share, bps, minimum)
    avail = cash + (margin - 1.0) * equity
    scale = 1.0
    if need > avail:
        scale = _buy_scale(price, delta, avail, slip, per_share, bps, minimum)
    for j in range(n):
        if delta[j] > 0.0:
            q = delta[j] * scale
            if whole:
                q = float(math.floor(q))
            if q <= 0.0:
                continue
            xp = price[j] * (1.0 + slip * 1e-4)
            fee = _fee(q, xp, per_share, bps, minimum)
            cash -= q * xp + fee
            qty[j] += q
            nf = _record(t, j, 1, q, xp, fee, fills, nf)
    if margin == 1.0 and cash < 0.0 and cash > -_DUST * abs(equity):
        cash = 0.0
    acct[0] = cash
    return nf


@numba.njit(cache=True, error_model="numpy")
def _liquidate(
    t: int, j: int, price: float, book: tuple, costs: tuple, fills: tuple, nf: int  # type: ignore[type-arg]
) -> int:
    acct, qty, _last_px, _pending, _target, _delta = book
    _whole, per_share, bps, minimum, slip, _margin = costs
    q = abs(qty[j])
    side = -1 if qty[j] > 0.0 else 1
    xp = price * (1.0 + side * slip * 1e-4)
    fee = _fee(q, xp, per_share, bps, minimum)
    acct[0] += qty[j] * xp - fee
    qty[j] = 0.0
    return _record(t, j, side, q, xp, fee, fills, nf)


@numba.njit(cache=True, error_model="numpy")
def _drifted(book: tuple, threshold: float) -> bool:  # type: ignore[type-arg]
    acct, qty, last_px, _pending, target, _delta = book
    equity = acct[0]
    for j in range(qty.shape[0]):
        if qty[j] != 0.0:
            equity += qty[j] * last_px[j]
    if not equity > 0.0:
        return False
    for j in range(qty.shape[0]):
        weight = qty[j] * last_px[j] / equity if qty[j] != 0.0 else 0.0
        if abs(weight - target[j]) > threshold:
            return True
    return False


@numba.njit(cache=True, error_model="numpy")
def _apply(row: np.ndarray, book: tuple) -> None:  # type: ignore[type-arg]
    acct, qty, _last_px, pending, target, _delta = book
    for j in range(row.shape[0]):
        target[j] = row[j]
        if row[j] != 0.0 or qty[j] != 0.0:
            if math.isnan(pending[j]):
                acct[1] += 1.0
            pending[j] = row[j]
        elif not math.isnan(pending[j]):
            pending[j] = np.nan
            acct[1] -= 1.0


@numba.njit(cache=True, error_model="numpy")
def _close_bar(
    t: int, last: bool, close: np.ndarray, last_bar: np.ndarray, at_close: bool,
    book: tuple, costs: tuple, fills: tuple, nf: int,  # type: ignore[type-arg]
) -> int:
    # Orders at this close (fill="close"), then delistings: a symbol whose data ends here, before
    # the panel's last bar, is sold at this close (and never bought on it).
    acct, qty, _last_px, pending, _target, _delta = book
    n = qty.shape[0]
    if at_close and acct[1] > 0.0:
        if not last:
            for j in range(n):
                if last_bar[j] == t and not math.isnan(pending[j]):
                    pending[j] = 0.0
        nf = _trade(t, close, book, costs, fills, nf)
    if not last:
        for j in range(n):
            if last_bar[j] == t:
                if not math.isnan(pending[j]):
                    pending[j] = np.nan
                    acct[1] -= 1.0
                if qty[j] != 0.0:
                    nf = _liquidate(t, j, close[j], book, costs, fills, nf)
    return nf


@numba.njit(cache=True, error_model="numpy")
def advance(
    t: int,
    resume: int,
    open_: np.ndarray,
    close: np.ndarray,
    last_bar: np.ndarray,
    plan: np.ndarray,
    weights: np.ndarray,
    answer: np.ndarray,
    drift: float,
    at_close: bool,
    costs: tuple,  # type: ignore[type-arg]
    book: tuple,  # type: ignore[type-arg]
    equity: np.ndarray,
    cash: np.ndarray,
    value: np.ndarray,
    fills: tuple,  # type: ignore[type-arg]
    nf: int,
) -> tuple[int, int, int]:
    """Run bars ``t..`` until the end (:data:`DONE`), a decision Python must answer
    (:data:`DECIDE` at bar t; resume with ``resume`` = :data:`RESUME_APPLY` and ``answer`` filled,
    or :data:`RESUME_SKIP`), or fill buffers too small for one more bar (:data:`GROW`).

    ``plan[t]``: :data:`NOT_SCHEDULED`, :data:`ASK`, or the row of ``weights`` to apply.
    ``book`` = (acct [cash, pending count], qty, last_px, pending, target, scratch);
    ``costs`` = (whole_shares, per_share, bps, minimum, slippage_bps, margin).
    Returns ``(t, status, number of fills)``.
    """
    n_bars, n = close.shape
    acct, qty, last_px, _pending, _target, _delta = book
    capacity = fills[0].shape[0]
    while t < n_bars:
        if resume != RESUME_NONE:
            if resume == RESUME_APPLY:
                _apply(answer, book)
            resume = RESUME_NONE
        else:
            if nf + 2 * n > capacity:
                return t, GROW, nf
            if not at_close and acct[1] > 0.0:
                nf = _trade(t, open_[t], book, costs, fills, nf)
            for j in range(n):
                if not math.isnan(close[t, j]):
                    last_px[j] = close[t, j]
            row = plan[t]
            fire = row != NOT_SCHEDULED
            if not fire and drift > 0.0 and _drifted(book, drift):
                fire = True
                row = ASK
            if fire and row < 0:
                return t, DECIDE, nf
            if fire:
                _apply(weights[row], book)
        nf = _close_bar(t, t == n_bars - 1, close[t], last_bar, at_close, book, costs, fills, nf)
        total = acct[0]
        for j in range(n):
            v = qty[j] * last_px[j] if qty[j] != 0.0 else 0.0
            value[t, j] = v
            total += v
        equity[t] = total
        cash[t] = acct[0]
        t += 1
    return t, DONE, nf
