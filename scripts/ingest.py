"""`python -m scripts.ingest ...` = `algotrader ingest ...`."""

from scripts import run

if __name__ == "__main__":
    run(["ingest"])
