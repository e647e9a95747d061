"""Synthetic bars: deterministic, realistic-looking prices for any symbol, no network needed.

The data is invented (the label says so wherever it is shown), but shaped like equity prices so
that strategies, indicators and backtests have something meaningful to chew on:

* **Daily path.** One path per symbol, generated day by day from :data:`EPOCH` (2000-01-03).
  Its volatility clusters (GARCH(1,1)), its drift switches between bull, sideways and bear
  regimes (trends lasting months), a weak pull towards a slowly rising anchor keeps prices in a
  plausible range, and opens gap away from the previous close. The symbol decides its start
  price, typical volume and volatility: broad index funds (SPY, QQQ, IWM...) about 15-20% a
  year with milder regimes, single stocks about 25-45%.
* **Sessions.** NYSE sessions from :mod:`algotrader.calendars` (``exchange_calendars``): no bars
  on exchange holidays, early closes at 13:00 New York time. Regular hours 09:30-16:00
  America/New_York (DST aware, stored in UTC); with ``use_rth=False`` intraday bars also cover
  the extended hours, 04:00 to four hours after the close (20:00, or 17:00 on an early close),
  as the simulator's contract details say.
* **Intraday.** Each session is a Brownian bridge from that day's open to its close with a
  U-shaped intraday volatility and volume profile, generated at one-minute granularity; coarser
  bars are aggregations of those minutes, and the daily bar *is* the aggregation of its regular
  session (open = first minute's open, high = highest minute high, volume = sum of minutes).
  Pre-market minutes drift from the last after-hours price to the open, after-hours minutes
  from the close part of the way to the next open, both thinly traded.
* **Determinism.** All randomness comes from a counter-based generator keyed by (symbol, stream,
  day, minute): a bar is the same whatever window it is requested in, in any order, chunked or
  not, in any process. This is what lets the TWS simulator serve history in chunks that agree.
* **Time.** Bar timestamps are bar starts, stamped as TWS does: ``1h`` bars at 09:30, 10:00,
  11:00 ... 15:00 in regular hours (the first is half an hour long), on the hour from 04:00
  with extended hours. Daily bars are keyed by the session date at 00:00 UTC, weekly bars by
  the Monday; a window that starts during a day includes that day's daily bar (and that week's
  weekly bar). Only finished bars exist: nothing before the epoch, and an ``end`` in the future
  just yields the bars completed by now (a daily bar appears once its session has closed, a
  weekly bar once the week's last session has).

Prices are rounded to cents and volumes are whole shares (stored as float64), as with real data.

>>> from datetime import datetime
>>> bars = SyntheticProvider().fetch_bars("AAPL", "1d", datetime(2024, 1, 1), datetime(2024, 2, 1))
>>> len(bars), bars.index[0].isoformat()
(21, '2024-01-02T00:00:00+00:00')
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from algotrader.calendars import exchange_sessions
from algotrader.data.providers.base import (
    InstrumentInfo,
    WholeWindowProvider,
    as_resolution,
    as_utc,
    normalise_symbol,
)
from algotrader.frames import INDEX_NAME
from algotrader.timeframes import Resolution

EPOCH = date(2000, 1, 3)  # a Monday: day index 0 of every synthetic path
_EPOCH64 = np.datetime64(EPOCH, "D")
SESSION_MINUTES = 390  # 09:30-16:00
PRE_MINUTES = 330  # 04:00-09:30
POST_MINUTES = 240  # four hours after the close
EXTENDED_MINUTES = PRE_MINUTES + SESSION_MINUTES + POST_MINUTES
_SESSION_TZ = "America/New_York"
_MINUTE_NS = 60_000_000_000
_WEEKDAYS = "1111100"
# Counter stride per day in the minute streams (>= any session's minutes, so days never overlap).
_DAY_STRIDE = 512
# Days per cached block of daily bars (each block simulates its sessions minute by minute).
_BLOCK_DAYS = 256
_CHUNK_SESSIONS = 256  # sessions simulated at once: bounds memory, stays cache friendly
# TWS's regular-hours 1-hour bars: 09:30 (half an hour), then on the hour until 15:00.
_RTH_HOUR_STARTS = np.array([0, 30, 90, 150, 210, 270, 330])

Minutes = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

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


# Broad index funds: diversified, so calmer than any one stock (SPY's realised volatility has
# been about 15-20% a year, with regimes that rarely halve it).
INDEX_FUNDS = frozenset({
    "SPY", "VOO", "IVV", "VTI", "ITOT", "SCHB", "SCHX", "SPLG", "RSP", "DIA", "QQQ", "QQQM",
    "IWM", "MDY", "IJH", "IJR", "VT", "ACWI", "EFA", "VEA", "VWO", "EEM",
})


@dataclass(frozen=True, slots=True)
class _Params:
    """The symbol's character: where it starts, how volatile and how traded it is, and how its
    regimes (bull, sideways, bear) drift and scale its volatility."""

    start_price: float
    daily_vol: float  # the GARCH long-run daily volatility
    base_volume: float
    nasdaq: bool
    con_id: int
    drifts: tuple[float, float, float]
    regime_vol: tuple[float, float, float]


# The realised volatility of the path is about this multiple of daily_vol * sqrt(252): regimes
# scale it (their mean square) and the anchor's pull and the GARCH clamp trim it.
_VOL_INFLATION = 1.1


@lru_cache(maxsize=256)
def _params(symbol: str) -> _Params:
    seed = symbol_seed(symbol)
    u = [(_mix_int(seed + k) >> 11) / 9007199254740992.0 for k in range(1, 6)]
    fund = symbol in INDEX_FUNDS
    annual = 0.15 + 0.04 * u[1] if fund else 0.24 + 0.20 * u[1]
    return _Params(
        start_price=math.exp(math.log(15.0) + u[0] * (math.log(400.0) - math.log(15.0))),
        daily_vol=annual / math.sqrt(252.0) / _VOL_INFLATION,
        base_volume=math.exp(math.log(4e5) + u[2] * (math.log(4e7) - math.log(4e5)))
        * (4.0 if fund else 1.0),
        nasdaq=u[3] < 0.5,
        con_id=100_000_000 + int(u[4] * 800_000_000),
        drifts=(0.18 / 252, 0.04 / 252, -0.16 / 252) if fund else (0.28 / 252, 0.02 / 252,
                                                                  -0.32 / 252),
        regime_vol=(0.85, 1.0, 1.3) if fund else (0.85, 1.0, 1.45),
    )


_SWITCH_PROB = 1.0 / 70.0  # a draw every ~70 days (a third re-pick the same): trends of ~5 months
_GARCH_ALPHA = 0.08
_GARCH_BETA = 0.90
_MEAN_REVERSION = 0.25 / 252  # weak pull of log price towards the anchor
_ANCHOR_GROWTH = 0.07 / 252
_GAP_SHARE = 0.35  # share of daily volatility that happens overnight
_LOG_FLOOR = math.log(1.0)  # prices reflect off $1 rather than dwindling to nothing


@lru_cache(maxsize=64)
def _daily_path(symbol: str, n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log open, log close, intraday volatility and volume of days ``0 .. n_days-1``.

    Days are weekdays counted from the epoch (holidays included: the path moves through them,
    their bars are just never shown). Sequential by nature (volatility and regime carry over), so
    it runs as a plain loop over Python floats; every draw is keyed by day index, so a longer
    path extends a shorter one without changing it.
    """
    p, seed = _params(symbol), symbol_seed(symbol)
    days = np.arange(n_days, dtype=np.uint64)
    z_ret, z_gap = _normal_pair(_stream(seed, "daily-ret"), days)
    z_vol, _ = _normal_pair(_stream(seed, "daily-vol"), days)
    u_regime = _uniform(_stream(seed, "regime"), days)

    long_var = p.daily_vol**2
    intraday_share = math.sqrt(1.0 - _GAP_SHARE**2)
    out = np.empty((4, n_days))
    anchor0 = math.log(p.start_price)
    prev_close, var, regime = anchor0, long_var, 1
    zr, zg, zv, ur = z_ret.tolist(), z_gap.tolist(), z_vol.tolist(), u_regime.tolist()
    for t in range(n_days):
        sigma = math.sqrt(var)
        drift = p.drifts[regime] - _MEAN_REVERSION * (prev_close - anchor0 - _ANCHOR_GROWTH * t)
        gap = _GAP_SHARE * sigma * zg[t]
        move = intraday_share * sigma * zr[t]
        lo = prev_close + gap
        lc = lo + drift + move
        lo = lo if lo >= _LOG_FLOOR else 2 * _LOG_FLOOR - lo
        lc = lc if lc >= _LOG_FLOOR else 2 * _LOG_FLOOR - lc
        shock = abs(gap + move) / p.daily_vol
        out[0, t], out[1, t], out[2, t] = lo, lc, intraday_share * sigma
        out[3, t] = p.base_volume * math.exp(0.3 * zv[t] - 0.045) * (0.6 + 0.4 * shock)
        target = long_var * p.regime_vol[regime] ** 2
        var = target * (1 - _GARCH_ALPHA - _GARCH_BETA) + _GARCH_ALPHA * (gap + move) ** 2 \
            + _GARCH_BETA * var
        # keep one freak draw from producing absurd volatility for months
        var = min(max(var, 0.2 * long_var), 25.0 * long_var)
        prev_close = lc
        if ur[t] < _SWITCH_PROB:
            regime = min(int(ur[t] / _SWITCH_PROB * 3), 2)
    out.flags.writeable = False  # cached and shared: nobody may change it
    return out[0], out[1], out[2], out[3]


