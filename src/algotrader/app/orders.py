"""Order use cases: place (risk checks, idempotent client references), cancel, sync and view.

Typical use (the CLI does exactly this)::

    request = OrderRequest("TSLA", "BUY", 1)                     # MKT DAY
    result = asyncio.run(place_order(settings, request))          # paper accounts only
    print(result.order.describe())
    # Order 3 (IB 12, ref 1f2e3d4c-9a8b7c6d): BUY 1 TSLA MKT DAY -> Filled 1 @ 251.32 (paper ...)

What :func:`place_order` guarantees, in this order:

1. The request is valid (:class:`OrderRequest` checks itself) and within the limits of
   :mod:`algotrader.app.risk`; a live port or a non-paper account is refused without
   ``live=True``. All of that happens before anything is sent.
2. Idempotency: every order carries a client reference (``orderRef`` at IB, ``client_ref`` in
   our table) derived from the request and a label (``--ref``; generated when not given). If an
   order with that reference is already in our table, or known to the gateway (open or
   completed), it is reported and nothing is sent again. Re-running a command with the same
   ``--ref`` is therefore safe.
3. The order is stored before it is sent, and every status change after that is appended to its
   ``status_history`` (and written to the orders log file). The call returns at the first
   status (Submitted, PreSubmitted, Filled, Cancelled, Inactive) after following it for a short
   grace period, so that a market order's fill is usually recorded by the command that placed it.

The use cases talk to the broker only through the
:class:`~algotrader.ports.orders.OrderGateway` port (``gateways`` opens sessions; by default the
Interactive Brokers gateway of ``settings``) and persist through
:class:`~algotrader.ports.orders.OrderLog`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from algotrader.app import risk
from algotrader.app._stores import open_stores
from algotrader.config import Settings
from algotrader.errors import DataNotFoundError, GatewayUnavailableError, InvalidInputError
from algotrader.ports.orders import (
    DONE_STATUSES,
    DuplicateRefError,
    GatewayOrder,
    OrderGateway,
    OrderGatewayFactory,
    OrderLog,
    OrderRequest,
    OrderTicket,
    OrderUpdate,
    StoredOrder,
    history_entry,
)

__all__ = [
    "OrderRequest",
    "OrdersView",
    "PlaceResult",
    "cancel_order",
    "client_ref_for",
    "list_orders",
    "place_order",
    "sync_orders",
    "view_orders",
]

# The first status that tells us the gateway decided something about a new order.
# ValidationError is ib_async's name for a warning-level rejection (e.g. 321) of the request.
FIRST_STATUSES = frozenset(
    {
        "PreSubmitted",
        "Submitted",
        "Filled",
        "Cancelled",
        "ApiCancelled",
        "Inactive",
        "ValidationError",
    }
)
# How long to keep following an order after its first status. A MKT order normally fills within
# a second; others are only given a moment for a marketable price to fill at once.
MARKET_GRACE_SECONDS = 2.0
OTHER_GRACE_SECONDS = 0.3


def new_label() -> str:
    """A random label for a request without ``--ref`` (printed, so the user can retry with it)."""
    return secrets.token_hex(4)


def client_ref_for(request: OrderRequest, label: str) -> str:
    """``<label>-<8 hex>``: the label plus a digest of the order's terms.

    Deterministic, so the same command with the same ``--ref`` maps to the same reference (and is
    not sent twice); one label can still name several different orders (a batch), each with its
    own reference. The label stays readable in TWS's order window (``orderRef``).
    """
    digest = hashlib.sha256(f"{label}|{request.fingerprint()}".encode()).hexdigest()[:8]
    return f"{label}-{digest}"


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """What :func:`place_order` did.

    ``order`` is the stored row after the call. ``already_placed`` is True when nothing was sent
    because the reference was known (to our table or to the gateway). ``label`` is the ``--ref``
    to pass to retry safely; ``generated_label`` says it was made up for this call.
    ``reference_price`` is the price the notional limit was checked with (None: not checked).
    """

    order: StoredOrder
    already_placed: bool
    label: str
    generated_label: bool
    reference_price: float | None = None


@dataclass(frozen=True, slots=True)
class OrdersView:
    """What :func:`view_orders` shows: stored orders (oldest first), and with the gateway the
    stored orders it just brought up to date and the open orders it reports (``where``)."""

    stored: list[StoredOrder]
    updated: list[StoredOrder]
    open_at_gateway: list[GatewayOrder] | None = None
    where: str = ""


class _Recorder:
    """Stores a sent order's updates in the order log as they arrive, skipping repeats."""

    def __init__(
        self,
        orders: OrderLog,
        order_id: int,
        last: tuple[str, float, float | None] | None = None,
        perm_id: int | None = None,
    ) -> None:
        self.orders = orders
        self.order_id = order_id
        self.last = last
        self.perm_id = perm_id
        self.stored: StoredOrder | None = None

    def __call__(self, update: OrderUpdate) -> None:
        if update.message and self.stored is not None and self.stored.message == update.message:
            return  # IB repeats a reason (e.g. 202 after the Cancelled status)
        ids = {"perm_id": update.perm_id} if update.perm_id not in (None, self.perm_id) else {}
        state = (update.status, update.filled, update.avg_fill_price)
        if state == self.last and not update.message and not ids:
            return
        self.perm_id = update.perm_id or self.perm_id
        self.record(state, update.message, ids)

    def record(
        self,
        state: tuple[str, float, float | None],
        message: str = "",
        ids: dict[str, Any] | None = None,
    ) -> StoredOrder:
        self.last = state
        self.stored = self.orders.update(
            self.order_id, entry=history_entry(*state, message), **(ids or {})
        )
        return self.stored


