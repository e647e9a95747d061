"""`python -m scripts.backtest -s SPY -r 1d [--auto-fetch] [--plot [full]] ...`
= `algotrader backtest ...`."""

from scripts import run

if __name__ == "__main__":
    run(["backtest"])
