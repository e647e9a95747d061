"""Time compute_indicators against TA-Lib on 1,000,000 bars (figures only, no verdict).

TA-Lib computes the same set the frame needs: SMA20, SMA50, EMA12, EMA26, MACD, BBANDS, TRANGE,
ATR14, RSI14 and ATR10 (SuperTrend's ATR). Both sides run once untimed first, so numba's
compile/cache load and first-touch page faults stay out of the figures; the best of several
repeats is reported.

Run: .venv/bin/python benchmarks/indicators.py [--bars N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import talib

from algotrader.indicators import compute_indicators


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
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    frame = make_bars(args.bars)
    ours = best_of(lambda: compute_indicators(frame), args.repeat)
    theirs = best_of(lambda: talib_set(frame), args.repeat)

    print(f"bars                      {args.bars:>12,d}")
    print(f"compute_indicators        {ours * 1e3:12.2f} ms")
    print(f"TA-Lib (same set)         {theirs * 1e3:12.2f} ms")
    print(f"ratio ours / TA-Lib       {ours / theirs:12.2f}")
    print(f"compute_indicators bars/s {args.bars / ours:12,.0f}")
    print(f"TA-Lib bars/s             {args.bars / theirs:12,.0f}")


if __name__ == "__main__":
    main()
