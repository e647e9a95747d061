"""``--broker ib``: the Interactive Brokers venue of a trading session (bars and broker).

:func:`open_ib_venue` is the :class:`~algotrader.ports.trading.VenueFactory` the trading use
case (:mod:`algotrader.app.trading`) calls for ``--broker ib``. It opens, on the gateway of
``settings``: a :class:`~algotrader.ports.trading.LiveBarSource` over ``keepUpToDate`` history
(reconnect + backfill) and a :class:`~algotrader.ports.trading.Broker` over the existing order
code (:mod:`algotrader.ibkr.orders`). It must refuse a live account or port unless ``live``
(:func:`algotrader.app.risk.refuse_live_port`, :func:`algotrader.app.risk.check_trading_mode`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from algotrader.config import Settings
from algotrader.errors import InvalidInputError
from algotrader.ports.trading import TradingVenue


@asynccontextmanager
async def open_ib_venue(
    settings: Settings, symbols: Sequence[str], bar_size: str, *, live: bool
) -> AsyncIterator[TradingVenue]:
    """The IB bar source and broker for ``symbols`` at ``bar_size`` (closed on exit)."""
    raise InvalidInputError("--broker ib is not available in this build yet", "use --broker paper")
    yield  # pragma: no cover  (an async generator: the adapter replaces the body)
