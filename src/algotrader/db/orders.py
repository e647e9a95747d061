"""The order log: every order we send and every status change, in the ``orders`` table.

Rows are written before an order goes out (status ``PendingSubmit``) and then once per status
change, each change appended to ``status_history`` as
``{ts, status, filled, avg_fill_price, message}``. Callers get :class:`StoredOrder` snapshots,
never live ORM objects, so nothing holds a session open while waiting on the gateway.

Every order and every status change is also written to the orders log file
(``logs/orders.log``, logger ``algotrader.orders``), one line each.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from algotrader.db.engine import Database
from algotrader.db.models import Order
from algotrader.observability import metrics
from algotrader.ports.orders import DuplicateRefError, StoredOrder, history_entry

# The orders log file (logs/orders.log): every order and every status change, one line each.
log = logging.getLogger("algotrader.orders")


def _now() -> datetime:
    return datetime.now(UTC)


def _said(message: str | None) -> str:
    return f" [{message}]" if message else ""

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






class SqlOrderLog:
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
        metrics.record_order_status(stored.status)
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
        if entry is not None:
            metrics.record_order_status(entry["status"])
        ids = ", ".join(f"{key} {value}" for key, value in sorted(values.items()))
        if entry is not None:
            log.info("order %d (ref %s): %s%s%s", stored.id, stored.client_ref, stored.state,
                     _said(entry["message"]), f" ({ids})" if ids else "")
        elif ids:
            log.info("order %d (ref %s): %s", stored.id, stored.client_ref, ids)
        return stored
