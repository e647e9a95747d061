"""`python -m scripts.run_backtest --symbol AAPL --strategy ma_cross` (seed 002): a backtest that
fetches missing data automatically and saves the full plot (equity, drawdown and metrics)."""

import sys

from scripts import run

if __name__ == "__main__":
    args = sys.argv[1:]
    extra = [] if "--auto-fetch" in args else ["--auto-fetch"]
    if "--plot" not in args and "--json" not in args:
        extra += ["--plot", "full"]
    run(["backtest", *args, *extra])
