"""``algotrader.ports``: the Protocols (and their value objects) adapters implement."""
