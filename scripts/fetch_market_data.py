"""`python -m scripts.fetch_market_data ...` = `algotrader fetch ...`."""

from scripts import run

if __name__ == "__main__":
    run(["fetch"])
