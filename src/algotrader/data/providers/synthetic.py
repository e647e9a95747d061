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
        self.daily_vol = 0.007 + 0.014 * u[1]  # long-run daily volatility 0.7% .. 2.1%
        self.base_volume = math.exp(math.log(4e5) + u[2] * (math.log(4e7) - math.log(4e5)))
        self.nasdaq = u[3] < 0.5
        self.con_id = 100_000_000 + int(u[4] * 800_000_000)


# Regimes: yearly drift and how much their volatility differs from the symbol's norm.
_REGIME_DRIFT = (0.28 / 252, 0.02 / 252, -0.32 / 252)  # bull, sideways, bear
_REGIME_VOL = (0.85, 1.0, 1.45)
_SWITCH_PROB = 1.0 / 70.0  # a draw every ~70 days (a third re-pick the same): trends of ~5 months
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
        anchor = anchor0 + _ANCHOR_GROWTH * t
        drift = _REGIME_DRIFT[regime] - _MEAN_REVERSION * (prev_close - anchor)
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
        var = (
            target * (1 - _GARCH_ALPHA - _GARCH_BETA)
            + _GARCH_ALPHA * (gap + move) ** 2
            + _GARCH_BETA * var
        )
        # keep one freak draw from producing absurd volatility for months
        var = min(max(var, 0.2 * long_var), 25.0 * long_var)
        prev_close = lc
        if ur[t] < _SWITCH_PROB:
            regime = min(int(ur[t] / _SWITCH_PROB * 3), 2)
    for array in (log_open, log_close, sigma_intraday, volume):
        array.flags.writeable = False  # cached and shared: nobody may change them
    return log_open, log_close, sigma_intraday, volume


