"""`python -m scripts.place_order --symbol TSLA --action BUY --quantity 1` (= orders place)."""

from scripts import run

if __name__ == "__main__":
    run(["orders", "place"])
