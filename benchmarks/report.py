"""HTML report speed and size (prints figures; never pass/fail).

    .venv/bin/python benchmarks/report.py [--bars 1000000] [--repeat 3] [--strategy macd]

Builds ``--bars`` synthetic 1-minute bars with indicators, runs one backtest (not timed here:
see benchmarks/backtest.py), then times ``backtest_report(result, bars).write(path)`` (figure
building, HTML serialisation with plotly.js embedded, writing) and prints the file size.
Target (issue 11): 1,000,000 bars written in <= 3 s and <= 15 MB.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategy", default="macd")
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


def _plotly_js() -> str:
    from algotrader.reports import plotly_js

    return plotly_js()


if __name__ == "__main__":
    main()
