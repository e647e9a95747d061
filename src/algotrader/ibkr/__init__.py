"""``algotrader.ibkr``: everything Interactive Brokers, over ``ib_async``.

- :mod:`algotrader.ibkr.connection`: connecting with clear errors, a reconnecting connection,
  paper/live and simulator facts.
- :mod:`algotrader.ibkr.contracts`: qualifying stocks, instrument facts from contract details.
- :mod:`algotrader.ibkr.history`: chunk planning, the backwards walk, pacing and retries.
- :mod:`algotrader.ibkr.provider`: :class:`~algotrader.ibkr.provider.IbkrProvider`, the bar
  provider behind ``--source ibkr``.
- :mod:`algotrader.ibkr.orders`: :class:`~algotrader.ibkr.orders.IbOrderGateway`, the order
  gateway behind ``algotrader orders``.
"""

from algotrader.ibkr.connection import connect_ib, is_live_port, is_paper_account, is_simulator

__all__ = ["connect_ib", "is_live_port", "is_paper_account", "is_simulator"]
