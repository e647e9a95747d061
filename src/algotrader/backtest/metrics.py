"""Performance metrics of a backtest.

Every function takes plain arrays (or an index) and returns a float. Returns are fractions
(``0.1896`` is 18.96 %); drawdowns are negative fractions. Undefined values (a zero volatility, no
trades) are ``nan``, never an exception. :func:`compute_metrics` bundles them into the dict stored
on :class:`~algotrader.backtest.result.Result`.

Annualisation uses :func:`periods_per_year`, which counts the bars actually present per session
rather than assuming 252 bars a year: a 1-minute RTH series has ~98,000 periods a year, not 252.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
import pandas as pd

from algotrader.timeframes import Resolution, parse_resolution

FALLBACK_SESSIONS_PER_YEAR = 252.0
"""Sessions per year assumed when the data spans too little calendar time to estimate it."""

MIN_SPAN_DAYS_TO_ESTIMATE = 90.0
"""Shortest calendar span (days) over which sessions per year are estimated from the data."""

_NS_PER_DAY = 86_400 * 10**9
_DAYS_PER_YEAR = 365.25


def periods_per_year(index: pd.DatetimeIndex, resolution: str | Resolution) -> float:
    """Bars per year for annualising per-bar statistics, derived from the data itself.

    * weekly bars: 52;
    * daily bars: sessions per year, estimated as ``(sessions - 1) / span_in_years`` where a session
      is a distinct UTC date and the span is first-to-last bar in calendar days / 365.25 (so
      equities give ~252, a 7-day crypto market ~365); falls back to 252 when the index spans less
      than :data:`MIN_SPAN_DAYS_TO_ESTIMATE` days;
    * intraday bars: sessions per year (as above) times the median number of bars per session, so a
      1-hour RTH series gives ~7 x 252 and a 1-minute RTH series ~390 x 252.

    >>> idx = pd.date_range("2020-01-01", periods=3, freq="W-MON", tz="UTC")
    >>> periods_per_year(idx, "1w")
    52.0
    """
    res = resolution if isinstance(resolution, Resolution) else parse_resolution(resolution)
    if res.seconds >= 7 * 86_400:
        return 52.0
    ticks, per_day = _ticks(index)
    sessions, median_bars = _session_stats(ticks, per_day)
    if not res.is_intraday:
        return sessions
    return sessions * median_bars


_TICKS_PER_DAY = {"s": 86_400, "ms": 86_400 * 10**3, "us": 86_400 * 10**6, "ns": _NS_PER_DAY}


def _ticks(index: pd.DatetimeIndex) -> tuple[np.ndarray, int]:
    # The index's own integer unit (pandas 3 often stores microseconds): converting 1M stamps to
    # ns would cost more than the whole scan.
    idx = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    return np.asarray(idx.asi8, dtype=np.int64), _TICKS_PER_DAY[str(idx.unit)]


@numba.njit(cache=True, error_model="numpy")
def _session_stats(ticks: np.ndarray, per_day: int) -> tuple[float, float]:
    # Count distinct UTC dates and bars per date in the sorted int64 UTC ticks (pandas date
    # normalisation is ~10x slower); return (sessions per year, median bars per session).
    n = ticks.shape[0]
    if n == 0:
        return FALLBACK_SESSIONS_PER_YEAR, 0.0
    counts = np.empty(n, np.int64)
    k = 0
    day = ticks[0] // per_day
    first_day = day
    start = 0
    while True:
        end = _first_at_or_after(ticks, start, (day + 1) * per_day)
        counts[k] = end - start
        k += 1
        if end == n:
            break
        start = end
        day = ticks[start] // per_day
    sessions = k
    median = float(np.median(counts[:sessions]))
    span = float(day - first_day)
    if sessions < 2 or span < MIN_SPAN_DAYS_TO_ESTIMATE:
        return FALLBACK_SESSIONS_PER_YEAR, median
    return (sessions - 1) / (span / _DAYS_PER_YEAR), median


@numba.njit(cache=True, error_model="numpy", inline="always")
def _first_at_or_after(ticks: np.ndarray, start: int, value: int) -> int:
    # The first index from ``start`` whose tick is >= value: a gallop, then a binary search, so
    # a day of 1,440 minute bars costs about 20 reads and a day of one bar about 2.
    n = ticks.shape[0]
    lo = start
    step = 1
    while lo + step < n and ticks[lo + step] < value:
        lo += step
        step *= 2
    hi = min(lo + step, n)
    while lo < hi:
        mid = (lo + hi) // 2
        if ticks[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def total_return(equity: np.ndarray, start_value: float) -> float:
    """Total return: final equity / starting equity - 1."""
    if equity.size == 0 or start_value == 0:
        return math.nan
    return float(equity[-1] / start_value - 1.0)


def alpha(strategy_return: float, buy_hold_return: float) -> float:
    """Alpha vs buy & hold: strategy total return minus buy-and-hold total return."""
    return strategy_return - buy_hold_return


def cagr(total: float, years: float) -> float:
    """Compound annual growth rate: (1 + total return) ** (1 / years) - 1, years = days / 365.25."""
    if not years > 0 or math.isnan(total):
        return math.nan
    if total <= -1.0:
        return -1.0
    return float((1.0 + total) ** (1.0 / years) - 1.0)


def years_between(index: pd.DatetimeIndex) -> float:
    """Calendar years from the first to the last timestamp: elapsed days / 365.25."""
    if len(index) < 2:
        return 0.0
    return _days_between(index, 0, len(index) - 1) / _DAYS_PER_YEAR


def _days_between(index: pd.DatetimeIndex, first: int, last: int) -> float:
    # Timedelta / Timedelta(days=1) as pandas computes it (both as float64, then divided),
    # without building pandas scalars: they cost a tenth of a 10k-bar backtest.
    ticks, per_day = _ticks(index)
    return float(ticks[last] - ticks[first]) / float(per_day)


def bar_returns(equity: np.ndarray) -> np.ndarray:
    """Simple per-bar returns of an equity curve: equity[t] / equity[t-1] - 1 (length n - 1)."""
    if equity.size < 2:
        return np.empty(0, np.float64)
    return np.asarray(equity[1:] / equity[:-1] - 1.0, dtype=np.float64)


def _return_stats(equity: np.ndarray, rf: float) -> tuple[int, float, float, float]:
    # (count, mean, sample std, downside deviation of the returns in excess of the per-bar
    # risk-free rate ``rf``), by the engine's own passes: the same numbers to the bit.
    from algotrader.backtest._kernel import curve_stats, squared_deviations

    n = equity.shape[0] - 1
    if n < 1:
        return 0, math.nan, math.nan, math.nan
    s = curve_stats(equity, np.zeros(equity.shape[0], np.int8), rf, -1, 1.0, 0.0)
    spread = squared_deviations(s, equity.shape[0], lambda: equity)
    std = math.sqrt(spread / (n - 1)) if n > 1 else math.nan
    return n, s.sum_r / n, std, math.sqrt(s.down_sq / n)


def _per_period_rate(annual_rate: float, periods: float) -> float:
    return float((1.0 + annual_rate) ** (1.0 / periods) - 1.0)


def annualized_volatility(equity: np.ndarray, periods: float) -> float:
    """Annualised volatility: sample std (ddof=1) of the bar returns x sqrt(periods per year)."""
    _, _, std, _ = _return_stats(np.ascontiguousarray(equity, np.float64), 0.0)
    return float(std * math.sqrt(periods))


def sharpe_ratio(equity: np.ndarray, periods: float, risk_free_rate: float = 0.0) -> float:
    """Sharpe: (mean bar return - rf per bar) / std(bar returns, ddof=1) x sqrt(periods).

    ``risk_free_rate`` is annual, converted to a per-bar rate as (1 + rf) ** (1 / periods) - 1.
    """
    rf = _per_period_rate(risk_free_rate, periods)
    _, mean, std, _ = _return_stats(np.ascontiguousarray(equity, np.float64), rf)
    return _ratio(mean - rf, std, periods)


def sortino_ratio(equity: np.ndarray, periods: float, risk_free_rate: float = 0.0) -> float:
    """Sortino: mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) x sqrt(periods), r = bar returns."""
    rf = _per_period_rate(risk_free_rate, periods)
    _, mean, _, down = _return_stats(np.ascontiguousarray(equity, np.float64), rf)
    return _ratio(mean - rf, down, periods)


def _ratio(excess: float, dispersion: float, periods: float) -> float:
    if not dispersion > 0:
        return math.nan
    return float(excess / dispersion * math.sqrt(periods))


def max_drawdown(equity: np.ndarray) -> tuple[float, int, int, int]:
    """Maximum drawdown: min over t of equity[t] / max(equity[:t+1]) - 1 (a fraction <= 0).

    Returns ``(drawdown, peak_bar, trough_bar, end_bar)`` where ``end_bar`` is the first bar after
    the trough back at or above the peak, or the last bar when the curve never recovered. Its
    duration is ``end_bar - peak_bar`` bars.
    """
    if equity.size == 0:
        return math.nan, 0, 0, 0
    depth, peak, trough, end = _drawdown(np.asarray(equity, np.float64))
    return float(depth), int(peak), int(trough), int(end)


@numba.njit(cache=True, error_model="numpy")
def _drawdown(equity: np.ndarray) -> tuple[float, int, int, int]:
    n = equity.shape[0]
    peak_value = equity[0]
    peak_bar = 0
    worst = 0.0
    worst_peak = 0
    trough = 0
    for t in range(n):
        if equity[t] > peak_value:
            peak_value = equity[t]
            peak_bar = t
        dd = equity[t] / peak_value - 1.0
        if dd < worst:
            worst = dd
            worst_peak = peak_bar
            trough = t
    if not worst < 0.0:
        return 0.0, trough, trough, trough
    end = n - 1
    for t in range(trough, n):
        if equity[t] >= equity[worst_peak]:
            end = t
            break
    return worst, worst_peak, trough, end


def calmar_ratio(cagr_value: float, max_dd: float) -> float:
    """Calmar: CAGR / |max drawdown| (nan when there was no drawdown)."""
    if not max_dd < 0:
        return math.nan
    return cagr_value / abs(max_dd)


def win_rate(pnl: np.ndarray) -> float:
    """Win rate: share of trades with a positive P&L (nan without trades)."""
    if pnl.size == 0:
        return math.nan
    return float(np.count_nonzero(pnl > 0) / pnl.size)


def profit_factor(pnl: np.ndarray) -> float:
    """Profit factor: sum of winning P&L / |sum of losing P&L| (inf with wins but no losses)."""
    gains = float(pnl[pnl > 0].sum())
    losses = float(-pnl[pnl < 0].sum())
    if losses == 0:
        return math.inf if gains > 0 else math.nan
    return gains / losses


def exposure(position: np.ndarray) -> float:
    """Exposure: share of bars that end with an open position (long or short)."""
    if position.size == 0:
        return math.nan
    return float(np.count_nonzero(position) / position.size)


def compute_metrics(
    index: pd.DatetimeIndex,
    equity: np.ndarray,
    buy_hold: np.ndarray,
    position: np.ndarray,
    trade_pnl: np.ndarray,
    *,
    cash: float,
    resolution: str | Resolution,
    risk_free_rate: float = 0.0,
) -> dict[str, float]:
    """All metrics of one backtest, as stored in ``Result.metrics``.

    Keys: total_return, buy_hold_return, alpha, cagr, volatility, sharpe, sortino, max_drawdown,
    max_drawdown_duration_bars, max_drawdown_duration_days, calmar, num_trades, win_rate,
    profit_factor, exposure, periods_per_year, years. The backtest engine computes the same
    statistics inside its simulation pass; this function derives them from the curves.
    """
    from algotrader.backtest._kernel import curve_stats, squared_deviations

    eq = np.ascontiguousarray(equity, np.float64)
    pos = np.ascontiguousarray(position, np.int8)
    periods = periods_per_year(index, resolution)
    rf = _per_period_rate(risk_free_rate, periods)
    s = curve_stats(eq, pos, rf, -1, 1.0, 0.0)
    spread = squared_deviations(s, eq.shape[0], lambda: eq)
    bh_final = float(buy_hold[-1]) if len(buy_hold) else math.nan
    return assemble_metrics(
        index, s, spread, bh_final, trade_pnl,
        cash=cash, periods=periods, risk_free_rate=risk_free_rate,
    )


def assemble_metrics(
    index: pd.DatetimeIndex,
    stats: Any,
    variance_sum: float,
    buy_hold_final: float,
    trade_pnl: np.ndarray,
    *,
    cash: float,
    periods: float,
    risk_free_rate: float,
) -> dict[str, float]:
    """The metrics dict from the running statistics of a simulation (see ``_kernel.Stats``)."""
    n = len(index)
    years = years_between(index)
    total = float(stats.prev_equity / cash - 1.0) if n and cash else math.nan
    bh = float(buy_hold_final / cash - 1.0) if n and cash else math.nan
    growth = cagr(total, years)
    rf = _per_period_rate(risk_free_rate, periods)
    returns = n - 1
    mean = stats.sum_r / returns if returns >= 1 else math.nan
    std = math.sqrt(variance_sum / (returns - 1)) if returns > 1 else math.nan
    down = math.sqrt(stats.down_sq / returns) if returns >= 1 else math.nan
    dd, peak, end = _drawdown_of(stats, n)
    dd_days = _days_between(index, peak, end) if n else math.nan
    return {
        "total_return": total,
        "buy_hold_return": bh,
        "alpha": alpha(total, bh),
        "cagr": growth,
        "volatility": float(std * math.sqrt(periods)),
        "sharpe": _ratio(mean - rf, std, periods),
        "sortino": _ratio(mean - rf, down, periods),
        "max_drawdown": dd,
        "max_drawdown_duration_bars": end - peak,
        "max_drawdown_duration_days": dd_days,
        "calmar": calmar_ratio(growth, dd),
        "num_trades": int(trade_pnl.size),
        "win_rate": win_rate(trade_pnl),
        "profit_factor": profit_factor(trade_pnl),
        "exposure": float(stats.exposed / n) if n else math.nan,
        "periods_per_year": periods,
        "years": years,
    }


def _drawdown_of(stats: Any, n: int) -> tuple[float, int, int]:
    if n == 0:
        return math.nan, 0, 0
    if not stats.worst < 0.0:
        return 0.0, 0, 0
    end = stats.recovery if stats.recovery >= 0 else n - 1
    return float(stats.worst), int(stats.worst_peak), int(end)


def format_metrics(metrics: Mapping[str, float]) -> str:
    """The seed's one-line summary: ``total_return=18.96% cagr=3.54% max_drawdown=-29.64% ...``."""
    parts = []
    for key in ("total_return", "cagr", "max_drawdown"):
        parts.append(f"{key}={metrics[key] * 100:.2f}%")
    parts.append(f"sharpe={metrics['sharpe']:.2f}")
    return " ".join(parts)
