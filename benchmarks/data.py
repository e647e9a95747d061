"""Time the data path's building blocks on 1,000,000 one-minute bars (figures only).

* the synthetic provider generating them;
* ``validate_bars`` checking them;
* the CSV provider reading, detecting and validating a file of them.

Run: .venv/bin/python benchmarks/data.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from algotrader.data.providers.csv import CsvProvider
    from algotrader.data.providers.synthetic import SyntheticProvider
    from algotrader.data.validation import validate_bars
    from algotrader.timeframes import parse_resolution

    minute = parse_resolution("1m")
    end = datetime(2025, 1, 1, tzinfo=UTC)
    provider = SyntheticProvider()
    # Enough calendar time for the requested number of regular-hours minutes.
    start = pd.Timestamp(end) - pd.Timedelta(days=int(args.rows / 390 * 7 / 5) + 10)
    bars = provider.fetch_bars("AAPL", minute, start.to_pydatetime(), end).iloc[-args.rows :]
    n = len(bars)
    generate = best_of(args.repeat, lambda: provider.fetch_bars("AAPL", minute, start, end))
    validate = best_of(args.repeat, lambda: validate_bars(bars))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bars.csv"
        out = bars.reset_index()
        out["ts"] = out["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
        out.to_csv(path, index=False)
        load = best_of(
            args.repeat,
            lambda: CsvProvider(path).fetch_bars("AAPL", minute, start, end + pd.Timedelta(days=1)),
        )
    print(f"bars: {n:,} one-minute bars (best of {args.repeat})")
    print(f"synthetic generation  {generate * 1e3:8.1f} ms  {n / generate / 1e6:6.2f} M bars/s")
    print(f"validate_bars         {validate * 1e3:8.1f} ms  {n / validate / 1e6:6.2f} M bars/s")
    print(f"CSV read + validate   {load * 1e3:8.1f} ms  {n / load / 1e6:6.2f} M bars/s")
    assert np.isfinite(bars["close"].to_numpy()).all()


if __name__ == "__main__":
    main()
