"""The live-trading ports: where completed bars come from and where orders go.

The trading loop (:mod:`algotrader.app.trading`) runs one :class:`~algotrader.strategies.Strategy`
on live bars exactly as a backtest runs it on stored ones. It talks to the outside world through
two protocols only, so the same loop trades on the internal paper broker, on the TWS simulator
and on an Interactive Brokers paper account:

- :class:`LiveBarSource` yields :class:`LiveBar` values: *completed* bars, in time order per
  symbol. A bar is complete when the next period has started (IB's ``keepUpToDate`` history:
  the completed bar is ``bars[-2]`` once ``hasNewBar`` is True), which is also the moment the
  next bar's open is known, so :attr:`LiveBar.next_open` carries it.
- :class:`Broker` takes :class:`TradeOrder` values (each with a deterministic ``client_ref``, IB's
  ``orderRef``) and reports :class:`OrderStatusEvent` and :class:`Fill` values to one listener.
  For reconciliation after a restart it answers :meth:`Broker.open_orders`,
  :meth:`Broker.positions` and :meth:`Broker.executions`.

Adapters: :class:`algotrader.paper.PaperBroker` and :class:`algotrader.paper.ReplayBarSource`
(no account needed), and the Interactive Brokers adapters (in ``algotrader.ibkr``) that
:func:`algotrader.app.trading_ib.open_ib_venue` opens for ``--broker ib``. Every timestamp here
is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from algotrader.ports.orders import OrderRequest

Side = Literal["BUY", "SELL"]


@dataclass(frozen=True, slots=True)
class LiveBar:
    """One completed bar of one symbol, as the loop receives it.

    - ``symbol``: upper-case ticker; ``bar_size``: the resolution name of
      :mod:`algotrader.timeframes` (``"1m"``, ``"5m"``, ``"1h"``, ``"1d"``).
    - ``start``: the bar's open time (UTC, tz-aware), the key it is stored under
      (``market_prices.ts``), the same convention as ingested history.
    - ``open``/``high``/``low``/``close``/``volume``: the final values of the bar.
    - ``is_backfill``: True for a bar fetched after a (re)connect to fill a gap (history, not
      news): the loop stores it and lets the strategy see it, but never trades on it.
    - ``next_open``: the first price of the following bar when the source knows it at the
      moment this bar completes (IB ``keepUpToDate``: the forming bar's open; a replay: the next
      bar's open); it is the price a market order sent now fills at, so entries are sized with
      it exactly as the backtest sizes them with bar t+1's open. None when unknown (sizing then
      uses ``close``).
    """

    symbol: str
    bar_size: str
    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    is_backfill: bool = False
    next_open: float | None = None


class LiveBarSource(Protocol):
    """Completed bars for a set of symbols at one bar size.

    :meth:`subscribe` returns an async iterator that yields :class:`LiveBar` values in time order
    per symbol (symbols may interleave), never the forming bar, and never a bar twice in one
    subscription. ``since`` maps a symbol to the start of the last bar the loop has processed:
    the source first yields the bars after it that it can still get (flagged ``is_backfill``),
    then live ones; after a dropped connection it reconnects, backfills the gap the same way
    and carries on. The iterator ends when the source is finished (a replay ran out) or closed.
    """

    @property
    def name(self) -> str:
        """A short name for messages and the session row (``replay``, ``ib``)."""
        ...

    def subscribe(
        self,
        symbols: Sequence[str],
        bar_size: str,
        since: Mapping[str, datetime] | None = None,
    ) -> AsyncIterator[LiveBar]:
        """Start streaming completed bars of ``symbols`` (see the class docstring)."""
        ...

    async def close(self) -> None:
        """Stop every subscription; a running iterator ends."""
        ...


@dataclass(frozen=True, slots=True)
class TradeOrder:
    """An order the loop sends: a market (or limit) order with its client reference.

    ``client_ref`` is deterministic (session, symbol, bar time, side; see
    :func:`algotrader.app.trading.trade_ref`), so after a restart the loop recognises an order it
    already sent and never sends it twice; brokers keep it with the order and its executions
    (IB: ``Order.orderRef``). ``quantity`` > 0 in shares; ``side`` ``BUY`` or ``SELL``.
    """

    client_ref: str
    symbol: str
    side: Side
    quantity: float
    order_type: Literal["MKT", "LMT"] = "MKT"
    limit_price: float | None = None
    tif: Literal["DAY", "GTC"] = "DAY"

    def __post_init__(self) -> None:
        # Validate once with the order code's own rules (symbol, quantity, prices).
        self.request()

    def request(self) -> OrderRequest:
        """The order as the order use cases and :class:`~algotrader.ports.orders.OrderTicket`
        know it (``ref`` left None: the client reference travels separately)."""
        return OrderRequest(
            symbol=self.symbol,
            action=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            limit_price=self.limit_price,
            tif=self.tif,
        )

    @property
    def signed_quantity(self) -> float:
        """``quantity`` with the sign of the position change (+ buys, - sells)."""
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True, slots=True)
class OrderAck:
    """What :meth:`Broker.place` answered.

    ``status`` is the first status the broker gave (``PreSubmitted``, ``Submitted``,
    ``Filled``, ``Inactive``/``Rejected`` with ``message``); ``broker_order_id`` its id for the
    order (IB: the permId once known, else the orderId, as text; paper: ``P1``...).
    ``duplicate`` is True when the broker already knew an order with this ``client_ref``: nothing
    was sent, the ack describes the existing order.
    """

    client_ref: str
    broker_order_id: str
    status: str
    duplicate: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class OrderStatusEvent:
    """A status change of a sent order, as the broker reports it (advisory: positions come
    from :class:`Fill` values, because IB does not always report ``Filled`` for market orders).

    ``filled`` and ``remaining`` are cumulative quantities; ``avg_fill_price`` None before any
    fill; ``message`` the broker's text for rejections and cancels (IB error text).
    """

    client_ref: str
    broker_order_id: str
    status: str
    filled: float
    remaining: float
    avg_fill_price: float | None
    ts: datetime
    message: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: part or all of an order.

    ``exec_id`` is unique per execution at the broker (IB ``execId``), so storing fills is
    idempotent however often they are reported (live, then again by :meth:`Broker.executions`
    after a reconnect). ``quantity`` > 0; ``side`` says the direction. ``commission`` is the
    fee of this execution (IB sends it in a separate commission report; the adapter merges it,
    0.0 until known). ``ts`` is the execution time (UTC): for the paper broker the open of the
    bar it filled in.
    """

    exec_id: str
    client_ref: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    ts: datetime

    @property
    def signed_quantity(self) -> float:
        """``quantity`` with the sign of the position change (+ buys, - sells)."""
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order the broker still works on (``open_orders``), as it reports it.

    ``client_ref`` is "" for orders placed by hand (the loop leaves those alone).
    """

    client_ref: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: float
    filled: float
    status: str
    order_type: str = "MKT"
    limit_price: float | None = None

    @property
    def remaining_signed(self) -> float:
        """The quantity still to fill, signed like the position change it will make."""
        left = max(self.quantity - self.filled, 0.0)
        return left if self.side == "BUY" else -left


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A position at the broker: signed ``quantity`` (negative = short) and average cost."""

    symbol: str
    quantity: float
    avg_cost: float


