"""`python -m scripts.test_connection ...` = `algotrader ib check ...`."""

from scripts import run

if __name__ == "__main__":
    run(["ib", "check"])
