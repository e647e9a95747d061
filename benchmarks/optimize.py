"""Optimisation speed, side by side with vectorbt and backtesting.py (prints figures; never
pass/fail).

    .venv/bin/python benchmarks/optimize.py [--repeat 7] [--minute-bars 1000000] [--skip-dask]

1. 10 x 10 grid of the MA cross (fast 10..28, slow 40..130), next-open fills, 2,500 daily bars:
   our compiled fast path end to end (``research.optimize``: every point's metrics and float32
   returns), ``Backtest.optimize`` (plus the best point's full result), vectorbt's broadcast grid
   (``MA.run`` + ``Portfolio.from_signals`` at the next open, then total return, Sharpe and max
   drawdown of every column) and backtesting.py's ``Backtest.optimize`` (peers need
   ``pip install -e ".[bench]"``).
2. The same 100 points on 1,000,000 one-minute bars, in this process on 1 and 2 threads.
3. The 1M-bar study on a Dask LocalCluster (2 single-threaded workers) and on the local process
   pool: the overhead is the wall time beyond the ideal (serial compute / 2 workers); it includes
   shipping the bars.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from algotrader import Backtest
from algotrader.research import optimize

FAST = list(range(10, 30, 2))
SLOW = list(range(40, 140, 10))


def bars(n: int, freq: str, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scale = 0.012 if freq == "B" else 0.0008
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0002 * scale / 0.012, scale, n)))
    open_ = np.r_[close[:1], close[:-1]] * (1 + rng.normal(0.0, scale / 4, n))
    index = pd.date_range("2010-01-04", periods=n, freq=freq, tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * (1 + scale / 3),
         "low": np.minimum(open_, close) * (1 - scale / 3), "close": close,
         "volume": np.full(n, 1_000.0)},
        index=index,
    )


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: JIT caches, imports
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def vectorbt_grid(frame: pd.DataFrame) -> Callable[[], Any] | None:
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    fast, slow = (a.ravel() for a in np.meshgrid(FAST, SLOW, indexing="ij"))
    close, open_ = frame["close"], frame["open"]

    def run() -> Any:
        fast_ma = vbt.MA.run(close, list(fast), short_name="fast")
        slow_ma = vbt.MA.run(close, list(slow), short_name="slow")
        entries = fast_ma.ma_crossed_above(slow_ma).vbt.fshift(1)
        exits = fast_ma.ma_crossed_below(slow_ma).vbt.fshift(1)
        pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, freq="1D",
                                        init_cash=100_000.0)
        return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown()

    return run


def _sma(values: Any, n: int) -> Any:
    return pd.Series(values).rolling(n).mean()


try:  # backtesting.py pickles the strategy class into its workers: define it at module level
    from backtesting import Strategy as _BtStrategy
    from backtesting.lib import crossover as _crossover

    class SmaCross(_BtStrategy):
        n1 = 20
        n2 = 50

        def init(self) -> None:
            self.fast = self.I(_sma, self.data.Close, self.n1)
            self.slow = self.I(_sma, self.data.Close, self.n2)

        def next(self) -> None:
            if _crossover(self.fast, self.slow):
                self.buy()
            elif _crossover(self.slow, self.fast):
                self.position.close()

except ImportError:  # pragma: no cover - the bench extra is optional
    SmaCross = None  # type: ignore[assignment,misc]


def backtesting_grid(frame: pd.DataFrame) -> Callable[[], Any] | None:
    if SmaCross is None:
        return None
    import backtesting.backtesting as bt_module
    from backtesting import Backtest as BtBacktest

    bt_module._tqdm = lambda seq, **_: seq  # no progress bars in the figures
    data = frame.rename(columns=str.capitalize).tz_localize(None)
    bt = BtBacktest(data, SmaCross, cash=100_000, commission=0.0, finalize_trades=True)

    def run() -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bt.optimize(n1=FAST, n2=SLOW, maximize="Sharpe Ratio")

    return run


def section_daily(repeat: int) -> None:
    frame = bars(2_500, "B")
    grid = {"fast": FAST, "slow": SLOW}
    runs: list[tuple[str, Callable[[], Any] | None, int]] = [
        ("algotrader fast path, all threads (research.optimize)",
         lambda: optimize(frame, "ma_cross", **grid), repeat),
        ("algotrader fast path, 1 thread",
         lambda: optimize(frame, "ma_cross", threads=1, **grid), repeat),
        ("algotrader Backtest.optimize (+ best point's full Result)",
         lambda: Backtest(frame, "ma_cross").optimize(**grid), repeat),
        ("vectorbt MA.run + Portfolio.from_signals (10x10 broadcast)", vectorbt_grid(frame),
         repeat),
        ("backtesting.py Backtest.optimize (grid, its process pool)", backtesting_grid(frame), 1),
    ]
    rows, cpu_rows = [], []
    for name, fn, times in runs:
        wall, cpu = best_with_cpu(fn, times) if fn else (float("nan"), float("nan"))
        rows.append((name, wall))
        if "process pool" not in name:  # its work happens in child processes
            cpu_rows.append((name, cpu))
    _table("10x10 MA-cross grid, 2,500 daily bars, next-open fills: wall time", rows, rows[0][1])
    _table("the same, CPU time of this process (robust to a busy machine)", cpu_rows,
           cpu_rows[1][1])


def section_minutes(n: int, repeat: int, dask: bool) -> None:
    frame = bars(n, "1min")
    grid = {"fast": FAST, "slow": SLOW}
    two, cpu2 = best_with_cpu(lambda: optimize(frame, "ma_cross", threads=2, **grid), repeat)
    one, cpu1 = best_with_cpu(lambda: optimize(frame, "ma_cross", threads=1, **grid), repeat)
    rows = [("algotrader fast path, in-process, 2 threads", two),
            ("algotrader fast path, in-process, 1 thread", one)]
    print(f"\nCPU time of the 1M-bar study in this process: {cpu1:.3f} s on 1 thread, "
          f"{cpu2:.3f} s on 2 (wall above that = waiting for a busy machine's cores)")
    from algotrader.executors import LocalExecutor

    with LocalExecutor(2) as pool:
        pool.start()
        local = _on_executor(pool, frame, grid)
    rows.append(("local process pool, 2 workers (ships open/close once per study)", local[0]))
    overheads = [("local process pool", local)]
    if dask:
        try:
            from algotrader.executors import DaskExecutor

            t0 = time.perf_counter()
            with DaskExecutor("local", workers=2) as ex:
                startup = time.perf_counter() - t0
                on_dask = _on_executor(ex, frame, grid)
            rows.append(("Dask LocalCluster, 2 workers (scatters open/close once per study)",
                         on_dask[0]))
            overheads.append(("Dask LocalCluster", on_dask))
            print(f"Dask cluster start-up (not part of the study): {startup:.2f} s")
        except ImportError:
            print("Dask not installed: pip install -e '.[dask]'")
    for name, (wall, compute) in overheads:
        overhead = wall - compute / 2
        print(f"{name}: wall {wall:.3f} s, compute inside tasks {compute:.3f} s (both workers), "
              f"overhead = wall - compute / 2 = {overhead:.3f} s "
              f"({'smaller' if overhead < compute else 'LARGER'} than the study's compute)")
    _table(f"100 MA-cross points on {n:,} one-minute bars", rows, two)


def best_with_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best


def _on_executor(executor: Any, frame: pd.DataFrame, grid: dict[str, Any]) -> tuple[float, float]:
    optimize(frame, "ma_cross", executor=executor, **grid)  # warm the workers
    best = (float("inf"), 0.0)
    for _ in range(2):
        t0 = time.perf_counter()
        study = optimize(frame, "ma_cross", executor=executor, **grid)
        best = min(best, (time.perf_counter() - t0, study.compute_seconds))
    return best


def _table(title: str, rows: list[tuple[str, float]], ours: float) -> None:
    print(f"\n{title}")
    print(f"{'engine':<66} {'time':>11} {'x ours':>8}")
    for name, seconds in rows:
        if seconds != seconds:
            print(f"{name:<66} {'n/a':>11} {'':>8}  (pip install -e '.[bench]')")
            continue
        print(f"{name:<66} {seconds * 1e3:>8.2f} ms {seconds / ours:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--minute-bars", type=int, default=1_000_000)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"cores: {os.cpu_count()}, load average: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          "(other work on the machine slows every figure)")
    section_daily(args.repeat)
    section_minutes(args.minute_bars, max(1, args.repeat // 2), not args.skip_dask)


if __name__ == "__main__":
    main()