def _terms(request: OrderRequest) -> dict[str, Any]:
    return {
        "symbol": request.symbol,
        "action": request.action,
        "quantity": request.quantity,
        "order_type": request.order_type,
        "limit_price": request.limit_price,
        "stop_price": request.stop_price,
        "tif": request.tif,
    }


def _request_of(stored: StoredOrder) -> OrderRequest:
    return OrderRequest(
        stored.symbol,
        stored.action,
        stored.quantity,
        stored.order_type,
        stored.limit_price,
        stored.stop_price,
        stored.tif,
    )


def _adopt(
    orders: OrderLog,
    existing: StoredOrder | None,
    found: GatewayOrder,
    request: OrderRequest,
    client_ref: str,
    account: str,
    paper: bool,
    message: str = "found at the gateway by orderRef",
) -> StoredOrder:
    """Store (or bring up to date) our row for an order the gateway has.

    Ids the gateway does not report (IB's completed orders carry no order id or clientId) never
    overwrite the stored ones.
    """
    ids = {
        key: value
        for key, value in (
            ("ib_order_id", found.ib_order_id),
            ("perm_id", found.perm_id),
            ("client_id", found.client_id),
        )
        if value is not None
    }
    entry = history_entry(found.status, found.filled, found.avg_fill_price, message)
    if existing is not None:
        return orders.update(existing.id, entry=entry, **ids)
    return orders.create(
        client_ref=client_ref,
        account=found.account or account,
        is_paper=paper,
        **_terms(request),
        status=found.status,
        filled=found.filled,
        avg_fill_price=found.avg_fill_price,
        status_history=[entry],
        message=entry["message"],
        **ids,
    )


def _by_ref(found: list[GatewayOrder], client_ref: str) -> GatewayOrder | None:
    return next((o for o in found if o.client_ref == client_ref), None)


def _factory(settings: Settings, gateways: OrderGatewayFactory | None) -> OrderGatewayFactory:
    if gateways is not None:
        return gateways
    from algotrader.ibkr.orders import IbGatewayFactory

    return IbGatewayFactory(settings)


@asynccontextmanager
async def _order_log(settings: Settings) -> AsyncIterator[OrderLog]:
    """The order log of the configured database (opened and closed here)."""
    with open_stores(settings) as stores:
        yield stores.orders


async def place_order(
    settings: Settings,
    request: OrderRequest,
    *,
    live: bool = False,
    client_id: int | None = None,
    timeout: float | None = None,
    grace: float | None = None,
    gateways: OrderGatewayFactory | None = None,
) -> PlaceResult:
    """Check, store, send and follow one order; see the module docstring for the guarantees.

    ``live=True`` allows a live account (real money). ``timeout`` bounds the wait for the first
    status (default ``settings.ib_timeout``); ``grace`` is how long to keep following after it
    (default 2 s for MKT, 0.3 s otherwise).

    Raises :class:`~algotrader.errors.UserError` subclasses for invalid input, a broken limit,
    a refused live account, an unreachable or silent gateway, or no status within ``timeout``
    (the order is stored then, and a retry with the same ref will find it rather than send it
    again).
    """
    label = request.ref or new_label()
    client_ref = client_ref_for(request, label)
    async with _order_log(settings) as orders:
        existing = orders.by_ref(client_ref)
        if existing is not None and existing.confirmed:
            # Stored and acknowledged: a retry. Nothing to check or send.
            return PlaceResult(existing, True, label, request.ref is None)
        risk.check_static_limits(request, settings)
        risk.refuse_live_port(settings, live)
        cid = settings.ib_client_id if client_id is None else client_id
        placing = _Placing(request, label, client_ref, settings, orders, live, timeout, grace)
        async with _factory(settings, gateways)(cid) as gateway:
            order, already, price = await placing.through(gateway, existing, cid)
        return PlaceResult(order, already, label, request.ref is None, price)


