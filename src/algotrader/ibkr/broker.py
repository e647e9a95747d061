"""The Interactive Brokers :class:`~algotrader.ports.trading.Broker`: the trading loop's orders
through the existing order code (:class:`~algotrader.ibkr.orders.IbOrderGateway`).

- **Client references.** Every order carries the loop's ``client_ref`` as IB's ``orderRef``.
  :meth:`IbBroker.place` never sends a reference the gateway already knows: after each
  (re)connect the broker indexes every order the gateway reports (open orders of every client,
  this client's completed orders and executions, synced at connect), and an order found there
  is *adopted* (``OrderAck.duplicate``), as ``orders place --ref`` does.
- **Events.** Status changes become :class:`~algotrader.ports.trading.OrderStatusEvent`
  values; a rejection (IB error 201/203 or status ``Inactive``; ``ib_async`` reports it as
  ``Cancelled``) is reported with status ``Rejected`` and IB's text. Executions become
  :class:`~algotrader.ports.trading.Fill` values once their commission report arrives (IB sends
  it right after ``execDetails``), partial fills one by one.
- **Reconnects.** The broker shares an :class:`~algotrader.ibkr.connection.IbConnection` with
  the bar source; after a drop, the next call (or the bar source) reconnects, and the broker
  re-indexes the gateway's orders and reports the executions of its orders it had not
  reported yet (the loop stores fills by ``execId``, so a repeat is harmless).

Only orders this broker placed or adopted are reported to the listener; :meth:`executions`,
:meth:`open_orders` and :meth:`positions` answer for the whole account (the loop keeps its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from ib_async import ExecutionFilter

from algotrader.errors import GatewayUnavailableError
from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.history import RetryPolicy, with_retries
from algotrader.ibkr.orders import IbOrderGateway, TradeHandle, gateway_order
from algotrader.ports.orders import DONE_STATUSES, GatewayOrder, OrderTicket, OrderUpdate
from algotrader.ports.trading import (
    BrokerEvent,
    BrokerListener,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderAck,
    OrderStatusEvent,
    TradeOrder,
)

if TYPE_CHECKING:
    from ib_async import IB, CommissionReport, Trade
    from ib_async import Fill as IbFill

    from algotrader.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# The first statuses that say the gateway decided something about a new order.
_ACK_STATUSES = frozenset(
    {"PreSubmitted", "Submitted", "Filled", "Cancelled", "ApiCancelled", "Inactive"}
)
# IB's order rejections (201 "Order rejected", 203 "security not allowed for this account").
_REJECT_CODES = frozenset({201, 203})
REJECTED = "Rejected"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _side(ib_side: str) -> str:
    return "BUY" if ib_side.upper() in ("BOT", "BUY") else "SELL"


def port_fill(fill: IbFill) -> Fill:
    """An ``ib_async`` fill (execution + commission report) as the port's :class:`Fill`."""
    ex = fill.execution
    report = fill.commissionReport
    commission = float(report.commission) if report is not None and report.commission else 0.0
    return Fill(
        exec_id=ex.execId,
        client_ref=ex.orderRef or "",
        broker_order_id=str(ex.permId or ex.orderId),
        symbol=fill.contract.symbol,
        side=_side(ex.side),  # type: ignore[arg-type]
        quantity=float(ex.shares),
        price=float(ex.price),
        commission=commission if commission < 1e300 else 0.0,
        # The execution's own time (TWS's clock; the replay's with the simulator), not the
        # moment the report arrived (``Fill.time``).
        ts=_utc(ex.time or fill.time),
    )


