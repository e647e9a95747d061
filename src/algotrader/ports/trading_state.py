"""What a trading session persists (:class:`TradingStore`), as a Protocol over frozen records.

A session (``trading_sessions``) is named; the same ``algotrader trade`` command resumes it.
Per symbol it keeps the last processed bar and the decider's book (``trading_symbols``); every
completed bar leaves one :class:`DecisionRecord` (``trading_decisions``: the bar, the signal,
the order and what became of it, the latency from the bar's completion to the order), and every
execution one fill (``trading_fills``, unique ``exec_id``). :mod:`algotrader.db.trading`
implements it on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from algotrader.ports.trading import Fill

# Decision statuses (trading_decisions.status).
NONE = "none"
PENDING = "pending"
SENT = "sent"
FILLED = "filled"
REJECTED = "rejected"
CANCELLED = "cancelled"
LOST = "lost"
BACKFILL = "backfill"
OPEN_STATUSES = frozenset({PENDING, SENT})


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A trading session as stored (see :class:`algotrader.db.models.TradingSession`)."""

    id: int
    name: str
    strategy: str
    params: dict[str, Any]
    symbols: list[str]
    resolution: str
    broker: str
    account: str | None
    is_paper: bool
    config: dict[str, Any]
    history_start: dict[str, str]
    state: str
    message: str | None
    stop_requested: bool
    flatten_requested: bool
    halted_until: datetime | None
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SymbolState:
    """Where a session is with one symbol: the last bar processed and the decider's book."""

    symbol: str
    last_bar_ts: datetime | None
    book: list[Any] | None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One completed bar of one symbol and what the session did about it.

    ``signal`` +1/-1/0; ``side``/``quantity`` the order (None/0 without one); ``status`` one of
    the module's statuses; ``reason`` why an order was rejected or lost; ``latency_ms`` from the
    bar's completion (received) to the order's sending.
    """

    session_id: int
    symbol: str
    bar_ts: datetime
    close: float
    signal: int
    status: str
    completed_at: datetime
    side: str | None = None
    quantity: float = 0.0
    price: float | None = None
    client_ref: str | None = None
    reason: str | None = None
    broker_order_id: str | None = None
    filled: float = 0.0
    avg_fill_price: float | None = None
    book_before: list[Any] | None = field(default=None, repr=False)
    sent_at: datetime | None = None
    latency_ms: float | None = None


class TradingStore(Protocol):
    """The trading tables of one database."""

    def session(self, name: str) -> SessionRecord | None:
        """The session called ``name``, or None."""
        ...

    def sessions(self) -> list[SessionRecord]:
        """Every session, newest first."""
        ...

    def create_session(self, **values: Any) -> SessionRecord:
        """Insert a session (column values); returns the existing one if ``name`` is taken."""
        ...

    def update_session(self, session_id: int, **values: Any) -> SessionRecord:
        """Set columns of a session (``updated_at`` too)."""
        ...

    def symbol_states(self, session_id: int) -> dict[str, SymbolState]:
        """Per symbol: the last processed bar and the book (symbols never seen are absent)."""
        ...

    def add_decision(self, decision: DecisionRecord) -> tuple[DecisionRecord, bool]:
        """Store a decision that leads to an order, before the order is sent (the high-water
        mark is not moved: :meth:`save_progress` does that once the bar is stored). When the
        bar already has a decision nothing is written: returns ``(the stored one, False)``."""
        ...

    def save_progress(
        self, session_id: int, decisions: list[DecisionRecord], marks: list[SymbolState]
    ) -> None:
        """In one transaction: store decisions without orders and move the symbols'
        high-water marks and books (the bars up to the marks must be stored already)."""
        ...

    def update_decision(self, session_id: int, client_ref: str, **values: Any) -> None:
        """Set columns of the decision whose order has ``client_ref``."""
        ...

    def set_book(self, session_id: int, symbol: str, book: list[Any]) -> None:
        """Replace a symbol's book (after a rejected or lost order is rolled back)."""
        ...

    def decisions(self, session_id: int, *, orders_only: bool = False) -> list[DecisionRecord]:
        """The session's decisions in bar order (only those with an order when asked)."""
        ...

    def decision_by_ref(self, session_id: int, client_ref: str) -> DecisionRecord | None:
        """The decision whose order has ``client_ref``."""
        ...

    def add_fill(self, session_id: int, fill: Fill) -> bool:
        """Store an execution; False when its ``exec_id`` was stored already."""
        ...

    def fills(self, session_id: int) -> list[Fill]:
        """The session's executions in time order."""
        ...