def _path_days(symbol: str, last_day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The daily path covering day index ``last_day`` (lengths rounded up so caching works)."""
    n = (last_day // 2048 + 1) * 2048
    return _daily_path(symbol, n)


# ---------------------------------------------------------------------------------------------
# Sessions, minute by minute


@lru_cache(maxsize=16)
def _profile(minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variance share, its square root and its cumulative share for each minute of a regular
    session of ``minutes`` minutes, padded to 390 (share 0, cumulative 1 after the close).

    U-shaped activity: busy open, quiet lunch, busy close (variance and volume alike).
    """
    pos = (np.arange(minutes) + 0.5) / minutes
    profile = 1.0 + 2.2 * (2.0 * pos - 1.0) ** 4 + 1.3 * np.exp(-pos * 40.0)
    share = np.zeros(SESSION_MINUTES)
    share[:minutes] = profile / profile.sum()
    cum = np.cumsum(share)
    cum /= cum[minutes - 1]
    cum[minutes:] = 1.0
    return share, np.sqrt(share), cum


def _profiles(n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_profile` for each session (broadcastable: one row when all are full sessions)."""
    if (n == SESSION_MINUTES).all():
        return tuple(a[None, :] for a in _profile(SESSION_MINUTES))  # type: ignore[return-value]
    tables = [np.empty((n.size, SESSION_MINUTES)) for _ in range(3)]
    for minutes in np.unique(n):
        rows = n == minutes
        for table, part in zip(tables, _profile(int(minutes)), strict=True):
            table[rows] = part
    return tables[0], tables[1], tables[2]


def _round_price(x: np.ndarray) -> np.ndarray:
    # cents; rounding is monotone so high >= max(open, close) >= min(open, close) >= low survives
    return np.round(x, 2)


def _ohlcv(
    log_start: np.ndarray, log_end: np.ndarray, wick: np.ndarray, volume: np.ndarray,
    z_high: np.ndarray, z_low: np.ndarray,
) -> Minutes:
    opens, closes = np.exp(log_start), np.exp(log_end)
    highs = np.maximum(opens, closes) * np.exp(wick * np.abs(z_high))
    lows = np.minimum(opens, closes) * np.exp(-wick * np.abs(z_low))
    opens, highs, lows, closes = (_round_price(a) for a in (opens, highs, lows, closes))
    np.maximum(lows, 0.01, out=lows)
    return opens, highs, lows, closes, volume


def _simulate_minutes(symbol: str, day_index: np.ndarray, n: np.ndarray) -> Minutes:
    """Regular-session one-minute OHLCV of the sessions ``day_index`` lasting ``n`` minutes:
    arrays of shape (sessions, 390); minutes after an early close are meaningless."""
    seed = symbol_seed(symbol)
    log_open_all, log_close_all, sigma_all, volume_all = _path_days(symbol, int(day_index.max()))
    log_open = log_open_all[day_index][:, None]
    log_close = log_close_all[day_index][:, None]
    sigma = sigma_all[day_index][:, None]
    day_volume = (volume_all[day_index] * n / SESSION_MINUTES)[:, None]
    share, sqrt_share, cum = _profiles(n)

    counters = day_index.astype(np.uint64)[:, None] * np.uint64(_DAY_STRIDE) + np.arange(
        SESSION_MINUTES, dtype=np.uint64
    )
    z_path, z_volume = _normal_pair(_stream(seed, "minute-path"), counters)
    z_high, z_low = _normal_pair(_stream(seed, "minute-wick"), counters)

    rows = np.arange(day_index.size)
    walk = np.cumsum(z_path * sqrt_share, axis=1)
    # Brownian bridge in volatility time: starts at 0, ends exactly at 0 at the close.
    bridge = walk - cum * walk[rows, n - 1][:, None]
    log_end = log_open + (log_close - log_open) * cum + sigma * bridge
    log_end[rows, n - 1] = log_close[:, 0]  # exactly the day's close, not a rounding of it
    log_start = np.empty_like(log_end)
    log_start[:, 0] = log_open[:, 0]
    log_start[:, 1:] = log_end[:, :-1]
    volume = np.maximum(np.rint(day_volume * share * np.exp(0.5 * z_volume - 0.125)), 1.0)
    return _ohlcv(log_start, log_end, sigma * sqrt_share * 0.6, volume, z_high, z_low)


def _flat_bridge(
    seed: int, name: str, day_index: np.ndarray, start: np.ndarray, end: np.ndarray,
    sigma: np.ndarray, volume: np.ndarray, minutes: int,
) -> Minutes:
    """Thin trading from ``start`` to ``end`` (log prices) over ``minutes`` even minutes."""
    counters = day_index.astype(np.uint64)[:, None] * np.uint64(_DAY_STRIDE) + np.arange(
        minutes, dtype=np.uint64
    )
    z_path, z_volume = _normal_pair(_stream(seed, f"{name}-path"), counters)
    z_high, z_low = _normal_pair(_stream(seed, f"{name}-wick"), counters)
    step = math.sqrt(1.0 / minutes)
    walk = np.cumsum(z_path * step, axis=1)
    cum = np.arange(1, minutes + 1) / minutes
    log_end = start[:, None] + (end - start)[:, None] * cum \
        + sigma[:, None] * (walk - cum * walk[:, -1:])
    log_end[:, -1] = end
    log_start = np.empty_like(log_end)
    log_start[:, 0] = start
    log_start[:, 1:] = log_end[:, :-1]
    shares = np.rint(volume[:, None] / minutes * np.exp(0.8 * z_volume - 0.32))
    return _ohlcv(log_start, log_end, sigma[:, None] * step * 0.6, np.maximum(shares, 1.0),
                  z_high, z_low)


def _simulate_extended(symbol: str, day_index: np.ndarray, n: np.ndarray) -> Minutes:
    """Pre-market, regular and after-hours minutes, in time order from 04:00: arrays of shape
    (sessions, 960); a session of ``n`` regular minutes has ``330 + n + 240`` of them."""
    seed = symbol_seed(symbol)
    log_open_all, log_close_all, sigma_all, volume_all = _path_days(
        symbol, int(day_index.max()) + 1
    )
    before = np.maximum(day_index - 1, 0)
    lo, lc = log_open_all[day_index], log_close_all[day_index]
    # After-hours trading goes part of the way towards the next open; pre-market the rest.
    prev_close = np.where(day_index > 0, log_close_all[before], lo)
    prev_after = prev_close + 0.3 * (lo - prev_close)
    after = lc + 0.3 * (log_open_all[day_index + 1] - lc)
    sigma = 0.25 * sigma_all[day_index]
    volume = volume_all[day_index]
    pre = _flat_bridge(seed, "pre", day_index, prev_after, lo, sigma, 0.04 * volume, PRE_MINUTES)
    post = _flat_bridge(seed, "post", day_index, lc, after, sigma, 0.03 * volume, POST_MINUTES)
    regular = _simulate_minutes(symbol, day_index, n)
    rows = np.arange(day_index.size)[:, None]
    post_cols = PRE_MINUTES + n[:, None] + np.arange(POST_MINUTES)
    out = []
    for pre_part, regular_part, post_part in zip(pre, regular, post, strict=True):
        full = np.empty((day_index.size, EXTENDED_MINUTES))
        full[:, :PRE_MINUTES] = pre_part
        full[:, PRE_MINUTES:PRE_MINUTES + SESSION_MINUTES] = regular_part
        full[rows, post_cols] = post_part  # right after the close, early or not
        out.append(full)
    return out[0], out[1], out[2], out[3], out[4]


def _aggregate(
    minutes: Minutes, starts: np.ndarray, valid: np.ndarray
) -> tuple[Minutes, np.ndarray]:
    """Bars made of minutes ``starts[j] .. starts[j+1]-1`` of each session, cut at each
    session's ``valid`` minutes; and which bars exist (start before the session's end)."""
    opens, highs, lows, closes, volume = minutes
    sessions, width = opens.shape
    exists = starts[None, :] < valid[:, None]
    if starts.size == width and (valid == width).all():
        return tuple(a.ravel() for a in minutes), exists.ravel()  # type: ignore[return-value]
    if (valid < width).any():
        beyond = np.arange(width)[None, :] >= valid[:, None]
        highs = np.where(beyond, -np.inf, highs)
        lows = np.where(beyond, np.inf, lows)
        volume = np.where(beyond, 0.0, volume)
    ends = np.minimum(np.append(starts[1:], width)[None, :], valid[:, None]) - 1
    ends = np.maximum(ends, starts[None, :])  # bars that do not exist: any column will do
    flat_starts = (np.arange(sessions)[:, None] * width + starts).ravel()
    bars = (
        opens[:, starts].ravel(),
        np.maximum.reduceat(highs.ravel(), flat_starts),
        np.minimum.reduceat(lows.ravel(), flat_starts),
        closes[np.arange(sessions)[:, None], ends].ravel(),
        np.add.reduceat(volume.ravel(), flat_starts),
    )
    return bars, exists.ravel()


def _session_bars(
    symbol: str, day_index: np.ndarray, n: np.ndarray, starts: np.ndarray, extended: bool
) -> tuple[Minutes, np.ndarray]:
    simulate = _simulate_extended if extended else _simulate_minutes
    valid = n + (PRE_MINUTES + POST_MINUTES if extended else 0)
    parts = [
        _aggregate(
            simulate(symbol, day_index[i : i + _CHUNK_SESSIONS], n[i : i + _CHUNK_SESSIONS]),
            starts, valid[i : i + _CHUNK_SESSIONS],
        )
        for i in range(0, day_index.size, _CHUNK_SESSIONS)
    ]
    bars = tuple(np.concatenate(cols) for cols in zip(*(p[0] for p in parts), strict=True))
    return bars, np.concatenate([p[1] for p in parts])  # type: ignore[return-value]


@lru_cache(maxsize=2048)
def _daily_block(symbol: str, block: int) -> tuple[np.ndarray, ...]:
    """Daily OHLCV for day indices ``block*256 .. block*256+255`` (sessions aggregated)."""
    days = np.arange(block * _BLOCK_DAYS, (block + 1) * _BLOCK_DAYS)
    dates = np.busday_offset(_EPOCH64, days, weekmask=_WEEKDAYS)
    n = exchange_sessions().minutes_of(dates)
    bars, _ = _session_bars(symbol, days, n, np.array([0]), extended=False)
    for array in bars:
        array.flags.writeable = False  # cached and shared: nobody may change them
    return bars


def _daily_bars(symbol: str, day_index: np.ndarray) -> tuple[np.ndarray, ...]:
    if day_index.size == 0:
        return tuple(np.empty(0) for _ in range(5))
    out = [np.empty(day_index.size) for _ in range(5)]
    block_of = day_index // _BLOCK_DAYS
    for b in np.unique(block_of):
        cols = _daily_block(symbol, int(b))
        sel = block_of == b
        offsets = day_index[sel] - b * _BLOCK_DAYS
        for k in range(5):
            out[k][sel] = cols[k][offsets]
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Calendar


def _session_dates(first: np.datetime64, last: np.datetime64) -> np.ndarray:
    """NYSE sessions in [first, last] (datetime64[D]), none before the epoch."""
    first = max(first, _EPOCH64)
    return exchange_sessions().sessions(pd.Timestamp(first).date(), pd.Timestamp(last).date())


def _day_index(dates: np.ndarray) -> np.ndarray:
    """Weekdays since the epoch (holidays count: a calendar update never shifts a path)."""
    return np.busday_count(_EPOCH64, dates, weekmask=_WEEKDAYS).astype(np.int64)


def _session_open_ns(dates: np.ndarray) -> np.ndarray:
    """UTC nanoseconds of 09:30 New York time on each date (DST aware)."""
    local = pd.DatetimeIndex(dates.astype("datetime64[ns]") + np.timedelta64(570, "m"))
    return local.tz_localize(_SESSION_TZ).tz_convert("UTC").as_unit("ns").asi8


def _bar_starts(res: Resolution, extended: bool) -> np.ndarray:
    """Minute offsets of the bars of a session (from 09:30, or from 04:00 when extended)."""
    step = res.seconds // 60
    if step == 60 and not extended:
        return _RTH_HOUR_STARTS
    return np.arange(0, EXTENDED_MINUTES if extended else SESSION_MINUTES, step)


def _frame(ts_ns: np.ndarray, cols: tuple[np.ndarray, ...]) -> pd.DataFrame:
    # microsecond unit, like validate_bars and the store
    index = pd.DatetimeIndex(
        pd.to_datetime(ts_ns // 1000, unit="us", utc=True), name=INDEX_NAME
    ).as_unit("us")
    data = dict(zip(("open", "high", "low", "close", "volume"), cols, strict=True))
    return pd.DataFrame(data, index=index, copy=False)


def _empty() -> pd.DataFrame:
    return _frame(np.empty(0, dtype=np.int64), tuple(np.empty(0) for _ in range(5)))


def _key_floor(moment: pd.Timestamp, res: Resolution) -> pd.Timestamp:
    """The earliest bar key whose bar overlaps a window starting at ``moment``."""
    if res.is_intraday:
        return moment
    day = moment.floor("D")
    if res.seconds >= 7 * 86_400:
        day -= pd.Timedelta(days=day.day_of_week)
    return day


class SyntheticProvider(WholeWindowProvider):
    """Invented but plausible bars for any symbol (see the module docstring for the model).

    ``clock`` returns the current time; tests pass a fixed one. Bars are cheap: a million
    one-minute bars take about a second.
    """

    name = "synthetic"
    label = "synthetic data (not market prices)"
    max_concurrency = 1  # pure computation: threads would only contend for the GIL

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    def close(self) -> None:
        """Nothing to release."""

    def head_timestamp(self, symbol: str) -> datetime:
        """The first instant with data (the epoch, 2000-01-03 00:00 UTC), as IB reports it."""
        normalise_symbol(symbol)
        return datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=UTC)

    def describe(self, symbol: str) -> InstrumentInfo:
        """A plausible US stock: ``"AAPL (synthetic)"`` on NASDAQ or NYSE, with a fake con_id."""
        symbol = normalise_symbol(symbol)
        params = _params(symbol)
        return InstrumentInfo(
            symbol=symbol,
            sec_type="STK",
            exchange="SMART",
            primary_exchange="NASDAQ" if params.nasdaq else "NYSE",
            currency="USD",
            con_id=params.con_id,
            name=f"{symbol} (synthetic)",
            timezone="US/Eastern",
        )

    def fetch_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime | pd.Timestamp | str,
        end: datetime | pd.Timestamp | str,
        *,
        use_rth: bool = True,
    ) -> pd.DataFrame:
        """The bars of ``symbol`` in ``[start, end)`` that are complete by now.

        Naive datetimes mean UTC; daily and weekly bars count from the key of the bar that
        ``start`` falls in. ``use_rth=False`` adds the extended hours to intraday bars (daily
        and weekly bars are always the regular session's). The result is a bar frame (possibly
        empty), already valid.
        """
        symbol = normalise_symbol(symbol)
        res = as_resolution(resolution)
        lo, hi = _key_floor(as_utc(start, "start"), res), as_utc(end, "end")
        now = as_utc(self._clock(), "clock")
        hi = min(hi, now)
        if hi <= lo:
            return _empty()
        window = (lo.value, hi.value, now.value)
        first_day = np.datetime64(lo.tz_localize(None).floor("D"), "D")
        last_day = np.datetime64(hi.tz_localize(None).floor("D"), "D")
        if res.is_intraday:
            return self._intraday(symbol, res, first_day - 1, last_day, window, not use_rth)
        if res.name == "1d":
            return self._daily(symbol, first_day, last_day, window)
        return self._weekly(symbol, first_day, last_day, window)

    def _daily(
        self, symbol: str, first_day: np.datetime64, last_day: np.datetime64,
        window: tuple[int, int, int],
    ) -> pd.DataFrame:
        lo_ns, hi_ns, now_ns = window
        dates = _session_dates(first_day, last_day)
        ts = dates.astype("datetime64[ns]").astype(np.int64)
        closes = _session_open_ns(dates) + exchange_sessions().minutes_of(dates) * _MINUTE_NS
        keep = (ts >= lo_ns) & (ts < hi_ns) & (closes <= now_ns)
        dates, ts = dates[keep], ts[keep]
        return _frame(ts, _daily_bars(symbol, _day_index(dates)))

    def _intraday(
        self, symbol: str, res: Resolution, first_day: np.datetime64, last_day: np.datetime64,
        window: tuple[int, int, int], extended: bool,
    ) -> pd.DataFrame:
        lo_ns, hi_ns, now_ns = window
        dates = _session_dates(first_day, last_day)
        n = exchange_sessions().minutes_of(dates)
        origin = _session_open_ns(dates) - (PRE_MINUTES * _MINUTE_NS if extended else 0)
        length = n + (PRE_MINUTES + POST_MINUTES if extended else 0)
        # Only sessions with a bar in the window are simulated.
        useful = (origin + length * _MINUTE_NS > lo_ns) & (origin < hi_ns)
        dates, n, origin, length = dates[useful], n[useful], origin[useful], length[useful]
        if dates.size == 0:
            return _empty()
        starts = _bar_starts(res, extended)
        ends = np.minimum(np.append(starts[1:], EXTENDED_MINUTES)[None, :], length[:, None])
        ts = (origin[:, None] + starts * _MINUTE_NS).ravel()
        bar_end = (origin[:, None] + ends * _MINUTE_NS).ravel()
        cols, exists = _session_bars(symbol, _day_index(dates), n, starts, extended)
        keep = exists & (ts >= lo_ns) & (ts < hi_ns) & (bar_end <= now_ns)
        if not keep.all():
            ts = ts[keep]
            cols = tuple(c[keep] for c in cols)  # type: ignore[assignment]
        return _frame(ts, cols)

    def _weekly(
        self, symbol: str, first_day: np.datetime64, last_day: np.datetime64,
        window: tuple[int, int, int],
    ) -> pd.DataFrame:
        # Whole weeks whose Monday lies in the window; the week's days come from the daily bars.
        lo_ns, hi_ns, now_ns = window
        weekday = (first_day.astype(np.int64) - 4) % 7  # 1970-01-01 was a Thursday
        first_monday = first_day - np.timedelta64(int(weekday), "D")
        dates = _session_dates(first_monday, last_day + 4)
        if dates.size == 0:
            return _empty()
        mondays = dates - ((dates.astype(np.int64) - 4) % 7).astype("timedelta64[D]")
        o, h, lo, c, v = _daily_bars(symbol, _day_index(dates))
        groups = np.flatnonzero(np.r_[True, mondays[1:] != mondays[:-1]])
        lasts = np.append(groups[1:], dates.size) - 1
        weeks = (
            o[groups],
            np.maximum.reduceat(h, groups),
            np.minimum.reduceat(lo, groups),
            c[lasts],
            np.add.reduceat(v, groups),
        )
        ts = mondays[groups].astype("datetime64[ns]").astype(np.int64)
        last_close = _session_open_ns(dates[lasts]) \
            + exchange_sessions().minutes_of(dates[lasts]) * _MINUTE_NS
        keep = (ts >= lo_ns) & (ts < hi_ns) & (last_close <= now_ns)
        return _frame(ts[keep], tuple(w[keep] for w in weeks))
