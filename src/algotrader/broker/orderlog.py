"""The order log: every order we send and every status change, in the ``orders`` table.

Rows are written before an order goes out (status ``PendingSubmit``) and then once per status
change, each change appended to ``status_history`` as
``{ts, status, filled, avg_fill_price, message}``. Callers get :class:`StoredOrder` snapshots,
never live ORM objects, so nothing holds a session open while waiting on the gateway.

Every order and every status change is also written to the orders log file
(``logs/broker.log``, logger ``algotrader.broker.orderlog``), one line each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from algotrader.db.engine import Database
from algotrader.db.models import Order

log = logging.getLogger(__name__)

# Statuses after which IB never changes an order again (ib_async's OrderStatus.DoneStates).
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
# Statuses that mean the gateway has the order; PendingSubmit rows may never have left us.
CONFIRMED_STATUSES = frozenset(
    {"PreSubmitted", "Submitted", "PendingCancel", "ApiPending", *DONE_STATUSES}
)


def _now() -> datetime:
    return datetime.now(UTC)


def _said(message: str | None) -> str:
    return f" [{message}]" if message else ""


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


def _snapshot(row: Order) -> StoredOrder:
    return StoredOrder(
        id=row.id, client_ref=row.client_ref, account=row.account, is_paper=row.is_paper,
        symbol=row.symbol, action=row.action, quantity=row.quantity, order_type=row.order_type,
        limit_price=row.limit_price, stop_price=row.stop_price, tif=row.tif,
        ib_order_id=row.ib_order_id, perm_id=row.perm_id, client_id=row.client_id,
        status=row.status, filled=row.filled, avg_fill_price=row.avg_fill_price,
        message=row.message, created_at=row.created_at, updated_at=row.updated_at,
        status_history=list(row.status_history or []),
    )


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


class OrderLog:
    """Reads and writes the ``orders`` table of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, order_id: int) -> StoredOrder | None:
        with Session(self.db.engine) as session:
            row = session.get(Order, order_id)
            return _snapshot(row) if row is not None else None

    def by_ref(self, client_ref: str) -> StoredOrder | None:
        with Session(self.db.engine) as session:
            row = session.scalars(select(Order).where(Order.client_ref == client_ref)).first()
            return _snapshot(row) if row is not None else None

    def by_ib_order_id(self, ib_order_id: int) -> StoredOrder | None:
        """The newest stored order with this IB order id (ids repeat across clientIds)."""
        with Session(self.db.engine) as session:
            row = session.scalars(
                select(Order).where(Order.ib_order_id == ib_order_id).order_by(Order.id.desc())
            ).first()
            return _snapshot(row) if row is not None else None

    def recent(self, limit: int = 50) -> list[StoredOrder]:
        """The newest ``limit`` orders, oldest first."""
        with Session(self.db.engine) as session:
            rows = session.scalars(select(Order).order_by(Order.id.desc()).limit(limit)).all()
            return [_snapshot(r) for r in reversed(rows)]

    def create(self, **values: Any) -> StoredOrder:
        """Insert an order (``values`` are column values); raises :class:`DuplicateRefError`."""
        status = values.setdefault("status", "PendingSubmit")
        message = values.get("message") or ""
        values.setdefault(
            "status_history",
            [history_entry(status, values.get("filled", 0.0), values.get("avg_fill_price"),
                           message)],
        )
        now = _now()
        with Session(self.db.engine) as session:
            row = Order(created_at=now, updated_at=now, **values)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise DuplicateRefError(values["client_ref"]) from None
            stored = _snapshot(row)
        log.info("order %d (ref %s) stored: %s, account %s (%s) -> %s%s", stored.id,
                 stored.client_ref, stored.terms, stored.account or "?",
                 "paper" if stored.is_paper else "LIVE", stored.state, _said(message))
        return stored

    def update(
        self, order_id: int, *, entry: dict[str, Any] | None = None, **values: Any
    ) -> StoredOrder:
        """Set columns and, with ``entry``, append a status change (and mirror it in the row)."""
        with Session(self.db.engine) as session:
            row = session.get(Order, order_id)
            if row is None:
                raise LookupError(order_id)
            for key, value in values.items():
                setattr(row, key, value)
            if entry is not None:
                row.status = entry["status"]
                row.filled = entry["filled"]
                row.avg_fill_price = entry["avg_fill_price"]
                if entry["message"]:
                    row.message = entry["message"]
                # A new list object: SQLAlchemy does not see in-place changes of a JSON value.
                row.status_history = [*(row.status_history or []), entry]
            row.updated_at = _now()
            session.commit()
            stored = _snapshot(row)
        ids = ", ".join(f"{key} {value}" for key, value in sorted(values.items()))
        if entry is not None:
            log.info("order %d (ref %s): %s%s%s", stored.id, stored.client_ref, stored.state,
                     _said(entry["message"]), f" ({ids})" if ids else "")
        elif ids:
            log.info("order %d (ref %s): %s", stored.id, stored.client_ref, ids)
        return stored
