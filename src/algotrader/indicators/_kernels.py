"""Indicator kernels over 1-D float64 numpy arrays, with TA-Lib's definitions.

Each public function takes array-likes, returns new float64 arrays of the input length, and puts
NaN where the window cannot be filled yet (never zero). The arithmetic follows the TA-Lib C
library bundled with the ``ta-lib`` 0.8 wheels (running sums, the same seeding, the same zero
thresholds, its fused multiply-adds), so SMA, EMA, MACD, TR and ATR equal ``talib`` bit for bit
and RSI and Bollinger agree to ~1e-12 relative or better (TA-Lib picks an FMA-contracted build of
BBANDS at runtime on FMA CPUs, so no single formula can match it everywhere). Recurrences use
``_fma`` (llvm.fma, always correctly rounded), so our own results do not depend on the CPU.

The ``_*_into`` kernels are compiled eagerly with explicit signatures: one specialisation each
(read-only C-contiguous inputs accept writable arrays too, and pandas hands out read-only views),
so nothing compiles lazily mid-backtest and ``cache=True`` has exactly one entry to store. With an
installed, read-only package numba falls back to its user-wide cache directory (or
``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, cast

import numpy as np
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

_IN = types.Array(types.float64, 1, "C", readonly=True)
_OUT = types.Array(types.float64, 1, "C")
_I8 = types.int64
_F8 = types.float64

# TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG thresholds; copied so constant series give its values.
_TA_EPSILON = 0.00000001


@intrinsic
def _fma_intrinsic(typingctx, a, b, c):
    """``a*b + c`` rounded once (llvm.fma: the FMA instruction, or libm's exact fma)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


# The cast only tells mypy the call signature numba resolves; at runtime it is the intrinsic.
_fma = cast(Callable[[float, float, float], float], _fma_intrinsic)


# --------------------------------------------------------------------------------------------
# Compiled kernels (write into caller-provided buffers so compute_indicators can fill one block)
# --------------------------------------------------------------------------------------------


@njit(types.void(_IN, _I8, _OUT), cache=True, nogil=True)
def _sma_into(x, n, out):
    size = x.shape[0]
    first = n - 1
    if first >= size:
        out[:] = np.nan
        return
    out[:first] = np.nan
    # A running sum (add the newest, drop the oldest) is TA-Lib's order of operations; a cumsum
    # difference would drift by ~1e-10 relative over a million bars.
    total = 0.0
    for i in range(first):
        total += x[i]
    for i in range(first, size):
        total += x[i]
        out[i] = total / n
        total -= x[i - first]


@njit(types.void(_IN, _I8, _OUT), cache=True, nogil=True)
def _ema_into(x, n, out):
    size = x.shape[0]
    first = n - 1
    if first >= size:
        out[:] = np.nan
        return
    out[:first] = np.nan
    total = 0.0
    for i in range(n):
        total += x[i]
    prev = total / n
    out[first] = prev
    k = 2.0 / (n + 1)
    for i in range(n, size):
        # TA-Lib's EMA step is fma(k, x - prev, prev); written the same way it agrees bit for bit.
        prev = _fma(k, x[i] - prev, prev)
        out[i] = prev


@njit(types.void(_IN, _I8, _I8, _I8, _OUT, _OUT), cache=True, nogil=True)
def _macd_into(x, fast, slow, signal, out_macd, out_signal):
    if slow < fast:
        fast, slow = slow, fast
    size = x.shape[0]
    start = slow - 1
    first = start + signal - 1
    if first >= size:
        out_macd[:] = np.nan
        out_signal[:] = np.nan
        return
    out_macd[:first] = np.nan
    out_signal[:first] = np.nan
    # Both EMAs seed on bar `start` (TA-Lib), the fast one from its last `fast` bars.
    total_fast = 0.0
    for i in range(start - fast + 1, start + 1):
        total_fast += x[i]
    total_slow = 0.0
    for i in range(start + 1):
        total_slow += x[i]
    ema_fast = total_fast / fast
    ema_slow = total_slow / slow
    k_fast = 2.0 / (fast + 1)
    k_slow = 2.0 / (slow + 1)
    k_sig = 2.0 / (signal + 1)
    # One pass with the EMA chains interleaved. TA-Lib computes the line from `start` but
    # reports it only from `first`, where the signal (seeded with the mean of the line over
    # start..first) begins.
    total_sig = ema_fast - ema_slow
    for i in range(start + 1, first + 1):
        v = x[i]
        ema_fast = _fma(k_fast, v - ema_fast, ema_fast)
        ema_slow = _fma(k_slow, v - ema_slow, ema_slow)
        total_sig += ema_fast - ema_slow
    sig = total_sig / signal
    out_macd[first] = ema_fast - ema_slow
    out_signal[first] = sig
    for i in range(first + 1, size):
        v = x[i]
        ema_fast = _fma(k_fast, v - ema_fast, ema_fast)
        ema_slow = _fma(k_slow, v - ema_slow, ema_slow)
        line = ema_fast - ema_slow
        sig = _fma(k_sig, line - sig, sig)
        out_macd[i] = line
        out_signal[i] = sig


@njit(types.void(_IN, _I8, _F8, _F8, _OUT, _OUT, _OUT), cache=True, nogil=True)
def _bollinger_into(x, n, dev_up, dev_dn, mid, upper, lower):
    size = x.shape[0]
    first = n - 1
    if first >= size:
        mid[:] = np.nan
        upper[:] = np.nan
        lower[:] = np.nan
        return
    mid[:first] = np.nan
    upper[:first] = np.nan
    lower[:first] = np.nan
    # The SMA's running sum and TA-Lib's running sum of squares (E[x^2] - mean^2, cancellation
    # and all) in one pass; reproducing that formula is what keeps the bands equal to BBANDS.
    # The mean is divided (the middle band is the SMA, bit for bit); the mean of squares is
    # multiplied by 1/n: one division less per bar in a loop bound by the divider (25 % faster),
    # and within BBANDS' own tolerance (it runs an FMA-contracted build on FMA CPUs).
    inv_n = 1.0 / n
    total = 0.0
    total2 = 0.0
    for i in range(first):
        total += x[i]
        total2 += x[i] * x[i]
    for i in range(first, size):
        v = x[i]
        old = x[i - first]
        total += v
        m = total / n
        total -= old
        total2 += v * v
        var = total2 * inv_n
        total2 -= old * old
        var -= m * m
        sd = math.sqrt(var) if var >= _TA_EPSILON else 0.0
        mid[i] = m
        upper[i] = m + sd * dev_up
        lower[i] = m - sd * dev_dn


@njit(inline="always", cache=True)
def _true_range(high, low, prev_close):
    # Conditional expressions compile to selects (maxsd), not branches: which of the three
    # ranges is greatest is a coin flip. A NaN range never replaces the current one, as before.
    greatest = high - low
    v = abs(prev_close - high)
    greatest = v if v > greatest else greatest
    v = abs(prev_close - low)
    return v if v > greatest else greatest


@njit(inline="always", cache=True)
def _true_range_at(high, low, close, i):
    return _true_range(high[i], low[i], close[i - 1])


@njit(types.void(_IN, _IN, _IN, _OUT), cache=True, nogil=True)
def _true_range_into(high, low, close, out):
    size = high.shape[0]
    if size == 0:
        return
    out[0] = np.nan
    # Views starting at 0 (see _atr_into): the bar's high/low and the previous close.
    hi, lo, prev_close, dst = high[1:], low[1:], close[: size - 1], out[1:]
    for j in range(dst.shape[0]):
        dst[j] = _true_range(hi[j], lo[j], prev_close[j])


@njit(types.void(_IN, _I8, _OUT), cache=True, nogil=True)
def _wilder_atr_into(tr, n, out):
    size = tr.shape[0]
    if n <= 1:
        out[:] = tr
        return
    if n >= size:
        out[:] = np.nan
        return
    out[:n] = np.nan
    total = 0.0
    for i in range(1, n + 1):
        total += tr[i]
    prev = total / n
    out[n] = prev
    # prev*(n-1)/n + tr/n as TA-Lib 0.6 evaluates it: one fused step, no division in the
    # loop-carried chain (a divide there would make this 4x slower).
    a = (n - 1) / n
    b = 1.0 - a
    for i in range(n + 1, size):
        prev = _fma(a, prev, tr[i] * b)
        out[i] = prev


@njit(types.void(_IN, _IN, _IN, _I8, _OUT), cache=True, nogil=True)
def _atr_into(high, low, close, n, out):
    # True range and Wilder's smoothing in one pass with no TR temporary; the arithmetic is that
    # of _true_range_into followed by _wilder_atr_into, operation for operation.
    size = high.shape[0]
    if size == 0:
        return
    if n <= 1:
        _true_range_into(high, low, close, out)
        return
    if n >= size:
        out[:] = np.nan
        return
    out[:n] = np.nan
    total = 0.0
    for i in range(1, n + 1):
        total += _true_range_at(high, low, close, i)
    prev = total / n
    out[n] = prev
    a = (n - 1) / n
    b = 1.0 - a
    # Views starting at 0: indexing them with a range from 0 compiles without numba's negative-
    # index wraparound arithmetic (x[i - 1] with a runtime start needs it), which made this loop
    # twice as long as the fma chain it feeds and slower than TA-Lib.
    hi, lo, prev_close, dst = high[n + 1 :], low[n + 1 :], close[n : size - 1], out[n + 1 :]
    for j in range(dst.shape[0]):
        prev = _fma(a, prev, _true_range(hi[j], lo[j], prev_close[j]) * b)
        dst[j] = prev


@njit(types.void(_IN, _I8, _OUT), cache=True, nogil=True)
def _rsi_into(x, n, out):
    size = x.shape[0]
    if n >= size:
        out[:] = np.nan
        return
    out[:n] = np.nan
    prev_value = x[0]
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        d = x[i] - prev_value
        prev_value = x[i]
        if d < 0:
            loss -= d
        else:
            gain += d
    loss /= n
    gain /= n
    s = gain + loss
    out[n] = 100.0 * (gain / s) if not (-_TA_EPSILON < s < _TA_EPSILON) else 0.0
    # Wilder smoothing in the fused form of the ATR kernel (TA-Lib's own RSI differs from it by
    # rounding only, ~1e-14 relative).
    a = (n - 1) / n
    b = 1.0 - a
    for i in range(n + 1, size):
        d = x[i] - prev_value
        prev_value = x[i]
        # Selects instead of an if/else: the sign of d is a coin flip, and mispredicted branches
        # would cost more than the arithmetic (a NaN change still poisons the gain, as in TA-Lib).
        up = 0.0 if d < 0 else d
        down = -d if d < 0 else 0.0
        gain = _fma(a, gain, up * b)
        loss = _fma(a, loss, down * b)
        s = gain + loss
        out[i] = 100.0 * (gain / s) if not (-_TA_EPSILON < s < _TA_EPSILON) else 0.0


@njit(
    types.void(_IN, _IN, _IN, _IN, _F8, _OUT, _OUT, _OUT, _OUT),
    cache=True,
    nogil=True,
)
def _supertrend_into(high, low, close, atr, mult, line, upper, lower, trend):
    size = high.shape[0]
    start = 0
    while start < size and math.isnan(atr[start]):
        start += 1
    line[:start] = np.nan
    upper[:start] = np.nan
    lower[:start] = np.nan
    trend[:start] = np.nan
    if start >= size:
        return
    hl2 = (high[start] + low[start]) / 2.0
    final_up = hl2 + mult * atr[start]
    final_lo = hl2 - mult * atr[start]
    direction = 1.0
    upper[start] = final_up
    lower[start] = final_lo
    trend[start] = direction
    line[start] = final_lo
    for i in range(start + 1, size):
        hl2 = (high[i] + low[i]) / 2.0
        a = atr[i]
        basic_up = hl2 + mult * a
        basic_lo = hl2 - mult * a
        prev_close = close[i - 1]
        # Non-short-circuit `|` and conditional expressions compile to selects, not branches:
        # which band moves is a coin flip, and mispredictions cost more than the arithmetic.
        take_up = (basic_up < final_up) | (prev_close > final_up)
        take_lo = (basic_lo > final_lo) | (prev_close < final_lo)
        new_up = basic_up if take_up else final_up
        new_lo = basic_lo if take_lo else final_lo
        c = close[i]
        # Flips compare with the previous bar's final bands; the up-test wins if both hold.
        direction = 1.0 if c > final_up else (-1.0 if c < final_lo else direction)
        final_up = new_up
        final_lo = new_lo
        upper[i] = final_up
        lower[i] = final_lo
        trend[i] = direction
        line[i] = final_lo if direction > 0 else final_up


@njit(
    types.void(_IN, _IN, _IN, _I8, _F8, _OUT, _OUT, _OUT, _OUT),
    cache=True,
    nogil=True,
)
def _supertrend_hlc_into(high, low, close, n, mult, line, upper, lower, trend):
    # Wilder ATR(n) goes into `line` first: the SuperTrend pass reads atr[i] before it writes
    # line[i], so the output buffer doubles as the ATR scratch and nothing else is allocated.
    _atr_into(high, low, close, n, line)
    _supertrend_into(high, low, close, line, mult, line, upper, lower, trend)


@njit(types.void(_IN, _OUT), cache=True, nogil=True)
def _running_max_into(x, out):
    # A plain loop is ~4x faster than np.fmax.accumulate; NaNs are skipped like fmax does.
    best = np.nan
    for i in range(x.shape[0]):
        v = x[i]
        if v > best or math.isnan(best):
            best = v
        out[i] = best


# --------------------------------------------------------------------------------------------
# Public, typed wrappers
# --------------------------------------------------------------------------------------------


class MACD(NamedTuple):
    """MACD line and its signal line."""

    macd: FloatArray
    signal: FloatArray


class Bollinger(NamedTuple):
    """Bollinger bands (middle, upper, lower)."""

    mid: FloatArray
    upper: FloatArray
    lower: FloatArray


class SuperTrend(NamedTuple):
    """SuperTrend line, final bands and trend (+1.0 / -1.0)."""

    line: FloatArray
    upper: FloatArray
    lower: FloatArray
    trend: FloatArray


def _as_f8(x: ArrayLike) -> FloatArray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {a.shape}")
    return a


def _check_period(name: str, n: int) -> int:
    n = int(n)
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n


def _same_length(*arrays: FloatArray) -> None:
    if len({a.shape[0] for a in arrays}) > 1:
        raise ValueError("high, low and close must have the same length")


def sma(x: ArrayLike, n: int) -> FloatArray:
    """Simple moving average: mean of the last ``n`` values; the first ``n-1`` are NaN."""
    a = _as_f8(x)
    out = np.empty(a.shape[0])
    _sma_into(a, _check_period("n", n), out)
    return out


def ema(x: ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, ``k = 2/(n+1)``, seeded at bar ``n-1`` with the SMA of the
    first ``n`` values (TA-Lib EMA); the first ``n-1`` are NaN."""
    a = _as_f8(x)
    out = np.empty(a.shape[0])
    _ema_into(a, _check_period("n", n), out)
    return out


def macd(close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MACD:
    """MACD = EMA(fast) - EMA(slow), signal = EMA(signal) of MACD, with TA-Lib's seeding: both
    EMAs are seeded on bar ``slow-1`` (the fast one with the SMA of the ``fast`` bars ending
    there), and both outputs start at bar ``slow + signal - 2``."""
    a = _as_f8(close)
    line, sig = np.empty((2, a.shape[0]))
    _macd_into(
        a,
        _check_period("fast", fast),
        _check_period("slow", slow),
        _check_period("signal", signal),
        line,
        sig,
    )
    return MACD(line, sig)


def bollinger(close: ArrayLike, n: int = 20, k: float = 2.0) -> Bollinger:
    """Bollinger bands: mid = SMA(n), upper/lower = mid +/- k * population std (ddof=0) of the
    last ``n`` values, computed as TA-Lib does (std is 0 when the variance is below 1e-8)."""
    a = _as_f8(close)
    # One allocation for the three outputs (rows of one block): measurably cheaper than three.
    mid, upper, lower = np.empty((3, a.shape[0]))
    _bollinger_into(a, _check_period("n", n), float(k), float(k), mid, upper, lower)
    return Bollinger(mid, upper, lower)


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> FloatArray:
    """True range: ``max(high-low, |high-prev close|, |low-prev close|)``; NaN on the first bar."""
    h, lo, c = _as_f8(high), _as_f8(low), _as_f8(close)
    _same_length(h, lo, c)
    out = np.empty(h.shape[0])
    _true_range_into(h, lo, c, out)
    return out


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Wilder's average true range: the mean of TR over bars ``1..n`` at bar ``n``, then
    ``atr = (prev*(n-1) + tr)/n``; the first ``n`` are NaN."""
    h, lo, c = _as_f8(high), _as_f8(low), _as_f8(close)
    _same_length(h, lo, c)
    out = np.empty(h.shape[0])
    _atr_into(h, lo, c, _check_period("n", n), out)
    return out


def rsi(close: ArrayLike, n: int = 14) -> FloatArray:
    """Wilder's RSI: ``100 * avg_gain / (avg_gain + avg_loss)`` with averages seeded by the mean
    of the first ``n`` changes and Wilder-smoothed after; 0 when both averages are ~0 (TA-Lib);
    the first ``n`` are NaN."""
    a = _as_f8(close)
    out = np.empty(a.shape[0])
    _rsi_into(a, _check_period("n", n), out)
    return out


def supertrend(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 10, mult: float = 3.0
) -> SuperTrend:
    """SuperTrend on Wilder ATR(n): basic bands ``hl2 +/- mult*ATR``; the final upper band takes
    the basic one when it is lower or the previous close broke above the previous final upper
    (lower band symmetric); the trend starts at +1 on the first bar with an ATR, becomes +1 when
    close > previous final upper and -1 when close < previous final lower; the line is the final
    lower band in an up-trend, else the final upper band. NaN during the ATR warm-up."""
    h, lo, c = _as_f8(high), _as_f8(low), _as_f8(close)
    _same_length(h, lo, c)
    line, upper, lower, trend = np.empty((4, h.shape[0]))
    _supertrend_hlc_into(h, lo, c, _check_period("n", n), float(mult), line, upper, lower, trend)
    return SuperTrend(line, upper, lower, trend)


def all_time_high(high: ArrayLike) -> FloatArray:
    """Running maximum of ``high`` (NaN highs are skipped; no warm-up)."""
    a = _as_f8(high)
    out = np.empty(a.shape[0])
    _running_max_into(a, out)
    return out
