"""The internal paper broker: a :class:`~algotrader.ports.trading.Broker` that needs no account.

It fills like the backtest: a market order rests until the market's next price arrives
(:meth:`PaperBroker.quote`, called by the bar source with each new bar's open) and fills there
in full, with the backtest's slippage and commission (:func:`algotrader.backtest.incremental.
market_fill`, from the session's :class:`~algotrader.backtest.BacktestConfig`). A limit order
fills at its price (or a better open) once a quote reaches it. Status changes are reported as
IB does: ``Submitted`` on placing, then the :class:`~algotrader.ports.trading.Fill` and
``Filled``; a cancel reports ``Cancelled``.

State (orders, executions, cancels) is appended to a journal (JSON lines, flushed) at each
change when ``path`` is given, so a restarted session finds the orders and positions it left,
like a real account.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.incremental import market_fill
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

PAPER_ACCOUNT = "PAPER"
_DONE = frozenset({"Filled", "Cancelled"})


@dataclass(frozen=True, slots=True)
class _Order:
    """One order at the paper broker and how far it got."""

    order: TradeOrder
    order_id: str
    status: str
    filled: float = 0.0
    avg_fill_price: float | None = None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class PaperBroker:
    """A simulated account that fills orders at the next price it is quoted (see module doc).

    Args:
        config: the costs to charge (slippage and commissions of the backtest config).
        path: where to keep the state between runs (None: in memory only).
        account: the account name reported (``PAPER``).
    """

    name = "paper"
    is_paper = True

    def __init__(
        self, config: BacktestConfig, path: Path | None = None, account: str = PAPER_ACCOUNT
    ) -> None:
        self.config = config
        self.path = path
        self.account = account
        self._orders: dict[str, _Order] = {}
        self._fills: list[Fill] = []
        self._listener: BrokerListener | None = None
        self.last_prices: dict[str, float] = {}
        self._last_ts = datetime.fromtimestamp(0, UTC)
        self._journal: TextIO | None = None
        if path is not None and path.exists():
            self._load(path)

    # ------------------------------------------------------------------ the Broker port
    def listen(self, listener: BrokerListener) -> None:
        self._listener = listener

    async def place(self, order: TradeOrder) -> OrderAck:
        return self.place_now(order)

    async def cancel(self, client_ref: str) -> bool:
        return self.cancel_now(client_ref)

    def place_now(self, order: TradeOrder) -> OrderAck:
        """:meth:`place` without an event loop (the paper broker never waits)."""
        known = self._orders.get(order.client_ref)
        if known is not None:
            return OrderAck(order.client_ref, known.order_id, known.status, duplicate=True)
        placed = _Order(order, f"P{len(self._orders) + 1}", "Submitted")
        self._orders[order.client_ref] = placed
        self._save({"kind": "order", "order": asdict(order), "order_id": placed.order_id})
        self._status(placed, self._now(order.symbol))
        return OrderAck(order.client_ref, placed.order_id, placed.status)

    def cancel_now(self, client_ref: str) -> bool:
        """:meth:`cancel` without an event loop."""
        found = self._orders.get(client_ref)
        if found is None or found.status in _DONE:
            return False
        self._orders[client_ref] = done = replace(found, status="Cancelled")
        self._save({"kind": "cancel", "client_ref": client_ref})
        self._status(done, self._now(found.order.symbol), "cancelled by the client")
        return True

    def working(self) -> list[TradeOrder]:
        """The orders not yet filled or cancelled."""
        return [o.order for o in self._orders.values() if o.status not in _DONE]

    def held(self) -> dict[str, float]:
        """Signed position per symbol, from the executions."""
        out: dict[str, float] = {}
        for fill in self._fills:
            out[fill.symbol] = out.get(fill.symbol, 0.0) + fill.signed_quantity
        return {s: q for s, q in out.items() if q != 0.0}

    async def open_orders(self) -> list[BrokerOrder]:
        return [
            BrokerOrder(
                o.order.client_ref,
                o.order_id,
                o.order.symbol,
                o.order.side,
                o.order.quantity,
                o.filled,
                o.status,
                o.order.order_type,
                o.order.limit_price,
            )
            for o in self._orders.values()
            if o.status not in _DONE
        ]

    async def positions(self) -> list[BrokerPosition]:
        held: dict[str, tuple[float, float]] = {}
        for fill in self._fills:
            qty, cost = held.get(fill.symbol, (0.0, 0.0))
            held[fill.symbol] = (
                qty + fill.signed_quantity,
                cost + fill.signed_quantity * fill.price,
            )
        return [
            BrokerPosition(symbol, qty, cost / qty)
            for symbol, (qty, cost) in sorted(held.items())
            if qty != 0.0
        ]

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        return [f for f in self._fills if since is None or f.ts >= since]

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """:meth:`close` without an event loop: the journal file is closed."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # ------------------------------------------------------------------ the market side
    def quote(self, symbol: str, ts: datetime, price: float) -> int:
        """The market's price of ``symbol`` at ``ts`` (a bar's open): working orders of that
        symbol that this price fills, fill now, at ``ts``. Returns how many filled."""
        self.last_prices[symbol] = price
        self._last_ts = max(self._last_ts, ts)
        filled = 0
        for ref, placed in list(self._orders.items()):
            order = placed.order
            if order.symbol != symbol or placed.status in _DONE:
                continue
            at = self._fill_price(order, price)
            if at is None:
                continue
            self._execute(ref, placed, at, ts)
            filled += 1
        return filled

    def _fill_price(self, order: TradeOrder, price: float) -> float | None:
        if order.order_type == "MKT" or order.limit_price is None:
            return price
        limit = order.limit_price
        if order.side == "BUY":
            return min(price, limit) if price <= limit else None
        return max(price, limit) if price >= limit else None

    def _execute(self, ref: str, placed: _Order, price: float, ts: datetime) -> None:
        order = placed.order
        side = 1 if order.side == "BUY" else -1
        quantity = order.quantity - placed.filled
        if order.order_type == "MKT":
            at, fee = market_fill(self.config, side, quantity, price)
        else:
            at, fee = market_fill(replace(self.config, slippage_bps=0.0), side, quantity, price)
        fill = Fill(
            f"{placed.order_id}.{len(self._fills) + 1}",
            ref,
            placed.order_id,
            order.symbol,
            order.side,
            quantity,
            at,
            fee,
            ts,
        )
        self._fills.append(fill)
        self._save({"kind": "fill", "fill": asdict(fill)})
        self._orders[ref] = done = replace(
            placed, status="Filled", filled=order.quantity, avg_fill_price=at
        )
        self._emit(fill)
        self._status(done, ts)

    # ------------------------------------------------------------------ helpers
    def _now(self, symbol: str) -> datetime:
        # The paper broker has no clock of its own: events carry the time of the last quote.
        return self._last_ts

    def _status(self, placed: _Order, ts: datetime, message: str = "") -> None:
        remaining = max(placed.order.quantity - placed.filled, 0.0)
        self._emit(
            OrderStatusEvent(
                placed.order.client_ref,
                placed.order_id,
                placed.status,
                placed.filled,
                remaining,
                placed.avg_fill_price,
                ts,
                message,
            )
        )

    def _emit(self, event: BrokerEvent) -> None:
        if self._listener is not None:
            self._listener(event)

    def _save(self, entry: dict[str, Any] | None = None) -> None:
        """Append one change to the journal (one JSON line; O(1) per change, so a long
        session does not rewrite its history on every order)."""
        if self.path is None or entry is None:
            return
        if self._journal is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = self.path.open("a", encoding="utf-8")
        self._journal.write(json.dumps(entry, default=_json_default) + "\n")
        # Flushed to the OS at once: an order the loop was told about survives a crash of the
        # process (a simulated venue needs no protection against losing the machine).
        self._journal.flush()

    def _load(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue  # a torn last line of a crash is not a change
            entry = json.loads(line)
            if entry["kind"] == "order":
                order = TradeOrder(**entry["order"])
                self._orders[order.client_ref] = _Order(order, entry["order_id"], "Submitted")
            elif entry["kind"] == "fill":
                fill = Fill(**{**entry["fill"], "ts": datetime.fromisoformat(entry["fill"]["ts"])})
                self._fills.append(fill)
                placed = self._orders[fill.client_ref]
                self._orders[fill.client_ref] = replace(
                    placed, status="Filled", filled=placed.order.quantity,
                    avg_fill_price=fill.price,
                )  # fmt: skip
            elif entry["kind"] == "cancel":
                ref = entry["client_ref"]
                self._orders[ref] = replace(self._orders[ref], status="Cancelled")