@dataclass(frozen=True, slots=True)
class _Placing:
    """One :func:`place_order` call, once the checks that need no gateway have passed."""

    request: OrderRequest
    label: str
    client_ref: str
    settings: Settings
    orders: OrderLog
    live: bool
    timeout: float | None
    grace: float | None

    async def through(
        self, gateway: OrderGateway, existing: StoredOrder | None, client_id: int
    ) -> tuple[StoredOrder, bool, float | None]:
        """(the stored order, already placed?, the notional check's price)."""
        request, orders = self.request, self.orders
        account = risk.resolve_account(gateway.accounts(), self.settings)
        paper = risk.check_trading_mode(account, self.settings, self.live)
        await gateway.qualify(request.symbol)
        known = _by_ref(await gateway.known_orders(), self.client_ref)
        if known is not None:
            # Sent before (by a run that died, or with another database): adopt, never resend.
            adopted = _adopt(orders, existing, known, request, self.client_ref, account, paper)
            return adopted, True, None
        price = request.reference_price
        if request.order_type == "MKT":
            price = await risk.notional_check_for_market_order(gateway, request, self.settings)
        if existing is None:
            try:
                existing = orders.create(
                    client_ref=self.client_ref,
                    account=account,
                    is_paper=paper,
                    client_id=client_id,
                    **_terms(request),
                    status="PendingSubmit",
                    message="checks passed; sending to the gateway",
                )
            except DuplicateRefError:
                # A concurrent run with the same ref got there first: report its order.
                raced = orders.by_ref(self.client_ref)
                assert raced is not None
                return raced, True, None
        wait = self.timeout if self.timeout is not None else self.settings.ib_timeout
        ticket = OrderTicket(request, account, self.client_ref)
        await _send(gateway, ticket, orders, existing, self.label, wait, self.grace)
        final = orders.get(existing.id)
        assert final is not None
        return final, False, price


async def _send(
    gateway: OrderGateway,
    ticket: OrderTicket,
    orders: OrderLog,
    stored: StoredOrder,
    label: str,
    timeout: float,
    grace: float | None,
) -> None:
    """Send the ticket and follow it to its first status, then for the grace period."""
    recorder = _Recorder(orders, stored.id)
    handle = gateway.place(ticket, recorder)
    try:
        recorder.record(
            (stored.status, stored.filled, stored.avg_fill_price),
            f"sent as IB order {handle.ib_order_id}",
            {"ib_order_id": handle.ib_order_id, "client_id": handle.client_id},
        )
        if not await handle.wait(FIRST_STATUSES, timeout):
            raise GatewayUnavailableError(
                f"the gateway did not confirm order {stored.id} (ref {ticket.client_ref}) "
                f"within {timeout:g} s; it may still reach the market",
                f"check `algotrader orders list --open`, and retry only with --ref {label}",
            )
        if grace is None:
            market = ticket.request.order_type == "MKT"
            grace = MARKET_GRACE_SECONDS if market else OTHER_GRACE_SECONDS
        await handle.wait(DONE_STATUSES, grace)
    finally:
        handle.detach()


def _stored_for_cancel(orders: OrderLog, order_id: int, by_ib: bool) -> StoredOrder:
    stored = orders.by_ib_order_id(order_id) if by_ib else orders.get(order_id)
    if stored is None:
        which = f"with IB order id {order_id}" if by_ib else str(order_id)
        raise DataNotFoundError(
            f"no stored order {which}", "see `algotrader orders list` for the order ids"
        )
    if stored.is_done:
        raise InvalidInputError(
            f"order {stored.id} is already {stored.state}; nothing to cancel",
            "see `algotrader orders list`",
        )
    if stored.ib_order_id is None:
        raise InvalidInputError(
            f"order {stored.id} was never acknowledged by the gateway (status {stored.status})",
            "check `algotrader orders list --open`",
        )
    return stored


