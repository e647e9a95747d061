"""Indicator speed against TA-Lib on 1,000,000 bars, family by family (figures only, no verdict).

Each family is timed on the same arrays as its TA-Lib counterpart (SMA, EMA, MACD, BBANDS, TRANGE,
ATR, RSI); the all-time high is compared with numpy's running maximum and SuperTrend (which TA-Lib
lacks) with TA-Lib's ATR(10) alone, the part of it TA-Lib could do. The last rows time the whole
stored set (``compute_indicators``) against TA-Lib computing the same set. Both sides run once
untimed first (numba cache load); the best CPU time of several repeats is shown (the machine is
shared: CPU time leaves out the time spent waiting for a core, not the page faults of fresh
output arrays, which both sides pay).

Run: .venv/bin/python benchmarks/indicators.py [--bars N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import talib

from algotrader import indicators as ind


def make_bars(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.0003, n - 1))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.0005, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.0005, n))
    volume = rng.integers(100, 10_000, n).astype(np.float64)
    index = pd.date_range("2000-01-03", periods=n, freq="min", tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def talib_set(frame: pd.DataFrame) -> None:
    h = frame["high"].to_numpy()
    lo = frame["low"].to_numpy()
    c = frame["close"].to_numpy()
    talib.SMA(c, 20)
    talib.SMA(c, 50)
    talib.EMA(c, 12)
    talib.EMA(c, 26)
    talib.MACD(c, 12, 26, 9)
    talib.BBANDS(c, 20, 2.0, 2.0, 0)
    talib.TRANGE(h, lo, c)
    talib.ATR(h, lo, c, 14)
    talib.RSI(c, 14)
    talib.ATR(h, lo, c, 10)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best CPU time of ``repeat`` runs: on a shared machine, time spent waiting for a core is
    not the code's (for single-threaded code on an idle machine it equals the wall time)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def families(frame: pd.DataFrame) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    h = np.ascontiguousarray(frame["high"].to_numpy())
    lo = np.ascontiguousarray(frame["low"].to_numpy())
    c = np.ascontiguousarray(frame["close"].to_numpy())
    return {
        "SMA(20)": (lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        "EMA(12)": (lambda: ind.ema(c, 12), lambda: talib.EMA(c, 12)),
        "MACD(12,26,9)": (lambda: ind.macd(c), lambda: talib.MACD(c, 12, 26, 9)),
        "Bollinger(20,2)": (lambda: ind.bollinger(c), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        "true range": (lambda: ind.true_range(h, lo, c), lambda: talib.TRANGE(h, lo, c)),
        "ATR(14)": (lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
        "RSI(14)": (lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        "all-time high (vs numpy)": (
            lambda: ind.all_time_high(h), lambda: np.maximum.accumulate(h)
        ),
        "SuperTrend(10,3) (vs ATR(10))": (
            lambda: ind.supertrend(h, lo, c), lambda: talib.ATR(h, lo, c, 10)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    frame = make_bars(args.bars)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.bars:,} bars; best CPU time of "
          f"{args.repeat}")
    print(f"| {'family':<32} | {'ours ms':>8} | {'peer ms':>8} | {'ours / peer':>11}")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 10}|{'-' * 13}")
    rows = [*families(frame).items()]
    rows.append(("stored set: compute_indicators", (
        lambda: ind.compute_indicators(frame), lambda: talib_set(frame)
    )))
    for name, (ours_fn, peer_fn) in rows:
        ours = best_of(ours_fn, args.repeat)
        peer = best_of(peer_fn, args.repeat)
        print(f"| {name:<32} | {ours * 1e3:8.2f} | {peer * 1e3:8.2f} | {ours / peer:11.2f}")


if __name__ == "__main__":
    main()
