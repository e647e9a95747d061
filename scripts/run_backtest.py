"""`python -m scripts.run_backtest --symbol AAPL --strategy ma_cross` (seed 002): a backtest that
fetches missing data automatically, with the full plot."""

import sys

from scripts import run

if __name__ == "__main__":
    args = sys.argv[1:]
    extra = [] if "--auto-fetch" in args else ["--auto-fetch"]
    run(["backtest", *extra, *args])
