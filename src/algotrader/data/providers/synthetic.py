"""Synthetic bars: deterministic, realistic-looking prices for any symbol, no network needed.

The data is invented (the label says so wherever it is shown), but shaped like equity prices so
that strategies, indicators and backtests have something meaningful to chew on:

* **Daily path.** One path per symbol, generated day by day from :data:`EPOCH` (2000-01-03) on
  weekdays only (no holiday calendar). Its volatility clusters (GARCH(1,1)), its drift switches
  between bull, sideways and bear regimes (trends lasting months), a weak pull towards a slowly
  rising anchor keeps prices in a plausible range, and opens gap away from the previous close.
  Start price, volatility and typical volume depend on the symbol.
* **Intraday.** Regular trading hours only, 09:30-16:00 America/New_York (DST aware, stored in
  UTC). Each session is a Brownian bridge from that day's open to its close with a U-shaped
  intraday volatility and volume profile, generated at one-minute granularity; coarser bars
  (5m .. 1h) are aggregations of those minutes, and the daily bar *is* the aggregation of its
  session (open = first minute's open, high = highest minute high, volume = sum of minutes).
  So ``1m`` resampled to ``1h`` or ``1d`` gives exactly the ``1h`` or ``1d`` bars.
* **Determinism.** All randomness comes from a counter-based generator keyed by (symbol, stream,
  day, minute): a bar is the same whatever window it is requested in, in any order, chunked or
  not, in any process. This is what lets the TWS simulator serve history in chunks that agree.
* **Time.** Bar timestamps are bar starts (``1h`` bars at 09:30, 10:30, ... 15:30 like IB; the
  last one is half an hour long). Daily bars are keyed by the session date at 00:00 UTC, weekly
  bars by the Monday. Only finished bars exist: nothing before the epoch, and an ``end`` in the
  future just yields the bars completed by now (a daily bar appears once its session has
  closed, a weekly bar once its Friday session has).

Prices are rounded to cents and volumes are whole shares (stored as float64), as with real data.

>>> from datetime import datetime
>>> bars = SyntheticProvider().fetch_bars("AAPL", "1d", datetime(2024, 1, 1), datetime(2024, 2, 1))
>>> len(bars), bars.index[0].isoformat()
(23, '2024-01-01T00:00:00+00:00')
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from algotrader.data.providers.base import (
    InstrumentInfo,
    as_resolution,
    as_utc,
    normalise_symbol,
)
from algotrader.frames import INDEX_NAME, empty_bars
from algotrader.timeframes import Resolution

EPOCH = date(2000, 1, 3)  # a Monday: day index 0 of every synthetic path
_EPOCH64 = np.datetime64(EPOCH, "D")
SESSION_MINUTES = 390  # 09:30-16:00
_SESSION_TZ = "America/New_York"
_MINUTE_NS = 60_000_000_000
_DAY_NS = 86_400_000_000_000
# Counter stride per day in the minute streams (>= SESSION_MINUTES, so days never overlap).
_DAY_STRIDE = 512
# Days per cached block of daily bars (each block simulates its sessions minute by minute).
_BLOCK_DAYS = 256
_CHUNK_SESSIONS = 256  # sessions simulated at once: bounds memory, stays cache friendly

# ---------------------------------------------------------------------------------------------
# Counter-based random numbers: value = f(key, counter), no state, so any subset can be drawn
# independently and identically. splitmix64's output function is a good enough mixer here.

_U64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_PI = 2.0 * math.pi
_INV_2_32 = 1.0 / 4294967296.0


def _mix_int(x: int) -> int:
    """splitmix64 on a Python int (for deriving per-stream keys)."""
    x = (x + 0x9E3779B97F4A7C15) & _U64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
    return x ^ (x >> 31)


def _hash(key: int, counters: np.ndarray) -> np.ndarray:
    """64 random bits per counter (uint64 array), in place where numpy allows."""
    x = counters.astype(np.uint64, copy=True)
    x *= _GOLDEN  # wraps modulo 2**64, as intended
    x += np.uint64(key)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _normal_pair(key: int, counters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per counter (Box-Muller on two 32-bit uniforms)."""
    bits = _hash(key, counters)
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * _INV_2_32
    u2 = ((bits & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * _INV_2_32
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = _TWO_PI * u2
    return radius * np.cos(angle), radius * np.sin(angle)


def _uniform(key: int, counters: np.ndarray) -> np.ndarray:
    bits = _hash(key, counters)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


# ---------------------------------------------------------------------------------------------
# Per-symbol parameters


def symbol_seed(symbol: str) -> int:
    """A stable 64-bit seed for ``symbol`` (hashlib: the same in every process and version)."""
    digest = hashlib.blake2b(symbol.encode("utf-8"), digest_size=8, person=b"algotrdr").digest()
    return int.from_bytes(digest, "little")


def _stream(seed: int, name: str) -> int:
    return _mix_int(seed ^ symbol_seed(name))


class _Params:
    """The symbol's character: where it starts, how volatile and how traded it is."""

    def __init__(self, seed: int) -> None:
        u = [(_mix_int(seed + k) >> 11) / 9007199254740992.0 for k in range(1, 6)]
        self.start_price = math.exp(math.log(15.0) + u[0] * (math.log(400.0) - math.log(15.0)))
        self.daily_vol = 0.011 + 0.017 * u[1]  # long-run daily volatility 1.1% .. 2.8%
        self.base_volume = math.exp(math.log(4e5) + u[2] * (math.log(4e7) - math.log(4e5)))
        self.nasdaq = u[3] < 0.5
        self.con_id = 100_000_000 + int(u[4] * 800_000_000)


# Regimes: yearly drift and how much their volatility differs from the symbol's norm.
_REGIME_DRIFT = (0.28 / 252, 0.02 / 252, -0.32 / 252)  # bull, sideways, bear
_REGIME_VOL = (0.85, 1.0, 1.45)
_SWITCH_PROB = 1.0 / 70.0  # a regime lasts about three months on average
_GARCH_ALPHA = 0.08
_GARCH_BETA = 0.90
_MEAN_REVERSION = 0.25 / 252  # weak pull of log price towards the anchor
_ANCHOR_GROWTH = 0.07 / 252
_GAP_SHARE = 0.35  # share of daily volatility that happens overnight
_LOG_FLOOR = math.log(1.0)  # prices reflect off $1 rather than dwindling to nothing


@lru_cache(maxsize=64)
def _daily_path(seed: int, n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log open, log close, intraday volatility and volume of days ``0 .. n_days-1``.

    Sequential by nature (volatility and regime carry over), so it runs as a plain loop over
    Python floats; every draw is keyed by day index, so a longer path extends a shorter one
    without changing it.
    """
    p = _Params(seed)
    days = np.arange(n_days, dtype=np.uint64)
    z_ret, z_gap = _normal_pair(_stream(seed, "daily-ret"), days)
    z_vol, _ = _normal_pair(_stream(seed, "daily-vol"), days)
    u_regime = _uniform(_stream(seed, "regime"), days)

    long_var = p.daily_vol**2
    intraday_share = math.sqrt(1.0 - _GAP_SHARE**2)
    log_open = np.empty(n_days)
    log_close = np.empty(n_days)
    sigma_intraday = np.empty(n_days)
    volume = np.empty(n_days)
    anchor0 = math.log(p.start_price)
    prev_close = anchor0
    var = long_var
    regime = 1
    zr, zg, zv, ur = z_ret.tolist(), z_gap.tolist(), z_vol.tolist(), u_regime.tolist()
    for t in range(n_days):
        sigma = math.sqrt(var)
        drift = _REGIME_DRIFT[regime] - _MEAN_REVERSION * (prev_close - anchor0 - _ANCHOR_GROWTH * t)
        gap = _GAP_SHARE * sigma * zg[t]
        move = intraday_share * sigma * zr[t]
        lo = prev_close + gap
        lc = lo + drift + move
        if lo < _LOG_FLOOR:
            lo = 2 * _LOG_FLOOR - lo
        if lc < _LOG_FLOOR:
            lc = 2 * _LOG_FLOOR - lc
        log_open[t] = lo
        log_close[t] = lc
        sigma_intraday[t] = intraday_share * sigma
        shock = abs(gap + move) / p.daily_vol
        volume[t] = p.base_volume * math.exp(0.3 * zv[t] - 0.045) * (0.6 + 0.4 * shock)
        target = long_var * _REGIME_VOL[regime] ** 2
        var = target * (1 - _GARCH_ALPHA - _GARCH_BETA) + _GARCH_ALPHA * (gap + move) ** 2
        var += _GARCH_BETA * var_prev if (var_prev := var_hold) else 0.0  # noqa: F821
        prev_close = lc
        if ur[t] < _SWITCH_PROB:
            regime = min(int(ur[t] / _SWITCH_PROB * 3), 2)
    return log_open, log_close, sigma_intraday, volume