BrokerEvent = OrderStatusEvent | Fill
"""What a broker reports after :meth:`Broker.place`."""

BrokerListener = Callable[[BrokerEvent], None]
"""Receives every :data:`BrokerEvent`; called on the event loop's thread, must not block."""


class Broker(Protocol):
    """Where the loop's orders go: the internal paper broker or an Interactive Brokers account.

    Strategies never see which one. Every method is a coroutine except :meth:`listen`; events
    go to the listener in the order the broker produced them (an order's status changes in
    order, a fill before the status that counts it, IB's ``commissionReport`` merged into its
    fill).
    """

    @property
    def name(self) -> str:
        """``paper`` or ``ib`` (stored with the session)."""
        ...

    @property
    def account(self) -> str:
        """The account orders go to (paper: ``PAPER``; IB: ``DU...``)."""
        ...

    @property
    def is_paper(self) -> bool:
        """False only for a live (real money) account; the loop refuses one without --live."""
        ...

    def listen(self, listener: BrokerListener) -> None:
        """Send every later :data:`BrokerEvent` to ``listener`` (one listener; replaces any)."""
        ...

    async def place(self, order: TradeOrder) -> OrderAck:
        """Send ``order`` unless one with its ``client_ref`` is known (then ``duplicate``)."""
        ...

    async def cancel(self, client_ref: str) -> bool:
        """Cancel the open order with ``client_ref``; False when none is open."""
        ...

    async def open_orders(self) -> list[BrokerOrder]:
        """The orders still working (not Filled/Cancelled/Inactive)."""
        ...

    async def positions(self) -> list[BrokerPosition]:
        """Every non-zero position of the account."""
        ...

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        """Executions at or after ``since`` (every one the broker still has when None)."""
        ...

    async def close(self) -> None:
        """Release the connection (orders stay at the broker)."""
        ...


@dataclass(frozen=True, slots=True)
class TradingVenue:
    """What a trading session runs against: a bar source and a broker (and how to close them)."""

    bars: LiveBarSource
    broker: Broker


class VenueFactory(Protocol):
    """Opens a :class:`TradingVenue` for ``symbols`` at ``bar_size``; closed on exit.

    ``live`` is the user's ``--live``: a factory whose broker trades a live account must refuse
    it (:class:`~algotrader.app.risk.LiveTradingRefusedError`) unless it is True.
    """

    def __call__(
        self, symbols: Sequence[str], bar_size: str, *, live: bool
    ) -> AbstractAsyncContextManager[TradingVenue]: ...
