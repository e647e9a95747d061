"""``algotrader.broker``: orders through IBKR with pre-trade risk checks and an order log.

- :mod:`algotrader.broker.orders`: :class:`OrderRequest`, :func:`place_order`,
  :func:`cancel_order`, :func:`list_orders`, :func:`open_gateway_orders`,
  :func:`sync_orders`.
- :mod:`algotrader.broker.risk`: limits from settings, the notional price, paper vs live.
- :mod:`algotrader.broker.orderlog`: the ``orders`` table (status history).
"""

from algotrader.broker.orderlog import OrderLog, StoredOrder
from algotrader.broker.orders import (
    GatewayOrder,
    OrderRequest,
    PlaceResult,
    cancel_order,
    client_ref_for,
    list_orders,
    open_gateway_orders,
    place_order,
    sync_orders,
)
from algotrader.broker.risk import LiveTradingRefusedError, RiskLimitError

__all__ = [
    "GatewayOrder",
    "LiveTradingRefusedError",
    "OrderLog",
    "OrderRequest",
    "PlaceResult",
    "RiskLimitError",
    "StoredOrder",
    "cancel_order",
    "client_ref_for",
    "list_orders",
    "open_gateway_orders",
    "place_order",
    "sync_orders",
]