class IbBroker:
    """:class:`~algotrader.ports.trading.Broker` over IB (see the module docstring).

    ``account`` and ``is_paper`` are decided by whoever opens it (:func:`algotrader.app.
    trading_ib.open_ib_venue` applies the live-account guards). ``retry`` bounds reconnecting
    before a call; ``ack_timeout`` how long :meth:`place` waits for IB's first status (the
    order is sent either way).
    """

    def __init__(
        self,
        conn: IbConnection,
        settings: Settings,
        account: str,
        *,
        is_paper: bool,
        retry: RetryPolicy | None = None,
        ack_timeout: float = 5.0,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self._account = account
        self._is_paper = is_paper
        self.retry = retry or RetryPolicy(attempts=10, base_delay=1.0, max_delay=30.0)
        self.ack_timeout = min(ack_timeout, settings.ib_timeout)
        self.sent = 0  # placeOrder calls made (adoptions excluded)
        self.adopted = 0
        self._listener: BrokerListener | None = None
        self._gateway: IbOrderGateway | None = None
        self._generation = -1
        self._index: dict[str, GatewayOrder] = {}  # the gateway's orders by client ref
        self._mine: set[str] = set()  # refs placed or adopted here: their events are reported
        self._reported: set[str] = set()  # exec ids reported
        self._final: dict[str, str] = {}  # ref -> final status reported
        self._handles: dict[str, TradeHandle] = {}  # orders sent (or followed) here
        self._sync: asyncio.Task[None] | None = None
        conn.on_connect.append(self._on_connect)
        if conn.ib is not None and conn.ib.isConnected():
            self._on_connect(conn.ib)

    @property
    def name(self) -> str:
        return "ib"

    @property
    def account(self) -> str:
        return self._account

    @property
    def is_paper(self) -> bool:
        return self._is_paper

    def listen(self, listener: BrokerListener) -> None:
        self._listener = listener

    def _emit(self, event: BrokerEvent) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event)
        except Exception:  # a failing listener must not kill ib_async's callbacks
            log.exception("broker event %s was not handled", event)

    # -- connection ------------------------------------------------------------------------
    def _on_connect(self, ib: IB) -> None:
        self._gateway = IbOrderGateway(ib, self.settings)
        ib.commissionReportEvent += self._on_commission
        # The index is rebuilt from what the gateway reports now (synced at connect).
        self._sync = asyncio.get_running_loop().create_task(self._resync(ib))

    async def _resync(self, ib: IB) -> None:
        gateway = self._gateway
        assert gateway is not None
        try:
            found = await gateway.known_orders()
        except (GatewayUnavailableError, ConnectionError) as exc:
            log.warning("could not re-index the gateway's orders: %s", exc)
            return
        index = {o.client_ref: o for o in found if o.client_ref}
        self._index = index
        self._generation = self.conn.generation
        # Executions of our orders that happened while we were away (or before a restart).
        for fill in ib.fills():
            if fill.execution.orderRef in self._mine:
                self._report_fill(fill)

    async def _session(self) -> IbOrderGateway:
        """The gateway of the current connection, reconnected (with back-off) and re-indexed."""

        async def op(ib: IB) -> IbOrderGateway:
            if self._generation != self.conn.generation or self._gateway is None:
                if self._sync is not None:
                    await self._sync
                if self._generation != self.conn.generation:
                    await self._resync(ib)
            if self._generation != self.conn.generation or self._gateway is None:
                raise ConnectionError("the order sync did not complete")
            return self._gateway

        return await with_retries(self.conn, self.retry, "order session", op)

    async def _call(self, what: str, op: Callable[[IbOrderGateway], Awaitable[T]]) -> T:
        async def run(ib: IB) -> T:
            return await op(await self._session())

        return await with_retries(self.conn, self.retry, what, run)

    # -- events ----------------------------------------------------------------------------
    def _on_update(self, ref: str, update: OrderUpdate) -> None:
        status = update.status
        rejected = update.code in _REJECT_CODES or status == "Inactive"
        if rejected:
            status = REJECTED
        elif status == "ValidationError":
            return  # a warning on a live order; the order goes on
        if status in DONE_STATUSES or status == REJECTED:
            if ref in self._final:
                return  # IB reports a rejection as an error, then a status: once is enough
            self._final[ref] = status
        handle = self._handles.get(ref)
        order_id = str(update.perm_id or (handle.ib_order_id if handle else ""))
        quantity = handle.trade.order.totalQuantity if handle else 0.0
        self._emit(
            OrderStatusEvent(
                client_ref=ref,
                broker_order_id=order_id,
                status=status,
                filled=float(update.filled),
                remaining=max(float(quantity) - float(update.filled), 0.0),
                avg_fill_price=update.avg_fill_price,
                ts=datetime.now(UTC),
                message=update.message,
            )
        )

    def _on_commission(self, trade: Trade, fill: IbFill, report: CommissionReport) -> None:
        if trade.order.orderRef in self._mine:
            self._report_fill(fill)

    def _report_fill(self, fill: IbFill) -> None:
        if fill.execution.execId in self._reported:
            return
        self._reported.add(fill.execution.execId)
        self._emit(port_fill(fill))

    # -- the port --------------------------------------------------------------------------
    async def place(self, order: TradeOrder) -> OrderAck:
        """Send ``order`` unless its ``client_ref`` is known here or at the gateway.

        A connection lost before the order went out is reconnected (with back-off) and the
        gateway's orders are indexed again before the order is sent, so a retry never doubles
        an order that did reach the gateway."""
        ref = order.client_ref
        handle = self._handles.get(ref)
        if handle is not None:
            return OrderAck(ref, str(handle.ib_order_id), handle.status, duplicate=True)
        return await self._call(f"the order {ref}", lambda gateway: self._send(gateway, order))

    async def _send(self, gateway: IbOrderGateway, order: TradeOrder) -> OrderAck:
        ref = order.client_ref
        known = self._index.get(ref)
        if known is not None:
            self._mine.add(ref)
            self.adopted += 1
            log.info("order %s is already at the gateway (%s): adopted", ref, known.status)
            return OrderAck(ref, str(known.perm_id or known.ib_order_id or ""), known.status,
                            duplicate=True)  # fmt: skip
        await gateway.qualify(order.symbol)  # cached per connection
        ticket = OrderTicket(order.request(), self._account, ref)
        self._mine.add(ref)
        placed = gateway.place(ticket, lambda update: self._on_update(ref, update))
        self.sent += 1
        self._handles[ref] = placed
        self._index[ref] = gateway_order(placed.trade)
        await placed.wait(_ACK_STATUSES, self.ack_timeout)
        status = self._final.get(ref, placed.status)
        trade = placed.trade
        perm = trade.orderStatus.permId or trade.order.permId
        message = trade.log[-1].message if status == REJECTED and trade.log else ""
        return OrderAck(ref, str(perm or placed.ib_order_id), status, message=message)

    async def cancel(self, client_ref: str) -> bool:
        """Cancel the open order with ``client_ref`` (placed by this clientId)."""

        async def op(gateway: IbOrderGateway) -> bool:
            handle = self._handles.get(client_ref)
            if handle is None or handle.trade not in gateway.trades():
                found = next(
                    (o for o in await gateway.open_orders() if o.client_ref == client_ref), None
                )
                if found is None or found.is_done or found.ib_order_id is None:
                    return False
                followed = gateway.follow(
                    found.ib_order_id, client_ref, lambda u: self._on_update(client_ref, u)
                )
                if followed is None:
                    return False
                handle = followed
                self._handles[client_ref] = handle
            if handle.status in DONE_STATUSES:
                return False
            refused = await gateway.cancel(handle, self.settings.ib_timeout)
            return refused is None and handle.status in ("Cancelled", "ApiCancelled")

        return await self._call(f"the cancel of {client_ref}", op)

    async def open_orders(self) -> list[BrokerOrder]:
        """Every working order of the account (any client)."""
        found = await self._call("the open-orders request", lambda g: g.open_orders())
        return [
            BrokerOrder(
                client_ref=o.client_ref,
                broker_order_id=str(o.perm_id or o.ib_order_id or ""),
                symbol=o.symbol,
                side=o.action,  # type: ignore[arg-type]
                quantity=o.quantity,
                filled=o.filled,
                status=o.status,
                order_type=o.order_type,
                limit_price=o.limit_price,
            )
            for o in found
            if not o.is_done
        ]

    async def positions(self) -> list[BrokerPosition]:
        """Every non-zero position of the account (``reqPositions``)."""

        async def op(gateway: IbOrderGateway) -> list[BrokerPosition]:
            ib = self._ib()
            found = await asyncio.wait_for(ib.reqPositionsAsync(), self.settings.ib_timeout)
            return [
                BrokerPosition(p.contract.symbol, float(p.position), float(p.avgCost))
                for p in found
                if p.position and (not p.account or p.account == self._account)
            ]

        return await self._call("the positions request", op)

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        """Executions of the account at or after ``since`` (``reqExecutions``)."""

        async def op(gateway: IbOrderGateway) -> list[Fill]:
            ib = self._ib()
            found = await asyncio.wait_for(
                ib.reqExecutionsAsync(ExecutionFilter()), self.settings.ib_timeout
            )
            # The request's own fill objects may predate their commission reports; the
            # connection's fills (by execId) carry them once they arrived.
            known = {f.execution.execId: f for f in ib.fills()}
            fills = [port_fill(known.get(f.execution.execId, f)) for f in found]
            return [f for f in fills if since is None or f.ts >= since]

        return await self._call("the executions request", op)

    async def close(self) -> None:
        """Stop reporting (the connection is closed by its owner; orders stay at IB)."""
        if self._on_connect in self.conn.on_connect:
            self.conn.on_connect.remove(self._on_connect)
        if self._sync is not None and not self._sync.done():
            self._sync.cancel()
        for handle in self._handles.values():
            handle.detach()
        self._listener = None

    def _ib(self) -> IB:
        ib = self.conn.ib
        if ib is None or not ib.isConnected():
            raise ConnectionError("not connected")
        return ib
