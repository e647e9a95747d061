"""``algotrader.broker``: pre-trade risk checks and the order log.

- :mod:`algotrader.broker.risk`: limits from settings, the notional price, paper vs live.
- :mod:`algotrader.broker.orderlog`: the ``orders`` table (status history).

The order use cases are in :mod:`algotrader.app.orders`; the Interactive Brokers gateway in
:mod:`algotrader.ibkr.orders`.
"""

from algotrader.broker.orderlog import OrderLog, StoredOrder
from algotrader.broker.risk import LiveTradingRefusedError, RiskLimitError

__all__ = ["LiveTradingRefusedError", "OrderLog", "RiskLimitError", "StoredOrder"]
