"""`python -m scripts.test_db_connection ...` = `algotrader db check ...`."""

from scripts import run

if __name__ == "__main__":
    run(["db", "check"])