def _path_days(seed: int, last_day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The daily path covering day index ``last_day`` (lengths rounded up so caching works)."""
    n = (last_day // 2048 + 1) * 2048
    return _daily_path(seed, n)


# ---------------------------------------------------------------------------------------------
# Sessions, minute by minute

_minute_pos = (np.arange(SESSION_MINUTES) + 0.5) / SESSION_MINUTES
# U-shaped activity: busy open, quiet lunch, busy close (variance and volume alike).
_PROFILE = 1.0 + 2.2 * (2.0 * _minute_pos - 1.0) ** 4 + 1.3 * np.exp(-_minute_pos * 40.0)
_VAR_SHARE = _PROFILE / _PROFILE.sum()
_SQRT_VAR_SHARE = np.sqrt(_VAR_SHARE)
_CUM_VAR = np.cumsum(_VAR_SHARE)
_CUM_VAR /= _CUM_VAR[-1]
_VOLUME_SHARE = _VAR_SHARE  # volume follows volatility through the day
_MINUTE_OFFSETS = np.arange(SESSION_MINUTES, dtype=np.uint64)


def _round_price(x: np.ndarray) -> np.ndarray:
    # cents; rounding is monotone so high >= max(open, close) >= min(open, close) >= low survives
    return np.round(x, 2)


def _simulate_minutes(
    seed: int, day_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One-minute OHLCV for the sessions ``day_index``: arrays of shape (sessions, 390)."""
    log_open_all, log_close_all, sigma_all, volume_all = _path_days(seed, int(day_index.max()))
    log_open = log_open_all[day_index][:, None]
    log_close = log_close_all[day_index][:, None]
    sigma = sigma_all[day_index][:, None]
    day_volume = volume_all[day_index][:, None]

    counters = day_index.astype(np.uint64)[:, None] * np.uint64(_DAY_STRIDE) + _MINUTE_OFFSETS
    z_path, z_volume = _normal_pair(_stream(seed, "minute-path"), counters)
    z_high, z_low = _normal_pair(_stream(seed, "minute-wick"), counters)

    walk = np.cumsum(z_path * _SQRT_VAR_SHARE, axis=1)
    # Brownian bridge in volatility time: starts at 0, ends exactly at 0.
    bridge = walk - _CUM_VAR * walk[:, -1:]
    log_end = log_open + (log_close - log_open) * _CUM_VAR + sigma * bridge
    log_end[:, -1] = log_close[:, 0]  # exactly the day's close, not a rounding of it
    log_start = np.empty_like(log_end)
    log_start[:, 0] = log_open[:, 0]
    log_start[:, 1:] = log_end[:, :-1]

    opens = np.exp(log_start)
    closes = np.exp(log_end)
    wick = sigma * _SQRT_VAR_SHARE * 0.6
    highs = np.maximum(opens, closes) * np.exp(wick * np.abs(z_high))
    lows = np.minimum(opens, closes) * np.exp(-wick * np.abs(z_low))
    volume = np.maximum(np.rint(day_volume * _VOLUME_SHARE * np.exp(0.5 * z_volume - 0.125)), 1.0)
    opens, highs, lows, closes = (_round_price(a) for a in (opens, highs, lows, closes))
    np.maximum(lows, 0.01, out=lows)
    return opens, highs, lows, closes, volume


def _aggregate(
    minutes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bars made of minutes ``starts[j] .. starts[j+1]-1`` of each session (flattened output)."""
    opens, highs, lows, closes, volume = minutes
    sessions = opens.shape[0]
    if starts.size == SESSION_MINUTES:
        return tuple(a.ravel() for a in minutes)  # type: ignore[return-value]
    ends = np.append(starts[1:], SESSION_MINUTES) - 1
    flat_starts = (np.arange(sessions)[:, None] * SESSION_MINUTES + starts).ravel()
    return (
        opens[:, starts].ravel(),
        np.maximum.reduceat(highs.ravel(), flat_starts),
        np.minimum.reduceat(lows.ravel(), flat_starts),
        closes[:, ends].ravel(),
        np.add.reduceat(volume.ravel(), flat_starts),
    )


def _session_bars(
    seed: int, day_index: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    parts = [
        _aggregate(_simulate_minutes(seed, day_index[i : i + _CHUNK_SESSIONS]), starts)
        for i in range(0, day_index.size, _CHUNK_SESSIONS)
    ]
    return tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))  # type: ignore[return-value]


@lru_cache(maxsize=2048)
def _daily_block(seed: int, block: int) -> tuple[np.ndarray, ...]:
    """Daily OHLCV for day indices ``block*256 .. block*256+255`` (sessions aggregated)."""
    days = np.arange(block * _BLOCK_DAYS, (block + 1) * _BLOCK_DAYS)
    bars = _session_bars(seed, days, np.array([0]))
    for array in bars:
        array.flags.writeable = False  # cached and shared: nobody may change them
    return bars


def _daily_bars(seed: int, day_index: np.ndarray) -> tuple[np.ndarray, ...]:
    if day_index.size == 0:
        return tuple(np.empty(0) for _ in range(5))
    blocks = np.unique(day_index // _BLOCK_DAYS)
    table = {int(b): _daily_block(seed, int(b)) for b in blocks}
    out = [np.empty(day_index.size) for _ in range(5)]
    block_of = day_index // _BLOCK_DAYS
    for b, cols in table.items():
        sel = block_of == b
        offsets = day_index[sel] - b * _BLOCK_DAYS
        for k in range(5):
            out[k][sel] = cols[k][offsets]
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Calendar


def _session_dates(first: np.datetime64, last: np.datetime64) -> np.ndarray:
    """Weekdays in [first, last] (datetime64[D]), none before the epoch."""
    first = max(first, _EPOCH64)
    if last < first:
        return np.empty(0, dtype="datetime64[D]")
    days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
    return days[np.is_busday(days, weekmask="1111100", holidays=[])]


def _day_index(dates: np.ndarray) -> np.ndarray:
    return np.busday_count(_EPOCH64, dates).astype(np.int64)


def _session_open_ns(dates: np.ndarray) -> np.ndarray:
    """UTC nanoseconds of 09:30 New York time on each date (DST aware)."""
    local = pd.DatetimeIndex(dates.astype("datetime64[ns]") + np.timedelta64(570, "m"))
    return local.tz_localize(_SESSION_TZ).tz_convert("UTC").as_unit("ns").asi8


def _frame(ts_ns: np.ndarray, cols: tuple[np.ndarray, ...]) -> pd.DataFrame:
    # microsecond unit, like validate_bars and the store
    index = pd.DatetimeIndex(
        pd.to_datetime(ts_ns // 1000, unit="us", utc=True), name=INDEX_NAME
    ).as_unit("us")
    data = dict(zip(("open", "high", "low", "close", "volume"), cols, strict=True))
    return pd.DataFrame(data, index=index, copy=False)


def _empty() -> pd.DataFrame:
    return _frame(np.empty(0, dtype=np.int64), tuple(np.empty(0) for _ in range(5)))


class SyntheticProvider(WholeWindowProvider):
    """Invented but plausible bars for any symbol (see the module docstring for the model).

    ``clock`` returns the current time; tests pass a fixed one. Bars are cheap: a million
    one-minute bars take a fraction of a second.
    """

    name = "synthetic"
    label = "synthetic data (not market prices)"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    def head_timestamp(self, symbol: str) -> datetime:
        """The first instant with data (the epoch, 2000-01-03 00:00 UTC), as IB reports it."""
        normalise_symbol(symbol)
        return datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=UTC)

    def describe(self, symbol: str) -> InstrumentInfo:
        """A plausible US stock: ``"AAPL (synthetic)"`` on NASDAQ or NYSE, with a fake con_id."""
        symbol = normalise_symbol(symbol)
        params = _Params(symbol_seed(symbol))
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
    ) -> pd.DataFrame:
        """The bars of ``symbol`` with ``start <= ts < end`` that are complete by now.

        Naive datetimes mean UTC. The result is a bar frame (possibly empty), already valid.
        """
        symbol = normalise_symbol(symbol)
        res = as_resolution(resolution)
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        now = as_utc(self._clock(), "clock")
        hi = min(hi, now)
        if hi <= lo:
            return _empty()
        seed = symbol_seed(symbol)
        lo_ns, hi_ns, now_ns = lo.value, hi.value, now.value
        first_day = np.datetime64(lo.tz_localize(None).floor("D"), "D")
        last_day = np.datetime64(hi.tz_localize(None).floor("D"), "D")

        if res.is_intraday:
            return self._intraday(seed, res, first_day - 1, last_day, lo_ns, hi_ns, now_ns)
        if res.name == "1d":
            dates = _session_dates(first_day, last_day)
            ts = dates.astype("datetime64[ns]").astype(np.int64)
            closes = _session_open_ns(dates) + SESSION_MINUTES * _MINUTE_NS
            keep = (ts >= lo_ns) & (ts < hi_ns) & (closes <= now_ns)
            dates, ts = dates[keep], ts[keep]
            return _frame(ts, _daily_bars(seed, _day_index(dates)))
        return self._weekly(seed, first_day, last_day, lo_ns, hi_ns, now_ns)

    def _intraday(
        self,
        seed: int,
        res: Resolution,
        first_day: np.datetime64,
        last_day: np.datetime64,
        lo_ns: int,
        hi_ns: int,
        now_ns: int,
    ) -> pd.DataFrame:
        dates = _session_dates(first_day, last_day)
        if dates.size == 0:
            return _empty()
        step = res.seconds // 60
        starts = np.arange(0, SESSION_MINUTES, step)
        ends = np.append(starts[1:], SESSION_MINUTES)
        opens_ns = _session_open_ns(dates)
        # Only sessions with at least one bar in the window are simulated.
        session_first = opens_ns
        session_last = opens_ns + int(starts[-1]) * _MINUTE_NS
        useful = (session_last >= lo_ns) & (session_first < hi_ns)
        dates, opens_ns = dates[useful], opens_ns[useful]
        if dates.size == 0:
            return _empty()
        ts = (opens_ns[:, None] + starts * _MINUTE_NS).ravel()
        bar_end = (opens_ns[:, None] + ends * _MINUTE_NS).ravel()
        cols = _session_bars(seed, _day_index(dates), starts)
        keep = (ts >= lo_ns) & (ts < hi_ns) & (bar_end <= now_ns)
        if not keep.all():
            ts = ts[keep]
            cols = tuple(c[keep] for c in cols)
        return _frame(ts, cols)

    def _weekly(
        self,
        seed: int,
        first_day: np.datetime64,
        last_day: np.datetime64,
        lo_ns: int,
        hi_ns: int,
        now_ns: int,
    ) -> pd.DataFrame:
        # Whole weeks whose Monday lies in the window; the week's days come from the daily bars.
        weekday = (first_day.astype(np.int64) - 4) % 7  # 1970-01-01 was a Thursday
        first_monday = first_day - np.timedelta64(int(weekday), "D")
        dates = _session_dates(first_monday, last_day + 4)
        if dates.size == 0:
            return _empty()
        mondays = dates - ((dates.astype(np.int64) - 4) % 7).astype("timedelta64[D]")
        o, h, lo, c, v = _daily_bars(seed, _day_index(dates))
        groups = np.flatnonzero(np.r_[True, mondays[1:] != mondays[:-1]])
        keys = mondays[groups]
        weeks = (
            o[groups],
            np.maximum.reduceat(h, groups),
            np.minimum.reduceat(lo, groups),
            c[np.append(groups[1:], dates.size) - 1],
            np.add.reduceat(v, groups),
        )
        ts = keys.astype("datetime64[ns]").astype(np.int64)
        fridays = keys + 4
        friday_close = _session_open_ns(fridays) + SESSION_MINUTES * _MINUTE_NS
        keep = (ts >= lo_ns) & (ts < hi_ns) & (friday_close <= now_ns)
        return _frame(ts[keep], tuple(w[keep] for w in weeks))
