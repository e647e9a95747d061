"""The order gateway over ``ib_async``: :class:`IbOrderGateway` implements
:class:`algotrader.ports.orders.OrderGateway` for TWS / IB Gateway (or ``algotrader ib-sim``).

Open one with :func:`open_order_gateway` (an async context manager per clientId). Every wait
on the gateway is bounded by ``settings.ib_timeout``: the start-up sync of an order session
(open and completed orders, executions) must answer in time, and so must contract lookups,
``reqAllOpenOrders``, price queries, order acknowledgements and cancels; a gateway that stays
silent is one :class:`~algotrader.errors.GatewayUnavailableError` line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import TypeVar

from ib_async import IB, Contract, LimitOrder, MarketOrder, Stock, StopOrder, Trade
from ib_async import Order as IBOrder

from algotrader.config import Settings
from algotrader.errors import DataNotFoundError, GatewayUnavailableError
from algotrader.ibkr.connection import connect_ib
from algotrader.observability import metrics
from algotrader.ports.orders import (
    DONE_STATUSES,
    GatewayOrder,
    OnUpdate,
    OrderGateway,
    OrderHandle,
    OrderTicket,
    OrderUpdate,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Tried in order. 1-min bars over the last session give a recent trade; daily bars cover a gateway
# (or an hour of the day) without intraday data. Both are valid duration/bar-size pairs for IB
# and are served by the simulator; reqMktData is not, and needs a live subscription anyway.
_PRICE_QUERIES: tuple[tuple[str, str], ...] = (("1 D", "1 min"), ("5 D", "1 day"))
# IB's answers to a cancel it cannot carry out: unknown order, or already final.
_CANCEL_REFUSALS = frozenset({10147, 10148})
_UNSET = 1e300  # IB's unset doubles are ~1.8e308


def _known(value: float | Decimal | None) -> float | None:
    """``value`` as a float, or None when IB left it unset."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) and number < _UNSET else None


def _ib_order(ticket: OrderTicket) -> IBOrder:
    request = ticket.request
    order: IBOrder
    if request.order_type == "LMT":
        assert request.limit_price is not None
        order = LimitOrder(request.action, request.quantity, request.limit_price)
    elif request.order_type == "STP":
        assert request.stop_price is not None
        order = StopOrder(request.action, request.quantity, request.stop_price)
    else:
        order = MarketOrder(request.action, request.quantity)
    order.tif = request.tif
    order.orderRef = ticket.client_ref
    order.account = ticket.account
    return order


def _fill_of(trade: Trade) -> tuple[float, float | None]:
    """Quantity filled and average price, from whatever the gateway reported."""
    status = trade.orderStatus
    filled = float(status.filled or 0.0)
    avg = float(status.avgFillPrice) if filled and status.avgFillPrice else None
    if not filled and trade.fills:
        # completedOrders carries no fill price; the executions synced at connect do.
        filled = sum(f.execution.shares for f in trade.fills)
        avg = sum(f.execution.shares * f.execution.price for f in trade.fills) / filled
    order_filled = _known(trade.order.filledQuantity)
    if not filled and order_filled:
        filled = float(order_filled)  # completed orders state the quantity, not the price
    return filled, avg


def gateway_order(trade: Trade) -> GatewayOrder:
    """An ib_async trade as a :class:`GatewayOrder` (ids None when IB does not send them)."""
    o = trade.order
    filled, avg = _fill_of(trade)
    quantity = float(o.totalQuantity)
    remaining = _known(trade.orderStatus.remaining)
    return GatewayOrder(
        client_ref=o.orderRef or "",
        account=o.account or "",
        symbol=trade.contract.symbol,
        action=o.action,
        quantity=quantity,
        order_type=o.orderType,
        limit_price=_known(o.lmtPrice) if o.orderType == "LMT" else None,
        stop_price=_known(o.auxPrice) if o.orderType == "STP" else None,
        tif=o.tif,
        status=trade.orderStatus.status,
        filled=filled,
        remaining=remaining if remaining is not None else max(quantity - filled, 0.0),
        avg_fill_price=avg,
        # Completed orders come without order id and clientId (IB sends 0 for both).
        ib_order_id=o.orderId or None,
        client_id=o.clientId if o.orderId else None,
        perm_id=o.permId or None,
    )


