"""Backtest engine speed and memory (prints figures; never pass/fail).

    .venv/bin/python benchmarks/backtest.py [--bars 1000000] [--repeat 5]

* on_bar path: a seed-style MA cross (``if row["ma20"] > row["ma50"]: return "BUY"`` ...) in bars/s;
* vectorised path: the built-in ``ma_cross`` (own SMAs + numba kernel) in ms per backtest;
* peak traced memory (tracemalloc) of one backtest on each path, plus the process's max RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import Result
from algotrader.strategies import get_strategy


class SeedMACross:
    """The seed's MACrossStrategy, verbatim in spirit: a plain class, no base, state rule."""

    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        if row["ma20"] > row["ma50"]:
            return "BUY"
        if row["ma20"] < row["ma50"]:
            return "SELL"
        return None


def synthetic_frame(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` one-minute bars (random walk) with ma20 / ma50 columns."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    index = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC", name="ts")
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(n, 1_000.0),
        },
        index=index,
    )
    frame["ma20"] = frame["close"].rolling(20).mean()
    frame["ma50"] = frame["close"].rolling(50).mean()
    return frame


def _best(fn: Callable[[], Result], repeat: int) -> tuple[float, Result]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    return best, result


def _peak_mib(fn: Callable[[], Result]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # Before this process grows: a child's max RSS starts from its parent's size at fork.
    fresh = {path: _fresh_process_rss(args.bars, path) for path in ("on_bar", "vectorized")}
    frame = synthetic_frame(args.bars)
    frame_mib = frame.memory_usage(deep=True).sum() / 2**20
    print(f"frame: {len(frame):,} bars, {frame.shape[1]} columns, {frame_mib:.0f} MiB")

    seed = SeedMACross()
    fast = get_strategy("ma_cross")

    def on_bar_run() -> Result:
        return run_backtest(frame, seed, path="on_bar", resolution="1m")

    def fast_run() -> Result:
        return run_backtest(frame, fast, path="vectorized", resolution="1m")

    fast_run()  # numba compile / cache load
    t_bar, r_bar = _best(on_bar_run, max(1, args.repeat // 2))
    t_fast, r_fast = _best(fast_run, args.repeat)
    print(
        f"on_bar (seed-style ma cross): {args.bars / t_bar / 1e6:.2f} M bars/s "
        f"({t_bar * 1e3:.0f} ms, {len(r_bar.trades)} trades)"
    )
    print(
        f"vectorized (ma_cross):        {t_fast * 1e3:.1f} ms per backtest "
        f"({args.bars / t_fast / 1e6:.0f} M bars/s, {len(r_fast.trades)} trades)"
    )
    print(f"peak traced memory on_bar:     {_peak_mib(on_bar_run):.0f} MiB (excl. the frame)")
    print(f"peak traced memory vectorized: {_peak_mib(fast_run):.0f} MiB (excl. the frame)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process max RSS:          {rss:.0f} MiB (both paths, tracemalloc on)")
    for path, mib in fresh.items():
        print(
            f"peak RSS, one {path} backtest: {mib:.0f} MiB "
            "(fresh process: Python, numba, the frame, trades and equity curve)"
        )


def _fresh_process_rss(bars: int, path: str) -> float:
    """Max RSS of a new interpreter that builds the frame and runs one backtest (MiB)."""
    here = str(Path(__file__).parent)
    strategy = "b.SeedMACross()" if path == "on_bar" else "get_strategy('ma_cross')"
    code = (
        f"import resource, sys; sys.path.insert(0, {here!r}); import backtest as b; "
        "from algotrader.backtest.engine import run_backtest; "
        "from algotrader.strategies import get_strategy; "
        f"f = b.synthetic_frame({bars}); s = {strategy}; "
        f"r = run_backtest(f, s, path={path!r}, resolution='1m'); assert len(r.equity) == len(f); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


if __name__ == "__main__":
    main()
