"""``algotrader.app``: the use cases every front end calls (typed inputs and results)."""
