"""Placing, cancelling and listing orders through TWS / IB Gateway (or ``algotrader ib-sim``).

Typical use (the CLI does exactly this)::

    request = OrderRequest("TSLA", "BUY", 1)                     # MKT DAY
    result = asyncio.run(place_order(settings, request))          # paper accounts only
    print(result.order.describe())
    # Order 3 (IB 12, ref 1f2e3d4c-9a8b7c6d): BUY 1 TSLA MKT DAY -> Filled 1 @ 251.32 (paper ...)

What :func:`place_order` guarantees, in this order:

1. The request is valid (:class:`OrderRequest` checks itself) and within the limits of
   :mod:`algotrader.broker.risk`; a live port or a non-paper account is refused without
   ``live=True``. All of that happens before anything is sent.
2. Idempotency: every order carries a client reference (``orderRef`` at IB, ``client_ref`` in
   our table) derived from the request and a label (``--ref``; generated when not given). If an
   order with that reference is already in our table, or known to the gateway (open or
   completed), it is reported and nothing is sent again. Re-running a command with the same
   ``--ref`` is therefore safe.
3. The order is stored before it is sent, and every status change after that is appended to its
   ``status_history``. The call returns at the first status (Submitted, PreSubmitted, Filled,
   Cancelled, Inactive) after following it for a short grace period, so that a market order's
   fill is usually recorded by the command that placed it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ib_async import IB, Contract, LimitOrder, MarketOrder, Stock, StopOrder, Trade
from ib_async import Order as IBOrder

from algotrader.broker import risk
from algotrader.broker.orderlog import (
    DONE_STATUSES,
    DuplicateRefError,
    OrderLog,
    StoredOrder,
    history_entry,
)
from algotrader.config import Settings
from algotrader.db.engine import Database, open_database
from algotrader.errors import DataNotFoundError, GatewayUnavailableError, InvalidInputError
from algotrader.ibkr.connection import connect_ib

log = logging.getLogger(__name__)

Action = Literal["BUY", "SELL"]
OrderType = Literal["MKT", "LMT", "STP"]
TimeInForce = Literal["DAY", "GTC"]

ACTIONS: tuple[str, ...] = get_args(Action)
ORDER_TYPES: tuple[str, ...] = get_args(OrderType)
TIFS: tuple[str, ...] = get_args(TimeInForce)

# The first status that tells us the gateway decided something about a new order.
# ValidationError is ib_async's name for a warning-level rejection (e.g. 321) of the request.
FIRST_STATUSES = frozenset(
    {"PreSubmitted", "Submitted", "Filled", "Cancelled", "ApiCancelled", "Inactive",
     "ValidationError"}
)
# How long to keep following an order after its first status. A MKT order normally fills within
# a second; others are only given a moment for a marketable price to fill at once.
MARKET_GRACE_SECONDS = 2.0
OTHER_GRACE_SECONDS = 0.3

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")


def _bad(what: str, value: object, fix: str) -> InvalidInputError:
    return InvalidInputError(f"invalid {what} {value!r}", fix)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What to trade. Normalised (upper case) and validated on construction.

    - ``symbol``: a US stock ticker (SMART-routed, USD).
    - ``action``: ``BUY`` or ``SELL``; ``quantity`` > 0 (shares).
    - ``order_type``: ``MKT`` (no price), ``LMT`` (needs ``limit_price``) or ``STP`` (needs
      ``stop_price``: a buy stop triggers at or above it, a sell stop at or below).
    - ``tif``: ``DAY`` (expires at the close) or ``GTC``.
    - ``ref``: the label that makes a retry idempotent (see :func:`client_ref_for`); None =
      generate one.

    :meth:`from_cli` maps the CLI's single ``--price`` onto the limit or stop price.
    """

    symbol: str
    action: str
    quantity: float
    order_type: str = "MKT"
    limit_price: float | None = None
    stop_price: float | None = None
    tif: str = "DAY"
    ref: str | None = None

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__, once, here.
        symbol = str(self.symbol).strip().upper()
        if not _SYMBOL_RE.match(symbol):
            raise _bad("symbol", self.symbol, "pass a ticker such as TSLA or BRK.B")
        action = str(self.action).strip().upper()
        if action not in ACTIONS:
            raise _bad("action", self.action, "use --action BUY or --action SELL")
        order_type = str(self.order_type).strip().upper()
        if order_type not in ORDER_TYPES:
            raise _bad("order type", self.order_type, "use --type MKT, LMT or STP")
        tif = str(self.tif).strip().upper()
        if tif not in TIFS:
            raise _bad("time in force", self.tif, "use --tif DAY or --tif GTC")
        quantity = float(self.quantity)
        if not math.isfinite(quantity) or quantity <= 0:
            raise InvalidInputError(
                f"invalid quantity {self.quantity:g}", "--quantity must be greater than 0"
            )
        for name, price in (("limit price", self.limit_price), ("stop price", self.stop_price)):
            if price is not None and (not math.isfinite(price) or price <= 0):
                raise InvalidInputError(
                    f"invalid {name} {price:g}", "--price must be greater than 0"
                )
        if order_type == "LMT" and self.limit_price is None:
            raise InvalidInputError(
                "a LMT order needs a limit price", "pass --price, e.g. --price 250.00"
            )
        if order_type == "STP" and self.stop_price is None:
            raise InvalidInputError(
                "a STP order needs a stop price", "pass --price, e.g. --price 240.00"
            )
        if order_type == "MKT" and (self.limit_price is not None or self.stop_price is not None):
            raise InvalidInputError(
                "a MKT order takes no price", "drop --price, or use --type LMT or --type STP"
            )
        if order_type == "LMT" and self.stop_price is not None:
            raise InvalidInputError("a LMT order takes no stop price", "pass only --price")
        if order_type == "STP" and self.limit_price is not None:
            raise InvalidInputError("a STP order takes no limit price", "pass only --price")
        if self.ref is not None and not _LABEL_RE.match(self.ref):
            raise _bad(
                "--ref", self.ref, "use up to 40 letters, digits, '.', '_', ':' or '-'"
            )
        for name, value in (("symbol", symbol), ("action", action), ("order_type", order_type),
                            ("tif", tif), ("quantity", quantity)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_cli(
        cls,
        symbol: str,
        action: str,
        quantity: float,
        order_type: str = "MKT",
        price: float | None = None,
        tif: str = "DAY",
        ref: str | None = None,
    ) -> OrderRequest:
        """``--price`` is the limit price of a LMT order and the stop price of a STP order."""
        kind = order_type.strip().upper()
        return cls(
            symbol=symbol,
            action=action,
            quantity=quantity,
            order_type=order_type,
            limit_price=price if kind != "STP" else None,
            stop_price=price if kind == "STP" else None,
            tif=tif,
            ref=ref,
        )

    @property
    def reference_price(self) -> float | None:
        """The order's own price (limit or stop), used for the notional limit; None for MKT."""
        return self.limit_price if self.order_type == "LMT" else self.stop_price

    def fingerprint(self) -> str:
        """A canonical text of the order's terms (not its ref)."""

        def num(value: float | None) -> str:
            return "" if value is None else repr(float(value))

        return "|".join((self.symbol, self.action, num(self.quantity), self.order_type,
                         num(self.limit_price), num(self.stop_price), self.tif))


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


@dataclass
class _Follower:
    """Mirrors one trade's status changes into the order log as they happen."""

    orders: OrderLog
    order_id: int
    trade: Trade
    last: tuple[str, float, float | None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stored: StoredOrder | None = None

    def attach(self, ib: IB) -> Callable[[], None]:
        """Subscribe to ``ib``; the returned function unsubscribes."""
        self.trade.statusEvent += self._on_status
        ib.errorEvent += self._on_error

        def detach() -> None:
            self.trade.statusEvent -= self._on_status
            ib.errorEvent -= self._on_error

        return detach

    def _state(self) -> tuple[str, float, float | None]:
        status = self.trade.orderStatus
        filled = float(status.filled or 0.0)
        # IB reports 0 before any fill; store no price rather than a false 0.00.
        avg = float(status.avgFillPrice) if filled and status.avgFillPrice else None
        return status.status, filled, avg

    def record(self, message: str = "", *, ids: dict[str, Any] | None = None) -> None:
        state = self._state()
        if state == self.last and not message and not ids:
            return
        self.last = state
        entry = history_entry(*state, message)
        try:
            self.stored = self.orders.update(self.order_id, entry=entry, **(ids or {}))
        except Exception:  # a failing write must not kill the event loop's callbacks
            log.exception("could not store status %s of order %s", state, self.order_id)
        self.changed.set()

    def _on_status(self, trade: Trade) -> None:
        entry = trade.log[-1] if trade.log else None
        message = ""
        if entry is not None and entry.status == trade.orderStatus.status and entry.errorCode:
            message = f"{entry.errorCode}: {entry.message}"
        ids: dict[str, Any] = {}
        perm_id = trade.orderStatus.permId or trade.order.permId
        if perm_id:
            ids["perm_id"] = perm_id
        self.record(message, ids=ids or None)

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        if req_id != self.trade.order.orderId or 2100 <= code < 2200:
            return
        # 202 arrives after the Cancelled status; it only adds its reason to the history.
        message = f"{code}: {text}"
        if self.stored is not None and self.stored.message == message:
            return
        self.record(message)

    async def wait(self, statuses: frozenset[str], timeout: float) -> bool:
        """Wait until the trade's status is one of ``statuses``; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.trade.orderStatus.status not in statuses:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return self.trade.orderStatus.status in statuses
        return True


def _ib_order(request: OrderRequest, account: str, client_ref: str) -> IBOrder:
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
    order.orderRef = client_ref
    order.account = account
    return order


@asynccontextmanager
async def _gateway(
    settings: Settings, client_id: int, readonly: bool = False
) -> AsyncIterator[IB]:
    """:func:`connect_ib`, with a way out that fits orders (no "--source" advice)."""
    try:
        async with connect_ib(settings, client_id=client_id, readonly=readonly) as ib:
            yield ib
    except GatewayUnavailableError as exc:
        fix = re.sub(r",? or use --source [^,;]*", "", exc.fix or "")
        if fix == (exc.fix or ""):
            raise
        raise GatewayUnavailableError(exc.problem, fix) from None


async def _qualified(ib: IB, symbol: str) -> Contract:
    contract = Stock(symbol, "SMART", "USD")
    [result] = await ib.qualifyContractsAsync(contract)
    if result is None:
        raise DataNotFoundError(
            f"the gateway knows no US stock {symbol}", "check the symbol (e.g. TSLA, BRK.B)"
        )
    return contract


async def _gateway_trade(ib: IB, client_ref: str) -> Trade | None:
    """A trade with ``orderRef == client_ref`` among the gateway's open and completed orders.

    The connect-time sync (readonly=False) brought this client's open orders and the completed
    ones; ``reqAllOpenOrders`` adds open orders placed by other clientIds.
    """
    candidates = [*await ib.reqAllOpenOrdersAsync(), *ib.trades()]
    for trade in candidates:
        if trade.order.orderRef == client_ref:
            return trade
    return None


def _adopt(
    orders: OrderLog, existing: StoredOrder | None, trade: Trade, request: OrderRequest,
    client_ref: str, account: str, paper: bool, message: str = "found at the gateway by orderRef",
) -> StoredOrder:
    """Store (or bring up to date) our row for an order the gateway has."""
    status = trade.orderStatus.status
    filled = float(trade.orderStatus.filled or 0.0)
    avg = float(trade.orderStatus.avgFillPrice) if filled and trade.orderStatus.avgFillPrice \
        else None
    if not filled and trade.fills:
        # completedOrders carries no fill price; the executions synced at connect do.
        filled = sum(f.execution.shares for f in trade.fills)
        avg = sum(f.execution.shares * f.execution.price for f in trade.fills) / filled
    order_filled = trade.order.filledQuantity
    if not filled and order_filled and math.isfinite(order_filled) and order_filled < 1e300:
        filled = float(order_filled)  # completed orders state the quantity, not the price
    ids = {
        "ib_order_id": trade.order.orderId or None,
        "perm_id": trade.order.permId or None,
        "client_id": trade.order.clientId,
    }
    entry = history_entry(status, filled, avg, message)
    if existing is not None:
        return orders.update(existing.id, entry=entry, **ids)
    return orders.create(
        client_ref=client_ref, account=trade.order.account or account, is_paper=paper,
        **_terms(request), status=status, filled=filled, avg_fill_price=avg,
        status_history=[entry], message=entry["message"], **ids,
    )


def _terms(request: OrderRequest) -> dict[str, Any]:
    return {
        "symbol": request.symbol, "action": request.action, "quantity": request.quantity,
        "order_type": request.order_type, "limit_price": request.limit_price,
        "stop_price": request.stop_price, "tif": request.tif,
    }


async def place_order(
    settings: Settings,
    request: OrderRequest,
    *,
    live: bool = False,
    db: Database | None = None,
    client_id: int | None = None,
    timeout: float | None = None,
    grace: float | None = None,
) -> PlaceResult:
    """Check, store, send and follow one order; see the module docstring for the guarantees.

    ``live=True`` allows a live account (real money). ``db`` defaults to the configured database
    (opened and closed here). ``timeout`` bounds the wait for the first status (default
    ``settings.ib_timeout``); ``grace`` is how long to keep following after it (default 2 s for
    MKT, 0.3 s otherwise).

    Raises :class:`~algotrader.errors.UserError` subclasses for invalid input, a broken limit,
    a refused live account, an unreachable gateway, or no status within ``timeout`` (the order
    is stored then, and a retry with the same ref will find it rather than send it again).
    """
    own_db = db is None
    database = db if db is not None else open_database(settings)
    try:
        return await _place(settings, request, OrderLog(database), live=live,
                            client_id=client_id, timeout=timeout, grace=grace)
    finally:
        if own_db:
            database.dispose()


async def _place(
    settings: Settings, request: OrderRequest, orders: OrderLog, *, live: bool,
    client_id: int | None, timeout: float | None, grace: float | None,
) -> PlaceResult:
    label = request.ref or new_label()
    generated = request.ref is None
    client_ref = client_ref_for(request, label)
    result = _result_factory(label, generated)

    existing = orders.by_ref(client_ref)
    if existing is not None and existing.confirmed:
        # Stored and acknowledged: a retry. Nothing to check or send.
        return result(existing, already=True)

    risk.check_static_limits(request, settings)
    risk.refuse_live_port(settings, live)
    cid = settings.ib_client_id if client_id is None else client_id
    async with _gateway(settings, cid) as ib:
        account = risk.resolve_account(ib, settings)
        paper = risk.check_trading_mode(account, settings, live)
        contract = await _qualified(ib, request.symbol)

        known = await _gateway_trade(ib, client_ref)
        if known is not None:
            # Sent before (by a run that died, or with another database): adopt, never resend.
            stored = _adopt(orders, existing, known, request, client_ref, account, paper)
            return result(stored, already=True)

        price = request.reference_price
        if request.order_type == "MKT":
            price = await risk.notional_check_for_market_order(ib, contract, request, settings)

        if existing is None:
            try:
                existing = orders.create(
                    client_ref=client_ref, account=account, is_paper=paper, client_id=cid,
                    **_terms(request), status="PendingSubmit",
                    message="checks passed; sending to the gateway",
                )
            except DuplicateRefError:
                # A concurrent run with the same ref got there first: report its order.
                raced = orders.by_ref(client_ref)
                assert raced is not None
                return result(raced, already=True)

        trade = ib.placeOrder(contract, _ib_order(request, account, client_ref))
        follower = _Follower(orders, existing.id, trade)
        detach = follower.attach(ib)
        try:
            follower.record(
                f"sent as IB order {trade.order.orderId}",
                ids={"ib_order_id": trade.order.orderId, "client_id": ib.client.clientId},
            )
            wait = timeout if timeout is not None else settings.ib_timeout
            if not await follower.wait(FIRST_STATUSES, wait):
                raise GatewayUnavailableError(
                    f"the gateway did not confirm order {existing.id} (ref {client_ref}) within "
                    f"{wait:g} s; it may still reach the market",
                    f"check `algotrader orders list --open`, and retry only with --ref {label}",
                )
            if grace is None:
                grace = MARKET_GRACE_SECONDS if request.order_type == "MKT" else \
                    OTHER_GRACE_SECONDS
            await follower.wait(DONE_STATUSES, grace)
        finally:
            detach()
        final = orders.get(existing.id)
        assert final is not None
        return result(final, already=False, price=price)


def _result_factory(label: str, generated: bool) -> Callable[..., PlaceResult]:
    def make(order: StoredOrder, *, already: bool, price: float | None = None) -> PlaceResult:
        return PlaceResult(order, already, label, generated, price)

    return make


async def cancel_order(
    settings: Settings,
    order_id: int,
    *,
    by_ib_order_id: bool = False,
    db: Database | None = None,
    timeout: float | None = None,
) -> StoredOrder:
    """Cancel a stored order (our id, or IB's order id with ``by_ib_order_id``) and wait for it.

    Connects with the clientId that placed the order (IB lets only that client cancel it),
    sends cancelOrder and waits for ``Cancelled`` (IB confirms with error 202, "Order
    Canceled", which is stored as the reason). Unknown and finished orders are refused with one
    line. Returns the stored row afterwards (it may say Filled if the fill won the race).
    """
    own_db = db is None
    database = db if db is not None else open_database(settings)
    try:
        return await _cancel(settings, OrderLog(database), order_id, by_ib_order_id, timeout)
    finally:
        if own_db:
            database.dispose()


async def _cancel(
    settings: Settings, orders: OrderLog, order_id: int, by_ib: bool, timeout: float | None
) -> StoredOrder:
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
    cid = stored.client_id if stored.client_id is not None else settings.ib_client_id
    async with _gateway(settings, cid) as ib:
        trade = next(
            (t for t in ib.openTrades()
             if t.order.orderId == stored.ib_order_id or t.order.orderRef == stored.client_ref),
            None,
        )
        if trade is None:
            # Not open any more: learn what became of it before saying so.
            done = await _gateway_trade(ib, stored.client_ref)
            if done is not None and done.orderStatus.status in DONE_STATUSES:
                request = _request_of(stored)
                updated = _adopt(orders, stored, done, request, stored.client_ref,
                                 stored.account or "", stored.is_paper)
                raise InvalidInputError(
                    f"order {updated.id} is already {updated.state} at the gateway; "
                    "nothing to cancel",
                    "see `algotrader orders list`",
                )
            raise DataNotFoundError(
                f"the gateway has no open order {stored.ib_order_id} (ref {stored.client_ref}) "
                f"for clientId {cid}",
                "see `algotrader orders list --open`",
            )
        follower = _Follower(orders, stored.id, trade)
        follower.last = follower._state()
        detach = follower.attach(ib)
        rejected: list[str] = []

        def on_error(req_id: int, code: int, text: str, contract: object) -> None:
            # 10147/10148: IB could not cancel (unknown, or already filled/cancelled).
            if req_id == stored.ib_order_id and code in (10147, 10148):
                rejected.append(f"{code}: {text}")

        ib.errorEvent += on_error
        try:
            ib.cancelOrder(trade.order)
            wait = timeout if timeout is not None else settings.ib_timeout
            ok = await follower.wait(DONE_STATUSES, wait)
            if rejected:
                raise InvalidInputError(
                    f"the gateway refused to cancel order {stored.id} ({rejected[0]})",
                    "see `algotrader orders list --open`",
                )
            if not ok:
                raise GatewayUnavailableError(
                    f"the gateway did not confirm the cancel of order {stored.id} within "
                    f"{wait:g} s",
                    "check `algotrader orders list --open` and try again",
                )
            # The 202 that confirms a cancel follows the Cancelled status: let it be stored.
            await asyncio.sleep(0.05)
        finally:
            ib.errorEvent -= on_error
            detach()
    final = orders.get(stored.id)
    assert final is not None
    return final


def _request_of(stored: StoredOrder) -> OrderRequest:
    return OrderRequest(
        stored.symbol, stored.action, stored.quantity, stored.order_type,
        stored.limit_price, stored.stop_price, stored.tif,
    )


@dataclass(frozen=True, slots=True)
class GatewayOrder:
    """An open order as the gateway reports it (``orders list --open``)."""

    ib_order_id: int
    client_id: int
    perm_id: int
    account: str
    ref: str
    terms: str
    status: str
    filled: float
    remaining: float


def list_orders(db: Database, limit: int = 50) -> list[StoredOrder]:
    """The newest ``limit`` stored orders, oldest first."""
    return OrderLog(db).recent(limit)


async def open_gateway_orders(settings: Settings) -> list[GatewayOrder]:
    """Every open order at the gateway, placed by any client (``reqAllOpenOrders``)."""
    async with _gateway(settings, settings.ib_client_id, readonly=True) as ib:
        trades = await ib.reqAllOpenOrdersAsync()
    out: list[GatewayOrder] = []
    for t in trades:
        o = t.order
        price = o.lmtPrice if o.orderType == "LMT" else o.auxPrice
        priced = f" {price:.2f}" if o.orderType in ("LMT", "STP") else ""
        out.append(GatewayOrder(
            ib_order_id=o.orderId, client_id=o.clientId, perm_id=o.permId, account=o.account,
            ref=o.orderRef, status=t.orderStatus.status,
            terms=f"{o.action} {float(o.totalQuantity):g} {t.contract.symbol} {o.orderType}"
                  f"{priced} {o.tif}",
            filled=float(t.orderStatus.filled or 0.0),
            remaining=float(t.orderStatus.remaining or 0.0),
        ))
    return out


async def sync_orders(settings: Settings, db: Database) -> list[StoredOrder]:
    """Bring stored orders that are still open up to date with the gateway; returns the changed.

    An order placed earlier keeps changing after its command ended (a LMT fills, a STP
    triggers, a DAY order expires). This reads the gateway's open and completed orders (and the
    executions synced at connect, for fill prices) and stores each new status by ``orderRef``.
    """
    orders = OrderLog(db)
    pending = [o for o in orders.recent(1000) if not o.is_done and o.confirmed]
    if not pending:
        return []
    changed: list[StoredOrder] = []
    async with _gateway(settings, settings.ib_client_id) as ib:
        trades = [*await ib.reqAllOpenOrdersAsync(), *ib.trades()]
        by_ref = {t.order.orderRef: t for t in reversed(trades) if t.order.orderRef}
        for stored in pending:
            trade = by_ref.get(stored.client_ref)
            if trade is None or trade.orderStatus.status == stored.status:
                continue
            changed.append(_adopt(orders, stored, trade, _request_of(stored), stored.client_ref,
                                  stored.account or "", stored.is_paper,
                                  "synced from the gateway"))
    return changed
