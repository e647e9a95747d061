"""The order gateway port: what the order use cases (:mod:`algotrader.app.orders`) need from a
broker, as a Protocol over frozen value objects.

- :class:`OrderRequest`: what the user wants to trade (validated on construction).
- :class:`OrderTicket`: what is sent (the request, the account, the client reference).
- :class:`OrderUpdate`: one status change or message the gateway reported for a sent order.
- :class:`GatewayOrder`: an order the gateway knows (open, or completed), with its fills.
- :class:`OrderHandle`: a sent order the gateway keeps reporting on; :meth:`OrderHandle.wait`.
- :class:`OrderGateway`: one open session with the broker; :class:`OrderGatewayFactory` opens
  one for a clientId.

Every gateway wait is bounded; a gateway that does not answer raises
:class:`~algotrader.errors.GatewayUnavailableError` (one line). The Interactive Brokers adapter
is :class:`algotrader.ibkr.orders.IbOrderGateway`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args

from algotrader.errors import InvalidInputError

Action = Literal["BUY", "SELL"]
OrderType = Literal["MKT", "LMT", "STP"]
TimeInForce = Literal["DAY", "GTC"]

ACTIONS: tuple[str, ...] = get_args(Action)
ORDER_TYPES: tuple[str, ...] = get_args(OrderType)
TIFS: tuple[str, ...] = get_args(TimeInForce)

# Statuses after which IB never changes an order again (ib_async's OrderStatus.DoneStates).
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")


def _bad(what: str, value: object, fix: str) -> InvalidInputError:
    return InvalidInputError(f"invalid {what} {value!r}", fix)


def _check_prices(order_type: str, limit: float | None, stop: float | None) -> None:
    for name, price in (("limit price", limit), ("stop price", stop)):
        if price is not None and (not math.isfinite(price) or price <= 0):
            raise InvalidInputError(f"invalid {name} {price:g}", "--price must be greater than 0")
    if order_type == "LMT" and limit is None:
        raise InvalidInputError(
            "a LMT order needs a limit price", "pass --price, e.g. --price 250.00"
        )
    if order_type == "STP" and stop is None:
        raise InvalidInputError(
            "a STP order needs a stop price", "pass --price, e.g. --price 240.00"
        )
    if order_type == "MKT" and (limit is not None or stop is not None):
        raise InvalidInputError(
            "a MKT order takes no price", "drop --price, or use --type LMT or --type STP"
        )
    if order_type == "LMT" and stop is not None:
        raise InvalidInputError("a LMT order takes no stop price", "pass only --price")
    if order_type == "STP" and limit is not None:
        raise InvalidInputError("a STP order takes no limit price", "pass only --price")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What to trade. Normalised (upper case) and validated on construction.

    - ``symbol``: a US stock ticker (SMART-routed, USD).
    - ``action``: ``BUY`` or ``SELL``; ``quantity`` > 0 (shares).
    - ``order_type``: ``MKT`` (no price), ``LMT`` (needs ``limit_price``) or ``STP`` (needs
      ``stop_price``: a buy stop triggers at or above it, a sell stop at or below).
    - ``tif``: ``DAY`` (expires at the close) or ``GTC``.
    - ``ref``: the label that makes a retry idempotent
      (:func:`algotrader.app.orders.client_ref_for`); None = generate one.

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
        _check_prices(order_type, self.limit_price, self.stop_price)
        if self.ref is not None and not _LABEL_RE.match(self.ref):
            raise _bad("--ref", self.ref, "use up to 40 letters, digits, '.', '_', ':' or '-'")
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


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """An order to send: the request's terms, the account, and the client reference the gateway
    keeps with the order (IB's ``orderRef``)."""

    request: OrderRequest
    account: str
    client_ref: str


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One report about a sent order: its status and fill so far, and a message.

    ``code`` is the broker's message code when the report is a message (IB: 202 "Order
    Canceled", 10148 "cannot be cancelled"...); ``perm_id`` the broker's permanent order id once
    known. ``avg_fill_price`` is None before any fill.
    """

    status: str
    filled: float
    avg_fill_price: float | None
    message: str = ""
    code: int | None = None
    perm_id: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayOrder:
    """An order as the gateway reports it (open, or completed with its fills).

    ``ib_order_id`` and ``client_id`` are None when the gateway does not say (IB's completed
    orders carry neither); ``client_ref`` is the reference the order was sent with ("" for
    orders placed by hand).
    """

    client_ref: str
    account: str
    symbol: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    stop_price: float | None
    tif: str
    status: str
    filled: float
    remaining: float
    avg_fill_price: float | None
    ib_order_id: int | None = None
    client_id: int | None = None
    perm_id: int | None = None

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def terms(self) -> str:
        """``BUY 1 TSLA LMT 250.00 DAY``."""
        price = self.limit_price if self.order_type == "LMT" else self.stop_price
        priced = f" {price:.2f}" if price is not None and self.order_type in ("LMT", "STP") else ""
        return f"{self.action} {self.quantity:g} {self.symbol} {self.order_type}{priced} {self.tif}"


OnUpdate = Callable[[OrderUpdate], None]


class OrderHandle(Protocol):
    """A sent order the gateway keeps reporting on (through the ``on_update`` it was given)."""

    @property
    def ib_order_id(self) -> int:
        """The broker's order id (per clientId)."""
        ...

    @property
    def client_id(self) -> int:
        """The clientId the order belongs to (only that client may cancel it)."""
        ...

    @property
    def status(self) -> str:
        """The latest status."""
        ...

    async def wait(self, statuses: frozenset[str], timeout: float) -> bool:
        """Wait until the status is one of ``statuses``; False when ``timeout`` s pass first."""
        ...

    def detach(self) -> None:
        """Stop reporting (``on_update`` is not called any more)."""
        ...


class OrderGateway(Protocol):
    """One open session with a broker, as the order use cases need it."""

    @property
    def where(self) -> str:
        """Where the gateway is, for messages (``127.0.0.1:7497``)."""
        ...

    @property
    def client_id(self) -> int:
        """The clientId of this session."""
        ...

    def accounts(self) -> list[str]:
        """The accounts the gateway manages."""
        ...

    async def qualify(self, symbol: str) -> None:
        """Check the broker knows ``symbol`` (raises DataNotFoundError otherwise)."""
        ...

    async def last_price(self, symbol: str) -> float | None:
        """The last traded price of ``symbol``, or None when the gateway has none."""
        ...

    async def open_orders(self) -> list[GatewayOrder]:
        """Every open order at the gateway, placed by any client."""
        ...

    async def known_orders(self) -> list[GatewayOrder]:
        """Open orders of every client and the completed ones, with their fills."""
        ...

    def place(self, ticket: OrderTicket, on_update: OnUpdate) -> OrderHandle:
        """Send ``ticket``; its status changes and messages go to ``on_update``."""
        ...

    def follow(self, ib_order_id: int, client_ref: str, on_update: OnUpdate) -> OrderHandle | None:
        """An open order of this session's clientId (by id or reference), or None."""
        ...

    async def cancel(self, handle: OrderHandle, timeout: float) -> str | None:
        """Cancel the order and wait (at most ``timeout`` s) for the gateway's verdict.

        None when the order reached a final status (Cancelled, or Filled if the fill won the
        race), with the reason for it reported to ``on_update``; otherwise the gateway's reason
        for refusing the cancel. Raises GatewayUnavailableError when nothing is confirmed in time.
        """
        ...


class OrderGatewayFactory(Protocol):
    """Opens an :class:`OrderGateway` session for ``client_id`` (closed on exit).

    ``readonly`` sessions only read (no order sync at connect).
    """

    def __call__(
        self, client_id: int, *, readonly: bool = False
    ) -> AbstractAsyncContextManager[OrderGateway]: ...


# ---------------------------------------------------------------------------- the order log

# Statuses after which IB never changes an order again (ib_async's OrderStatus.DoneStates).
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
# Statuses that mean the gateway has the order; PendingSubmit rows may never have left us.
CONFIRMED_STATUSES = frozenset(
    {"PreSubmitted", "Submitted", "PendingCancel", "ApiPending", *DONE_STATUSES}
)


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt_qty(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """A row of ``orders`` as it was when read."""

    id: int
    client_ref: str
    account: str | None
    is_paper: bool
    symbol: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    stop_price: float | None
    tif: str
    ib_order_id: int | None
    perm_id: int | None
    client_id: int | None
    status: str
    filled: float
    avg_fill_price: float | None
    message: str | None
    created_at: datetime
    updated_at: datetime
    status_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def confirmed(self) -> bool:
        """The gateway acknowledged it (anything past PendingSubmit)."""
        return self.status in CONFIRMED_STATUSES or self.perm_id is not None

    @property
    def terms(self) -> str:
        """``BUY 1 TSLA LMT 250.00 DAY``."""
        price = self.limit_price if self.order_type == "LMT" else self.stop_price
        priced = f" {price:.2f}" if price is not None and self.order_type != "MKT" else ""
        return (
            f"{self.action} {_fmt_qty(self.quantity)} {self.symbol} {self.order_type}{priced} "
            f"{self.tif}"
        )

    @property
    def state(self) -> str:
        """``Filled 1 @ 251.32``, ``Submitted``, ``Submitted (filled 2 of 5 @ 10.00)``."""
        if self.filled and self.avg_fill_price is not None:
            fill = f"{_fmt_qty(self.filled)} @ {self.avg_fill_price:.2f}"
            if self.status == "Filled":
                return f"Filled {fill}"
            return f"{self.status} (filled {fill} of {_fmt_qty(self.quantity)})"
        return self.status

    def describe(self) -> str:
        """The one line users see, e.g.
        ``Order 3 (IB 12, ref ab12cd34-9f8e7d6c): BUY 1 TSLA MKT DAY -> Filled 1 @ 251.32
        (paper account DU1234567)``."""
        ib = f"IB {self.ib_order_id}, " if self.ib_order_id is not None else ""
        kind = "paper account" if self.is_paper else "LIVE account"
        line = f"Order {self.id} ({ib}ref {self.client_ref}): {self.terms} -> {self.state}"
        if self.status in ("Cancelled", "ApiCancelled", "Inactive") and self.message:
            line += f" [{self.message}]"
        return f"{line} ({kind} {self.account or '?'})"

def history_entry(
    status: str, filled: float, avg_fill_price: float | None, message: str = ""
) -> dict[str, Any]:
    """One ``status_history`` element."""
    return {
        "ts": _now().isoformat(),
        "status": status,
        "filled": filled,
        "avg_fill_price": avg_fill_price,
        "message": message,
    }


class DuplicateRefError(Exception):
    """Another process stored an order with the same client_ref first."""


class OrderLog(Protocol):
    """Every order we send and every status change (the ``orders`` table)."""

    def get(self, order_id: int) -> StoredOrder | None: ...

    def by_ref(self, client_ref: str) -> StoredOrder | None: ...

    def by_ib_order_id(self, ib_order_id: int) -> StoredOrder | None: ...

    def recent(self, limit: int = 50) -> list[StoredOrder]: ...

    def create(self, **values: Any) -> StoredOrder: ...

    def update(
        self, order_id: int, *, entry: dict[str, Any] | None = None, **values: Any
    ) -> StoredOrder: ...
