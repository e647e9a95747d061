"""Portfolio engine speed and memory against vectorbt (prints figures; never pass/fail).

    .venv/bin/python benchmarks/portfolio.py [--bars 2520] [--repeat 5]

Workload (issue 9): equal weight, monthly rebalance (decided on the first bar of each month,
filled at the next bar's open), one shared cash account, no costs, 2,520 daily bars, data in
memory.

* ours: ``run_portfolio`` on a prebuilt panel: schedule, targets, the numba kernel, and the
  result (equity, weights, fills, round trips, per-symbol table, benchmark, metrics);
* vectorbt: ``Portfolio.from_orders`` with ``size_type="targetpercent"``, ``cash_sharing=True``,
  ``call_seq="auto"`` (sells first), sizes shifted one bar and ``price`` = the open (next-open
  fills), plus ``.value()`` to get the equity curve it computes lazily.

Both run once untimed first (numba compile or cache load); the best of ``--repeat`` runs is
reported, with the ratio, and the final equities are compared. Memory: tracemalloc peak of one
run (the input arrays excluded) at 100, 500 and 1,000 symbols.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from algotrader.portfolio import EqualWeight, PortfolioConfig, build_panel, run_portfolio
from algotrader.portfolio.panel import Panel
from algotrader.portfolio.schedules import period_starts


def make_bars(n_symbols: int, n_bars: int, seed: int = 11) -> dict[str, pd.DataFrame]:
    """Seeded random walks (daily vol 0.7 % .. 2.1 %) on one business-day calendar."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2010-01-04", periods=n_bars, freq="B", tz="UTC", name="ts")
    vol = rng.uniform(0.007, 0.021, n_symbols)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 1.0, (n_bars, n_symbols)) * vol, axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.3, (n_bars, n_symbols)) * vol)
    out = {}
    for j in range(n_symbols):
        out[f"S{j:04d}"] = pd.DataFrame(
            {
                "open": open_[:, j],
                "high": np.maximum(open_[:, j], close[:, j]),
                "low": np.minimum(open_[:, j], close[:, j]),
                "close": close[:, j],
                "volume": np.full(n_bars, 1e6),
            },
            index=index,
        )
    return out


def ours(panel: Panel) -> Callable[[], float]:
    config = PortfolioConfig(rebalance="monthly")

    def run() -> float:
        return float(run_portfolio(panel, EqualWeight(), config).equity.iloc[-1])

    return run


def vectorbt_run(panel: Panel) -> Callable[[], float]:
    import vectorbt as vbt

    columns = list(panel.symbols)
    price = pd.DataFrame(np.array(panel.open), index=panel.index, columns=columns)
    close = pd.DataFrame(np.array(panel.close), index=panel.index, columns=columns)
    size = np.full(price.shape, np.nan)
    decided = np.flatnonzero(period_starts(panel.index, "monthly"))
    size[decided[decided + 1 < len(panel.index)] + 1] = 1.0 / len(columns)
    sizes = pd.DataFrame(size, index=panel.index, columns=columns)

    def run() -> float:
        pf = vbt.Portfolio.from_orders(
            close, sizes, size_type="targetpercent", price=price, init_cash=100_000.0,
            cash_sharing=True, group_by=True, call_seq="auto", freq="1D",
        )
        return float(pf.value().iloc[-1])

    return run


def best_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def peak_mib(fn: Callable[[], Any]) -> float:
    fn()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average: {load} on {os.cpu_count()} cores (other jobs share them)")
    import vectorbt

    print(f"equal weight, monthly, next-open fills, {args.bars} daily bars, data in memory; "
          f"vectorbt {vectorbt.__version__}, best of {args.repeat}\n")
    print(f"{'symbols':>7} {'panel build':>12} {'ours':>9} {'vectorbt':>9} {'ratio':>6} "
          f"{'final equity rel. diff':>23}")
    panels = {}
    for n in (100, 500, 1000):
        bars = make_bars(n, args.bars)
        t0 = time.perf_counter()
        panels[n] = panel = build_panel(bars)
        build = (time.perf_counter() - t0) * 1e3
        if n == 1000:
            continue
        mine, theirs = ours(panel), vectorbt_run(panel)
        t_ours, t_vbt = best_ms(mine, args.repeat), best_ms(theirs, args.repeat)
        diff = abs(mine() / theirs() - 1.0)
        print(f"{n:>7} {build:>9.0f} ms {t_ours:>6.1f} ms {t_vbt:>6.1f} ms {t_vbt / t_ours:>5.1f}x "
              f"{diff:>23.1e}")
    print(f"\n{'symbols':>7} {'input (OHLCV)':>14} {'ours peak':>10} {'per cell':>9} "
          f"{'vectorbt peak':>14} {'per cell':>9}")
    for n, panel in panels.items():
        cells = panel.n_bars * panel.n_symbols
        data = 5 * cells * 8 / 2**20
        mib_ours = peak_mib(ours(panel))
        mib_vbt = peak_mib(vectorbt_run(panel))
        print(f"{n:>7} {data:>10.1f} MiB {mib_ours:>6.1f} MiB {mib_ours * 2**20 / cells:>6.0f} B "
              f"{mib_vbt:>10.1f} MiB {mib_vbt * 2**20 / cells:>6.0f} B")


if __name__ == "__main__":
    main()
