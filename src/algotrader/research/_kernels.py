"""Compiled kernels of the optimisation fast path.

One call evaluates a whole chunk of grid points: for each point it derives the signals, runs the
book and computes the per-point statistics, without building a single pandas object. The order
arithmetic is the engine's own compiled :func:`~algotrader.backtest._kernel.rebalance` /
``target_of`` and the MA signal rule the strategy's own ``crossings``; the bar loop is the engine's
``_book`` fused with the metrics module's ``_return_stats`` / ``_drawdown`` (one pass instead of
four), written with the same operations in the same order. ``tests/research/test_fastpath.py``
checks every metric, every trade P&L, the final equity and the returns against
:func:`~algotrader.backtest.engine.run_backtest` to the bit, so a change to either definition
cannot go unnoticed.
"""

from __future__ import annotations

import numba
import numpy as np

from algotrader.backtest._kernel import rebalance, target_of
from algotrader.strategies._kernels import crossings

# Columns of the per-point statistics matrix.
S_FINAL, S_MEAN, S_STD, S_DOWN, S_DD, S_PEAK, S_END, S_TRADES, S_EXPOSED, S_BH_FINAL = range(10)
N_STATS = 10


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _reserve(
    pnl: np.ndarray, bars: np.ndarray, used: int, sig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Room for the trades of one more point: at most one per non-zero signal.

    Growing here, outside the bar loop, keeps that loop free of array reassignments (numba would
    reference-count them on every bar: several times slower).
    """
    need = used + np.count_nonzero(sig)
    if need <= pnl.shape[0]:
        return pnl, bars
    size = max(need, 2 * pnl.shape[0])
    new_pnl = np.empty(size, np.float64)
    new_bars = np.empty((size, 2), np.int64)
    new_pnl[:used] = pnl[:used]
    new_bars[:used] = bars[:used]
    return new_pnl, new_bars


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _trade(
    cash: float, qty: float, pos: int, target: int, price: float, whole_shares: bool,
    per_share: float, bps: float, minimum: float, slippage_bps: float,
    pnl: np.ndarray, bars: np.ndarray, used: int, t: int, entry: np.ndarray,
) -> tuple[float, float, int, int]:
    """One :func:`rebalance`; a closed round trip's P&L is ``side*qty*(exit-entry)`` minus both
    commissions, as the engine's trade table computes it. ``entry`` holds the open position's
    (side, quantity, price, commission, bar)."""
    cash, qty, pos, xq, xp, xf, eq, ep, ef = rebalance(
        cash, qty, pos, target, price, whole_shares, per_share, bps, minimum, slippage_bps
    )
    if xq > 0.0:
        pnl[used] = int(entry[0]) * entry[1] * (xp - entry[2]) - (entry[3] + xf)
        bars[used, 0] = int(entry[4])
        bars[used, 1] = t
        used += 1
    if eq > 0.0:
        entry[0], entry[1], entry[2], entry[3], entry[4] = pos, eq, ep, ef, t
    return cash, qty, pos, used


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _simulate(
    open_: np.ndarray, close: np.ndarray, sig: np.ndarray, fill_at_close: bool,
    allow_short: bool, whole_shares: bool, cash0: float, per_share: float, bps: float,
    minimum: float, slippage_bps: float, rf: float, equity: np.ndarray, pnl: np.ndarray,
    bars: np.ndarray, used: int, stats: np.ndarray,
) -> tuple[int, int]:
    """The engine's bar loop fused with the return and drawdown statistics of the metrics module.

    Per bar: the fill rule and :func:`rebalance` exactly as ``_kernel._book``, the equity at the
    close, the running sums of bar returns and of their squares (``_kernel.curve_stats``) and
    the running peak and deepest drawdown (``_drawdown``), in the same order of operations as
    those functions, so the numbers are the same to the bit. Trade P&Ls go into ``pnl``/``bars``
    from ``used`` on (room reserved by :func:`_reserve`); an open position at the end is marked
    to the last close without exit costs. Fills ``stats``; returns ``(used, bars_in_position)``.
    """
    n = close.shape[0]
    cash, qty, pos, exposed = cash0, 0.0, 0, 0
    entry = np.zeros(5)
    total, total_sq, peak_value, peak_bar, worst, worst_peak, trough = 0.0, 0.0, 0.0, 0, 0.0, 0, 0
    for t in range(n):
        s = sig[t] if fill_at_close else (sig[t - 1] if t > 0 else 0)
        if s != 0:
            target = target_of(s, allow_short, pos)
            if target != pos:
                price = close[t] if fill_at_close else open_[t]
                cash, qty, pos, used = _trade(
                    cash, qty, pos, target, price, whole_shares, per_share, bps, minimum,
                    slippage_bps, pnl, bars, used, t, entry,
                )
        value = cash + pos * qty * close[t]
        equity[t] = value
        if pos != 0:
            exposed += 1
        if t == 0:
            peak_value = value
        else:
            r = value / equity[t - 1] - 1.0
            total += r
            total_sq += r * r
        if value > peak_value:
            peak_value, peak_bar = value, t
        dd = value / peak_value - 1.0
        if dd < worst:
            worst, worst_peak, trough = dd, peak_bar, t
    if pos != 0:
        pnl[used] = int(entry[0]) * entry[1] * (close[n - 1] - entry[2]) - (entry[3] + 0.0)
        bars[used, 0], bars[used, 1] = int(entry[4]), n - 1
        used += 1
    _finish_stats(equity, rf, total, total_sq, worst, worst_peak, trough, stats)
    return used, exposed


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _finish_stats(
    equity: np.ndarray,
    rf: float,
    total: float,
    total_sq: float,
    worst: float,
    worst_peak: int,
    trough: int,
    stats: np.ndarray,
) -> None:
    # _kernel.squared_deviations, the downside deviation and _drawdown's recovery scan, with
    # the same arithmetic.
    n = equity.shape[0] - 1
    stats[S_FINAL] = equity[equity.shape[0] - 1]
    if n < 1:
        stats[S_MEAN] = np.nan
        stats[S_STD] = np.nan
        stats[S_DOWN] = np.nan
    else:
        mean = total / n
        sq = total_sq - total * mean
        two_pass = not sq >= 0.5 * total_sq
        if two_pass:
            sq = 0.0
        down = 0.0
        for t in range(1, n + 1):
            r = equity[t] / equity[t - 1] - 1.0
            if two_pass:
                sq += (r - mean) * (r - mean)
            e = r - rf
            if e < 0.0:
                down += e * e
        stats[S_MEAN] = mean
        stats[S_STD] = np.sqrt(sq / (n - 1)) if n > 1 else np.nan
        stats[S_DOWN] = np.sqrt(down / n)
    if not worst < 0.0:
        stats[S_DD] = 0.0
        stats[S_PEAK] = trough
        stats[S_END] = trough
        return
    end = equity.shape[0] - 1
    for t in range(trough, equity.shape[0]):
        if equity[t] >= equity[worst_peak]:
            end = t
            break
    stats[S_DD] = worst
    stats[S_PEAK] = worst_peak
    stats[S_END] = end


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _period_returns(equity: np.ndarray, ends: np.ndarray, returns: np.ndarray) -> None:
    for k in range(1, ends.shape[0]):
        returns[k - 1] = np.float32(equity[ends[k]] / equity[ends[k - 1]] - 1.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _buy_hold_final(
    open_: np.ndarray, close: np.ndarray, fill_at_close: bool, cash0: float
) -> float:
    # The engine's buy & hold: all in at the first fill the window allows (the first bar's
    # close, or the second bar's open), the same for every strategy.
    n = close.shape[0]
    bar = 0 if fill_at_close else 1
    if bar >= n:
        return cash0
    price = close[bar] if fill_at_close else open_[bar]
    return cash0 / price * close[n - 1]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def evaluate_signals(
    open_: np.ndarray,
    close: np.ndarray,
    sig: np.ndarray,
    fill_at_close: bool,
    allow_short: bool,
    whole_shares: bool,
    cash0: float,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
    rf: float,
    ends: np.ndarray,
    stats: np.ndarray,
    returns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One point from its signal array: fills ``stats``/``returns``; returns (pnl, trade bars)."""
    equity = np.empty(close.shape[0], np.float64)
    pnl, bars = _reserve(np.empty(0, np.float64), np.empty((0, 2), np.int64), 0, sig)
    used, exposed = _simulate(
        open_, close, sig, fill_at_close, allow_short, whole_shares, cash0, per_share, bps,
        minimum, slippage_bps, rf, equity, pnl, bars, 0, stats,
    )
    _period_returns(equity, ends, returns)
    stats[S_TRADES] = used
    stats[S_EXPOSED] = exposed
    stats[S_BH_FINAL] = _buy_hold_final(open_, close, fill_at_close, cash0)
    return pnl[:used].copy(), bars[:used].copy()


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ma_cross_grid(
    open_: np.ndarray,
    close: np.ndarray,
    averages: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    fill_at_close: bool,
    allow_short: bool,
    whole_shares: bool,
    cash0: float,
    per_share: float,
    bps: float,
    minimum: float,
    slippage_bps: float,
    rf: float,
    ends: np.ndarray,
    stats: np.ndarray,
    returns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All points of an MA-cross chunk in one pass over cached moving averages.

    ``averages[k]`` is the SMA of one window; point ``p`` crosses ``averages[fast_row[p]]`` with
    ``averages[slow_row[p]]``. Fills ``stats[p]`` and ``returns[p]``; returns the trade P&Ls of all
    points concatenated, their (entry, exit) bars and the offsets (``pnl[off[p]:off[p+1]]``).
    """
    n = close.shape[0]
    points = fast_row.shape[0]
    equity = np.empty(n, np.float64)
    pnl = np.empty(64, np.float64)
    bars = np.empty((64, 2), np.int64)
    offsets = np.zeros(points + 1, np.int64)
    used = 0
    for p in range(points):
        fast = averages[fast_row[p]]
        slow = averages[slow_row[p]]
        sig = crossings(fast, slow)
        start = used
        pnl, bars = _reserve(pnl, bars, used, sig)
        used, exposed = _simulate(
            open_, close, sig, fill_at_close, allow_short, whole_shares, cash0, per_share, bps,
            minimum, slippage_bps, rf, equity, pnl, bars, used, stats[p],
        )
        _period_returns(equity, ends, returns[p])
        stats[p, S_TRADES] = used - start
        stats[p, S_EXPOSED] = exposed
        stats[p, S_BH_FINAL] = _buy_hold_final(open_, close, fill_at_close, cash0)
        offsets[p + 1] = used
    return pnl[:used].copy(), bars[:used].copy(), offsets
