"""Time a batch backtest from the database: N symbols x 10 years of daily bars, `ma_cross`,
end to end as `algotrader backtest -s A,B,...` runs it (load, backtest, store each run).

Prints the default (this process first, worker processes on every core only when the first
symbols say the rest would outlast starting them), then forced serial (`--jobs 1`) and forced
pool (`--jobs N`) side by side, and checks all three stored the same metrics and fingerprints.

Run: .venv/bin/python benchmarks/batch.py [--symbols 50] [--strategy ma_cross] [--jobs 2]
     [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def _timed(settings: Any, requests: list[Any], jobs: int | None) -> tuple[float, list[Any]]:
    from algotrader.app.backtests import run_batch

    started = time.perf_counter()
    items = run_batch(settings, requests, jobs=jobs)
    return time.perf_counter() - started, items


def _same(a: list[Any], b: list[Any]) -> bool:
    def key(items: list[Any]) -> list[Any]:
        return [(i.symbol, i.run.fingerprint, i.run.result.metrics) for i in items if i.run]

    return key(a) == key(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--strategy", default="ma_cross")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from algotrader.app.backtests import BacktestRequest, run_batch
    from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
    from algotrader.config import load_settings
    from algotrader.timeframes import parse_duration, parse_resolution

    daily = parse_resolution("1d")
    symbols = tuple(f"S{k:03d}" for k in range(args.symbols))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'batch.db'}"
        settings = load_settings(database_url=url, data_dir=tmp, log_dir=tmp)
        t0 = time.perf_counter()
        window = IngestWindow(parse_duration("10 Y"))
        ingest(settings, IngestRequest(symbols, (daily,), window, source="synthetic"))
        loaded = time.perf_counter() - t0
        requests = [BacktestRequest(s, daily, args.strategy) for s in symbols]
        run_batch(settings, requests[:2], jobs=1)  # warm-up: imports, numba cache, connections
        paths = (("default", None), ("serial", 1), ("pool", args.jobs))
        runs = {label: _timed(settings, requests, jobs) for label, jobs in paths}
    print(f"ingest of {len(symbols)} symbols x 10 Y daily (synthetic): {loaded:.2f} s (setup)")
    for label, (elapsed, items) in runs.items():
        ok = sum(item.run is not None for item in items)
        bars = sum(len(item.run.frame) for item in items if item.run is not None)
        how = f"--jobs {args.jobs}" if label == "pool" else label
        print(
            f"batch backtest, {args.strategy}, from the database ({how}): {elapsed:.2f} s for "
            f"{ok} runs ({bars:,} bars, {elapsed / max(ok, 1) * 1e3:.1f} ms per symbol)"
            + ("  target <= 5 s" if label == "default" else "")
        )
    same = all(_same(runs["serial"][1], items) for _, items in runs.values())
    print(f"same metrics and fingerprints on every path: {same}")


if __name__ == "__main__":
    main()
