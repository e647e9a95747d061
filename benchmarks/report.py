"""HTML report speed and size (prints figures; never pass/fail).

    .venv/bin/python benchmarks/report.py [--bars 1000000] [--repeat 3] [--strategy macd]

Builds ``--bars`` synthetic 1-minute bars with indicators, runs one backtest (not timed here:
see benchmarks/backtest.py), then times ``backtest_report(result, bars).write(path)`` (figure
building, HTML serialisation with plotly.js embedded, writing) and prints the file size.
Target (issue 11): 1,000,000 bars written in <= 3 s and <= 15 MB.

``--others`` also times the reports of the other result kinds on daily synthetic bars: a
portfolio of 20 symbols over 10 years, a study of about 800 points (with its best point's
backtest report) and a walk-forward analysis (the computations themselves are not timed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from algotrader.backtest import Backtest
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.indicators import compute_indicators
from algotrader.reports import RunInfo, backtest_report
from algotrader.timeframes import parse_resolution


def minute_bars(n: int) -> pd.DataFrame:
    """The last ``n`` synthetic RTH 1-minute bars up to 2025 (about 98,000 a year)."""
    end = datetime(2025, 1, 1, tzinfo=UTC)
    years = n / 95_000 + 1
    bars = SyntheticProvider().fetch_bars("SPY", parse_resolution("1m"),
                                          end - timedelta(days=365.25 * years), end)
    bars = bars.iloc[-n:]
    return pd.concat([bars, compute_indicators(bars)], axis=1)


def daily_bars(symbols: int, years: int = 10) -> dict[str, pd.DataFrame]:
    end = datetime(2025, 1, 1, tzinfo=UTC)
    start = end - timedelta(days=round(365.25 * years))
    provider = SyntheticProvider()
    return {f"S{k:02d}": provider.fetch_bars(f"S{k:02d}", parse_resolution("1d"), start, end)
            for k in range(symbols)}


def _time_report(label: str, build: Any, repeat: int) -> None:
    timings, size = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeat):
            t0 = time.perf_counter()
            path = build().write(Path(tmp) / f"{k}.html")
            timings.append(time.perf_counter() - t0)
            size = path.stat().st_size
    print(f"  {label:52} {statistics.median(timings):6.2f} s  {size / 1e6:6.2f} MB")


def others(repeat: int) -> None:
    """The portfolio, study and walk-forward reports (build, render and write)."""
    from algotrader.portfolio import Portfolio
    from algotrader.reports import build_report
    from algotrader.research import StudyConfig, parse_grid, run_study, walk_forward

    bars = daily_bars(20)
    portfolio = Portfolio(bars, "inverse_vol", "monthly").run()
    frame = bars["S00"]
    frame = pd.concat([frame, compute_indicators(frame)], axis=1)
    config = StudyConfig("ma_cross", parse_grid(["fast=5:50:1", "slow=20:200:10"]),
                         constraint="fast < slow")
    study = run_study({"S00": frame}, config)
    walk = walk_forward(frame, StudyConfig("ma_cross", parse_grid(["fast=5:50:5",
                                                                   "slow=20:200:20"])),
                        train="2 Y", test="6 M", symbol="S00")
    print(f"other reports, median of {repeat} (build figures and tables, render, write):")
    _time_report(f"portfolio: 20 symbols x {len(frame):,} daily bars",
                 lambda: build_report(portfolio), repeat)
    _time_report(f"study: {study.n_trials:,} points + the best point's report",
                 lambda: build_report(study, bars=frame), repeat)
    _time_report(f"walk-forward: {len(walk.folds)} folds, {len(walk.equity):,} bars",
                 lambda: build_report(walk, symbol="S00"), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategy", default="macd")
    parser.add_argument("--others", action="store_true",
                        help="also time the portfolio, study and walk-forward reports")
    args = parser.parse_args()

    started = time.perf_counter()
    bars = minute_bars(args.bars)
    result = Backtest(bars, args.strategy, resolution="1m").run()
    print(f"setup: {len(bars):,} bars, {len(result.trades):,} trades "
          f"({time.perf_counter() - started:.1f} s, not counted)")
    small = bars.iloc[:2000]
    backtest_report(Backtest(small, args.strategy, resolution="1m").run(), small).to_html()

    timings, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            path = Path(tmp) / f"r{k}.html"
            t0 = time.perf_counter()
            report = backtest_report(result, bars, symbol="SPY",
                                     run=RunInfo(symbol="SPY", synthetic=True))
            t1 = time.perf_counter()
            html = report.to_html()
            t2 = time.perf_counter()
            path.write_text(html, encoding="utf-8")
            t3 = time.perf_counter()
            timings.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0))
            sizes.append(path.stat().st_size)
    build, render, write, total = (statistics.median(t[i] for t in timings) for i in range(4))
    print(f"report of {len(bars):,} bars ({args.strategy}, {len(result.trades):,} trades), "
          f"median of {args.repeat}:")
    print(f"  build figures and tables  {build:6.2f} s")
    print(f"  render HTML               {render:6.2f} s")
    print(f"  write file                {write:6.2f} s")
    print(f"  total                     {total:6.2f} s   (target <= 3 s)")
    print(f"  size                      {sizes[0] / 1e6:6.2f} MB  (target <= 15 MB; "
          f"plotly.js alone is {len(_plotly_js()) / 1e6:.2f} MB)")
    if args.others:
        others(args.repeat)


def _plotly_js() -> str:
    from algotrader.reports import plotly_js

    return plotly_js()


if __name__ == "__main__":
    main()
