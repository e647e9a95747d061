"""`python -m scripts.cancel_order ORDER_ID` or `--order-id N` (= algotrader orders cancel)."""

from scripts import run

if __name__ == "__main__":
    run(["orders", "cancel"])