class TradeHandle:
    """A sent order (an :class:`~algotrader.ports.orders.OrderHandle`): reports its status
    changes and messages to ``on_update``; ``trade`` is the ``ib_async`` trade behind it."""

    def __init__(self, ib: IB, trade: Trade, on_update: OnUpdate) -> None:
        self._ib = ib
        self._trade = trade
        self._on_update = on_update
        self._changed = asyncio.Event()
        self.codes: list[int] = []  # message codes IB sent for the order
        trade.statusEvent += self._on_status
        ib.errorEvent += self._on_error

    @property
    def ib_order_id(self) -> int:
        return int(self._trade.order.orderId)

    @property
    def client_id(self) -> int:
        return int(self._ib.client.clientId)

    @property
    def status(self) -> str:
        return str(self._trade.orderStatus.status)

    @property
    def trade(self) -> Trade:
        return self._trade

    def _emit(self, message: str = "", code: int | None = None) -> None:
        filled, avg = _fill_of(self._trade)
        perm_id = self._trade.orderStatus.permId or self._trade.order.permId or None
        update = OrderUpdate(self.status, filled, avg, message, code, perm_id)
        try:
            self._on_update(update)
        except Exception:  # a failing listener must not kill the event loop's callbacks
            log.exception(
                "order update %s of IB order %s was not handled", update, self.ib_order_id
            )
        self._changed.set()

    def _on_status(self, trade: Trade) -> None:
        entry = trade.log[-1] if trade.log else None
        if entry is not None and entry.status == trade.orderStatus.status and entry.errorCode:
            self._emit(f"{entry.errorCode}: {entry.message}", entry.errorCode)
        else:
            self._emit()

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        if req_id != self._trade.order.orderId or 2100 <= code < 2200:
            return
        self.codes.append(code)
        self._emit(f"{code}: {text}", code)

    async def wait(self, statuses: frozenset[str], timeout: float) -> bool:
        return await self.until(lambda: self.status in statuses, timeout)

    async def until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()`` (re-checked at every report); False after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return bool(done())
        return True

    def detach(self) -> None:
        self._trade.statusEvent -= self._on_status
        self._ib.errorEvent -= self._on_error


