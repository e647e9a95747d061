"""Time a batch backtest from the database: N symbols x 10 years of daily bars, `ma_cross`,
end to end as `algotrader backtest -s A,B,...` runs it (load, backtest, store each run).

Run: .venv/bin/python benchmarks/batch.py [--symbols 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
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
        requests = [BacktestRequest(s, daily, "ma_cross") for s in symbols]
        run_batch(settings, requests[:2])  # warm-up: imports, numba cache, connections
        t1 = time.perf_counter()
        items = run_batch(settings, requests)
        elapsed = time.perf_counter() - t1
    ok = sum(item.run is not None for item in items)
    bars = sum(len(item.run.frame) for item in items if item.run is not None)
    print(f"ingest of {len(symbols)} symbols x 10 Y daily (synthetic): {loaded:.2f} s (setup)")
    print(
        f"batch backtest, ma_cross, from the database: {elapsed:.2f} s for {ok} runs "
        f"({bars:,} bars, {elapsed / max(ok, 1) * 1e3:.1f} ms per symbol)  target <= 5 s"
    )


if __name__ == "__main__":
    main()
