"""Round trips (flat -> position -> flat) per symbol from the fill records."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def round_trips(
    f_bar: np.ndarray, f_sym: np.ndarray, f_side: np.ndarray, f_qty: np.ndarray,
    f_px: np.ndarray, f_fee: np.ndarray, last_px: np.ndarray, last_bar: int,
) -> tuple[np.ndarray, ...]:
    """Walk the fills in order; a trade ends when its symbol's position is back to 0 (a fill
    through 0 closes one trade and opens the next, its commission split by quantity). Positions
    still open are marked to ``last_px`` without costs.

    Returns ``(symbol, entry_bar, exit_bar, side, max_qty, entry_qty, entry_value, exit_qty,
    exit_value, commission, open)`` arrays, one element per trade.
    """
    n_sym = last_px.shape[0]
    cap = f_bar.shape[0] + n_sym
    sym = np.empty(cap, np.int64)
    entry_bar = np.empty(cap, np.int64)
    exit_bar = np.empty(cap, np.int64)
    side = np.empty(cap, np.int64)
    max_qty = np.empty(cap)
    acc = np.zeros((cap, 5))  # entry qty, entry value, exit qty, exit value, commission
    is_open = np.zeros(cap, np.bool_)
    pos = np.zeros(n_sym)
    current = np.full(n_sym, -1, np.int64)
    k = 0
    for i in range(f_bar.shape[0]):
        j = f_sym[i]
        remaining = f_qty[i]
        while remaining > 0.0:
            if current[j] < 0:
                current[j] = k
                sym[k], entry_bar[k], side[k], max_qty[k] = j, f_bar[i], f_side[i], 0.0
                k += 1
            r = current[j]
            take = remaining if f_side[i] == side[r] else min(remaining, abs(pos[j]))
            col = 0 if f_side[i] == side[r] else 2
            acc[r, col] += take
            acc[r, col + 1] += take * f_px[i]
            acc[r, 4] += f_fee[i] * take / f_qty[i]
            pos[j] += f_side[i] * take
            max_qty[r] = max(max_qty[r], abs(pos[j]))
            remaining -= take
            if pos[j] == 0.0 or abs(pos[j]) <= 1e-12 * max_qty[r]:
                pos[j] = 0.0
                exit_bar[r] = f_bar[i]
                current[j] = -1
    for j in range(n_sym):
        r = current[j]
        if r >= 0:
            acc[r, 2] += abs(pos[j])
            acc[r, 3] += abs(pos[j]) * last_px[j]
            exit_bar[r] = last_bar
            is_open[r] = True
    return (
        sym[:k], entry_bar[:k], exit_bar[:k], side[:k], max_qty[:k], acc[:k, 0].copy(),
        acc[:k, 1].copy(), acc[:k, 2].copy(), acc[:k, 3].copy(), acc[:k, 4].copy(), is_open[:k],
    )
