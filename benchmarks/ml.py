"""ML speed figures (printed, no verdict): feature building and LightGBM walk-forward.

* features for 10 symbols x 10 years of daily bars (target <= 1 s);
* features for 1,000,000 one-minute bars (target <= 3 s);
* LightGBM walk-forward, quarterly retraining, 10 years x 10 symbols (target <= 60 s, 2 cores).

Bars come from the synthetic provider with their indicator columns computed first, as stored by
an ingest; each feature figure is the best of several repeats after one untimed run.

Run: .venv/bin/python benchmarks/ml.py [--repeat R] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.indicators import compute_indicators
from algotrader.ml.features import build_features
from algotrader.ml.pipeline import TrainConfig, train_walk_forward
from algotrader.timeframes import Duration

SYMBOLS = ("AAPL", "MSFT", "SPY", "TSLA", "NVDA", "AMZN", "META", "GOOG", "JPM", "XOM")
END = datetime(2025, 1, 1, tzinfo=UTC)


def stored_bars(symbol: str, resolution: str, start: datetime) -> pd.DataFrame:
    bars = SyntheticProvider(clock=lambda: END).fetch_bars(symbol, resolution, start, END)
    return pd.concat([bars, compute_indicators(bars)], axis=1)


def best_of(repeat: int, work: Callable[[], object]) -> float:
    work()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="LightGBM num_threads (1: no OpenMP spinning)"
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")

    daily = {s: stored_bars(s, "1d", datetime(2015, 1, 1, tzinfo=UTC)) for s in SYMBOLS}
    rows = sum(len(f) for f in daily.values())
    seconds = best_of(args.repeat, lambda: [build_features(f) for f in daily.values()])
    print(f"features, 10 symbols x 10 years daily ({rows:,} bars, 26 features): {seconds:.3f} s")

    minute = stored_bars("SPY", "1m", datetime(2015, 1, 1, tzinfo=UTC)).iloc[-1_000_000:]
    seconds = best_of(args.repeat, lambda: build_features(minute))
    print(f"features, {len(minute):,} one-minute bars (26 features): {seconds:.3f} s")

    config = TrainConfig(
        model="lightgbm",
        params={"num_threads": args.threads},
        target="fwd_return",
        horizon=5,
        train=Duration(3, "Y"),
        retrain_every=Duration(3, "M"),
    )
    started = time.perf_counter()
    result = train_walk_forward(daily, config)
    seconds = time.perf_counter() - started
    overall = result.metrics["overall"]
    print(
        f"LightGBM walk-forward, 10 symbols x 10 years daily, quarterly retraining "
        f"({len(result.trained.periods)} models, {args.threads} threads, 200 trees): "
        f"{seconds:.1f} s (out-of-sample rows {overall['n']:,}, rank IC {overall['rank_ic']:.4f})"
    )


if __name__ == "__main__":
    main()