class IbOrderGateway:
    """:class:`~algotrader.ports.orders.OrderGateway` over one connected ``ib_async.IB``."""

    def __init__(self, ib: IB, settings: Settings) -> None:
        self._ib = ib
        self._timeout = settings.ib_timeout
        self._where = f"{settings.ib_host}:{settings.ib_port}"
        self._contracts: dict[str, Contract] = {}

    @property
    def where(self) -> str:
        return self._where

    @property
    def client_id(self) -> int:
        return int(self._ib.client.clientId)

    def accounts(self) -> list[str]:
        return [a for a in self._ib.managedAccounts() if a]

    async def _bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(awaitable, self._timeout)
        except TimeoutError:
            raise self._silent(what) from None

    def _silent(self, what: str) -> GatewayUnavailableError:
        return GatewayUnavailableError(
            f"the gateway at {self._where} did not answer {what} within {self._timeout:g} s",
            "check that TWS/IB Gateway is responsive (restart it if needed), or raise "
            "ALGOTRADER_IB_TIMEOUT, and run the same command again",
        )

    async def _contract(self, symbol: str) -> Contract:
        known = self._contracts.get(symbol)
        if known is not None:
            return known
        contract = Stock(symbol, "SMART", "USD")
        [result] = await self._bounded(
            f"the contract lookup of {symbol}", self._ib.qualifyContractsAsync(contract)
        )
        if result is None:
            raise DataNotFoundError(
                f"the gateway knows no US stock {symbol}", "check the symbol (e.g. TSLA, BRK.B)"
            )
        self._contracts[symbol] = contract
        return contract

    async def qualify(self, symbol: str) -> None:
        await self._contract(symbol)

    async def last_price(self, symbol: str) -> float | None:
        """The close of the newest historical bar: ``1 D`` of ``1 min`` bars (outside regular
        hours too), then ``5 D`` of daily bars. None when the gateway has neither."""
        contract = await self._contract(symbol)
        loop = asyncio.get_running_loop()
        for duration, bar_size in _PRICE_QUERIES:
            started = loop.time()
            bars = await self._ib.reqHistoricalDataAsync(
                contract, "", duration, bar_size, "TRADES", useRTH=False, timeout=self._timeout
            )
            if bars:
                return float(bars[-1].close)
            # ib_async answers its own timeout with an empty list: tell silence from "no data".
            if loop.time() - started >= self._timeout * 0.99:
                raise self._silent(f"the price request for {symbol}")
            log.info("no %s bars over %s for %s", bar_size, duration, symbol)
        return None

    async def open_orders(self) -> list[GatewayOrder]:
        metrics.record_ib_request("open_orders")
        trades = await self._bounded("the open-orders request", self._ib.reqAllOpenOrdersAsync())
        return [gateway_order(t) for t in trades]

    async def known_orders(self) -> list[GatewayOrder]:
        # The connect-time sync brought this client's open orders, the completed ones and the
        # executions; reqAllOpenOrders adds open orders placed by other clientIds.
        metrics.record_ib_request("open_orders")
        trades = [
            *await self._bounded("the open-orders request", self._ib.reqAllOpenOrdersAsync()),
            *self._ib.trades(),
        ]
        return [gateway_order(t) for t in trades]

    def trades(self) -> list[Trade]:
        """Every order ``ib_async`` tracks on this connection (synced at connect, or sent)."""
        return list(self._ib.trades())

    def place(self, ticket: OrderTicket, on_update: OnUpdate) -> TradeHandle:
        contract = self._contracts.get(ticket.request.symbol)
        if contract is None:
            raise RuntimeError(f"qualify {ticket.request.symbol} before placing")
        metrics.record_ib_request("place_order")
        trade = self._ib.placeOrder(contract, _ib_order(ticket))
        return TradeHandle(self._ib, trade, on_update)

    def follow(self, ib_order_id: int, client_ref: str, on_update: OnUpdate) -> TradeHandle | None:
        trade = next(
            (
                t
                for t in self._ib.openTrades()
                if t.order.orderId == ib_order_id or t.order.orderRef == client_ref
            ),
            None,
        )
        return TradeHandle(self._ib, trade, on_update) if trade is not None else None

    async def cancel(self, handle: OrderHandle, timeout: float) -> str | None:
        assert isinstance(handle, TradeHandle)
        seen = len(handle.codes)
        metrics.record_ib_request("cancel_order")
        self._ib.cancelOrder(handle.trade.order)

        def decided() -> bool:
            return handle.status in DONE_STATUSES or any(
                c in _CANCEL_REFUSALS for c in handle.codes[seen:]
            )

        if not await handle.until(decided, timeout):
            raise GatewayUnavailableError(
                f"the gateway at {self._where} did not confirm the cancel of IB order "
                f"{handle.ib_order_id} within {timeout:g} s",
                "check `algotrader orders list --open` and try again",
            )
        refused = [c for c in handle.codes[seen:] if c in _CANCEL_REFUSALS]
        if refused and handle.status not in DONE_STATUSES:
            entry = handle.trade.log[-1] if handle.trade.log else None
            return f"{refused[0]}: {entry.message if entry else 'refused'}"
        if handle.status == "Cancelled":
            # IB confirms a cancel with message 202 ("Order Canceled - reason:") after the
            # status: wait for it (briefly), so the reason is reported too.
            await handle.until(lambda: 202 in handle.codes[seen:], min(timeout, 2.0))
        return None


def _fix_without_source(exc: GatewayUnavailableError) -> GatewayUnavailableError:
    """The connect error without the "--source" way out (it is about bars, not orders)."""
    fix = re.sub(r",? or use --source [^,;]*", "", exc.fix or "")
    return GatewayUnavailableError(exc.problem, fix) if fix != (exc.fix or "") else exc


@asynccontextmanager
async def open_order_gateway(
    settings: Settings, client_id: int, *, readonly: bool = False
) -> AsyncIterator[IbOrderGateway]:
    """An :class:`IbOrderGateway` connected as ``client_id``; disconnected on exit.

    A trading session (``readonly=False``) requires the start-up sync of orders and executions
    to answer: the idempotency checks depend on what it brings.
    """
    try:
        async with connect_ib(
            settings, client_id=client_id, readonly=readonly, require_sync=not readonly
        ) as ib:
            yield IbOrderGateway(ib, settings)
    except GatewayUnavailableError as exc:
        raise _fix_without_source(exc) from None


class IbGatewayFactory:
    """Opens order sessions with the gateway of ``settings``
    (an :class:`~algotrader.ports.orders.OrderGatewayFactory`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(
        self, client_id: int, *, readonly: bool = False
    ) -> AbstractAsyncContextManager[OrderGateway]:
        return open_order_gateway(self.settings, client_id, readonly=readonly)
