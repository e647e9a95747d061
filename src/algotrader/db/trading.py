"""The trading tables (``trading_sessions``, ``trading_symbols``, ``trading_decisions``,
``trading_fills``) behind :class:`~algotrader.ports.trading_state.TradingStore`."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from algotrader.db.engine import Database
from algotrader.db.models import (
    Base,
    TradingDecision,
    TradingFill,
    TradingSession,
    TradingSymbol,
)
from algotrader.ports.trading import Fill
from algotrader.ports.trading_state import DecisionRecord, SessionRecord, SymbolState

_SESSIONS = Base.metadata.tables[TradingSession.__tablename__]
_SYMBOLS = Base.metadata.tables[TradingSymbol.__tablename__]
_DECISIONS = Base.metadata.tables[TradingDecision.__tablename__]
_FILLS = Base.metadata.tables[TradingFill.__tablename__]
_SESSION_FIELDS = tuple(f.name for f in fields(SessionRecord))
_DECISION_FIELDS = tuple(f.name for f in fields(DecisionRecord))
_FILL_FIELDS = tuple(f.name for f in fields(Fill))


def _now() -> datetime:
    return datetime.now(UTC)


def _session(row: RowMapping) -> SessionRecord:
    return SessionRecord(**{k: row[k] for k in _SESSION_FIELDS})


def _decision(row: RowMapping) -> DecisionRecord:
    return DecisionRecord(**{k: row[k] for k in _DECISION_FIELDS})


def _fill(row: RowMapping) -> Fill:
    return Fill(**{k: row[k] for k in _FILL_FIELDS})


class SqlTradingStore:
    """The trading state in the database (SQLite or PostgreSQL). Cheap to create."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def session(self, name: str) -> SessionRecord | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_SESSIONS).where(_SESSIONS.c.name == name)).mappings()
            found = row.first()
        return _session(found) if found is not None else None

    def sessions(self) -> list[SessionRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_SESSIONS).order_by(_SESSIONS.c.id.desc())).mappings()
            return [_session(r) for r in rows]

    def create_session(self, **values: Any) -> SessionRecord:
        now = _now()
        values = {
            "state": "created", "stop_requested": False, "flatten_requested": False,
            "history_start": {}, "started_at": now, "updated_at": now, **values,
        }  # fmt: skip
        try:
            with self.db.engine.begin() as conn:
                conn.execute(_SESSIONS.insert().values(**values))
        except IntegrityError:
            pass  # another process created it first: return theirs
        found = self.session(values["name"])
        assert found is not None
        return found

    def update_session(self, session_id: int, **values: Any) -> SessionRecord:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(_SESSIONS)
                .where(_SESSIONS.c.id == session_id)
                .values(updated_at=_now(), **values)
            )
            row = conn.execute(select(_SESSIONS).where(_SESSIONS.c.id == session_id))
            return _session(row.mappings().one())

    def symbol_states(self, session_id: int) -> dict[str, SymbolState]:
        query = select(_SYMBOLS).where(_SYMBOLS.c.session_id == session_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["symbol"]: SymbolState(r["symbol"], r["last_bar_ts"], r["book"]) for r in rows}

    def add_decision(self, decision: DecisionRecord) -> tuple[DecisionRecord, bool]:
        values = {k: getattr(decision, k) for k in _DECISION_FIELDS}
        try:
            with self.db.engine.begin() as conn:
                conn.execute(_DECISIONS.insert().values(updated_at=_now(), **values))
        except IntegrityError:
            key = (
                _DECISIONS.c.session_id == decision.session_id,
                _DECISIONS.c.symbol == decision.symbol,
                _DECISIONS.c.bar_ts == decision.bar_ts,
            )
            with self.db.engine.connect() as conn:
                row = conn.execute(select(_DECISIONS).where(*key)).mappings().one()
            return _decision(row), False
        return decision, True

    def save_progress(
        self, session_id: int, decisions: list[DecisionRecord], marks: list[SymbolState]
    ) -> None:
        now = _now()
        rows = [{**{k: getattr(d, k) for k in _DECISION_FIELDS}, "updated_at": now}
                for d in decisions]  # fmt: skip
        with self.db.engine.begin() as conn:
            rows = self._new_rows(conn, session_id, rows)
            if rows:
                conn.execute(_DECISIONS.insert(), rows)
            for mark in marks:
                key = (_SYMBOLS.c.session_id == session_id, _SYMBOLS.c.symbol == mark.symbol)
                values: dict[str, Any] = {"last_bar_ts": mark.last_bar_ts, "updated_at": now}
                if mark.book is not None:
                    values["book"] = mark.book
                if not conn.execute(update(_SYMBOLS).where(*key).values(**values)).rowcount:
                    conn.execute(
                        _SYMBOLS.insert().values(
                            session_id=session_id, symbol=mark.symbol, **values
                        )
                    )

    @staticmethod
    def _new_rows(
        conn: Connection, session_id: int, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The rows whose bar has no decision yet (a bar re-fed after a crash may have one)."""
        if not rows:
            return rows
        first = min(r["bar_ts"] for r in rows)
        query = select(_DECISIONS.c.symbol, _DECISIONS.c.bar_ts).where(
            _DECISIONS.c.session_id == session_id, _DECISIONS.c.bar_ts >= first
        )
        known = {(symbol, ts) for symbol, ts in conn.execute(query)}
        return [r for r in rows if (r["symbol"], r["bar_ts"]) not in known]

    def update_decision(self, session_id: int, client_ref: str, **values: Any) -> None:
        key = (_DECISIONS.c.session_id == session_id, _DECISIONS.c.client_ref == client_ref)
        with self.db.engine.begin() as conn:
            conn.execute(update(_DECISIONS).where(*key).values(updated_at=_now(), **values))

    def set_book(self, session_id: int, symbol: str, book: list[Any]) -> None:
        key = (_SYMBOLS.c.session_id == session_id, _SYMBOLS.c.symbol == symbol)
        with self.db.engine.begin() as conn:
            conn.execute(update(_SYMBOLS).where(*key).values(book=book, updated_at=_now()))

    def decisions(self, session_id: int, *, orders_only: bool = False) -> list[DecisionRecord]:
        query = select(_DECISIONS).where(_DECISIONS.c.session_id == session_id)
        if orders_only:
            query = query.where(_DECISIONS.c.client_ref.is_not(None))
        query = query.order_by(_DECISIONS.c.bar_ts, _DECISIONS.c.symbol)
        with self.db.engine.connect() as conn:
            return [_decision(r) for r in conn.execute(query).mappings()]

    def decision_by_ref(self, session_id: int, client_ref: str) -> DecisionRecord | None:
        key = (_DECISIONS.c.session_id == session_id, _DECISIONS.c.client_ref == client_ref)
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_DECISIONS).where(*key)).mappings().first()
        return _decision(row) if row is not None else None

    def add_fill(self, session_id: int, fill: Fill) -> bool:
        values = {k: getattr(fill, k) for k in _FILL_FIELDS}
        try:
            with self.db.engine.begin() as conn:
                conn.execute(_FILLS.insert().values(session_id=session_id, **values))
        except IntegrityError:
            return False
        return True

    def fills(self, session_id: int) -> list[Fill]:
        query = (
            select(_FILLS)
            .where(_FILLS.c.session_id == session_id)
            .order_by(_FILLS.c.ts, _FILLS.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_fill(r) for r in conn.execute(query).mappings()]