async def cancel_order(
    settings: Settings,
    order_id: int,
    *,
    by_ib_order_id: bool = False,
    timeout: float | None = None,
    gateways: OrderGatewayFactory | None = None,
) -> StoredOrder:
    """Cancel a stored order (our id, or IB's order id with ``by_ib_order_id``) and wait for it.

    Connects with the clientId that placed the order (IB lets only that client cancel it),
    sends the cancel and waits for ``Cancelled`` (IB confirms with message 202, "Order
    Canceled", which is stored as the reason). Unknown and finished orders are refused with one
    line. Returns the stored row afterwards (it may say Filled if the fill won the race).
    """
    async with _order_log(settings) as orders:
        stored = _stored_for_cancel(orders, order_id, by_ib_order_id)
        assert stored.ib_order_id is not None
        cid = stored.client_id if stored.client_id is not None else settings.ib_client_id
        async with _factory(settings, gateways)(cid) as gateway:
            recorder = _Recorder(
                orders,
                stored.id,
                (stored.status, stored.filled, stored.avg_fill_price),
                stored.perm_id,
            )
            handle = gateway.follow(stored.ib_order_id, stored.client_ref, recorder)
            if handle is None:
                await _not_open(orders, gateway, stored, cid)
            assert handle is not None
            try:
                wait = timeout if timeout is not None else settings.ib_timeout
                refused = await gateway.cancel(handle, wait)
            finally:
                handle.detach()
            if refused is not None:
                raise InvalidInputError(
                    f"the gateway refused to cancel order {stored.id} ({refused})",
                    "see `algotrader orders list --open`",
                )
        final = orders.get(stored.id)
        assert final is not None
        return final


async def _not_open(
    orders: OrderLog, gateway: OrderGateway, stored: StoredOrder, client_id: int
) -> None:
    """Raise the right line for an order the gateway does not list as open for this client."""
    done = _by_ref(await gateway.known_orders(), stored.client_ref)
    if done is not None and done.is_done:
        updated = _adopt(
            orders,
            stored,
            done,
            _request_of(stored),
            stored.client_ref,
            stored.account or "",
            stored.is_paper,
        )
        raise InvalidInputError(
            f"order {updated.id} is already {updated.state} at the gateway; nothing to cancel",
            "see `algotrader orders list`",
        )
    raise DataNotFoundError(
        f"the gateway has no open order {stored.ib_order_id} (ref {stored.client_ref}) "
        f"for clientId {client_id}",
        "see `algotrader orders list --open`",
    )


def list_orders(settings: Settings, limit: int = 50) -> list[StoredOrder]:
    """The newest ``limit`` stored orders, oldest first."""
    with open_stores(settings) as stores:
        return stores.orders.recent(limit)


async def _sync(orders: OrderLog, gateway: OrderGateway) -> list[StoredOrder]:
    pending = [o for o in orders.recent(1000) if not o.is_done and o.confirmed]
    if not pending:
        return []
    known = await gateway.known_orders()
    by_ref = {o.client_ref: o for o in reversed(known) if o.client_ref}
    changed: list[StoredOrder] = []
    for stored in pending:
        found = by_ref.get(stored.client_ref)
        if found is None or found.status == stored.status:
            continue
        changed.append(
            _adopt(
                orders,
                stored,
                found,
                _request_of(stored),
                stored.client_ref,
                stored.account or "",
                stored.is_paper,
                "synced from the gateway",
            )
        )
    return changed


async def sync_orders(
    settings: Settings, *, gateways: OrderGatewayFactory | None = None
) -> list[StoredOrder]:
    """Bring stored orders that are still open up to date with the gateway; returns the changed.

    An order placed earlier keeps changing after its command ended (a LMT fills, a STP
    triggers, a DAY order expires). This reads the gateway's open and completed orders (and the
    executions synced at connect, for fill prices) and stores each new status by ``orderRef``.
    """
    async with _order_log(settings) as orders:
        if not any(not o.is_done and o.confirmed for o in orders.recent(1000)):
            return []
        async with _factory(settings, gateways)(settings.ib_client_id) as gateway:
            return await _sync(orders, gateway)


async def view_orders(
    settings: Settings,
    *,
    limit: int = 50,
    with_gateway: bool = False,
    gateways: OrderGatewayFactory | None = None,
) -> OrdersView:
    """The newest ``limit`` stored orders; ``with_gateway``: first bring the open ones up to date
    (see :func:`sync_orders`), and list the gateway's open orders of every client."""
    async with _order_log(settings) as orders:
        if not with_gateway:
            return OrdersView(orders.recent(limit), [])
        async with _factory(settings, gateways)(settings.ib_client_id) as gateway:
            updated = await _sync(orders, gateway)
            open_now = await gateway.open_orders()
            where = gateway.where
        return OrdersView(orders.recent(limit), updated, open_now, where)
