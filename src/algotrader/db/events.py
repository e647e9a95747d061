"""``market_events``, ``symbol_events`` and ``external_signals``: idempotent upserts by key, and
the signals and events of a symbol as frames (behind :class:`~algotrader.ports.stores.EventStore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    literal_column,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import Label

from algotrader.db.engine import Database
from algotrader.db.models import Base, ExternalSignal, MarketEvent, SymbolEvent
from algotrader.db.types import UtcTimestamp, to_epoch_us
from algotrader.ports.stores import SignalRow, UpsertReport

_SIGNALS = Base.metadata.tables[ExternalSignal.__tablename__]
_SYMBOL_EVENTS = Base.metadata.tables[SymbolEvent.__tablename__]
_MARKET_EVENTS = Base.metadata.tables[MarketEvent.__tablename__]
_UTC_TIMES = pd.Series([], dtype="datetime64[us, UTC]")
_TEXT = pd.Series([], dtype=object)
_SIGNAL_FRAME = pd.DataFrame(
    {"ts": _UTC_TIMES, "source": _TEXT, "name": _TEXT, "value": pd.Series([], dtype=np.float64)}
)
_EVENT_FRAME = pd.DataFrame({"ts": _UTC_TIMES, "kind": _TEXT, "scope": _TEXT})

# Each table's natural key: a re-import of the same row updates it instead of adding another.
_KEYS: dict[str, tuple[Table, tuple[str, ...]]] = {
    "market_events": (
        Base.metadata.tables[MarketEvent.__tablename__],
        ("source", "kind", "name", "ts"),
    ),
    "symbol_events": (
        Base.metadata.tables[SymbolEvent.__tablename__],
        ("symbol", "source", "kind", "name", "ts"),
    ),
    "external_signals": (
        Base.metadata.tables[ExternalSignal.__tablename__],
        ("symbol", "source", "name", "ts"),
    ),
}


class SqlEventStore:
    """Events and external signals in the database. Cheap to create; holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, table_name: str, records: list[dict[str, Any]]) -> UpsertReport:
        """Insert new rows and update changed ones of ``table_name``, in one transaction."""
        table, keys = _KEYS[table_name]
        if not records:
            return UpsertReport(table_name, 0, 0, 0)
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for record in records:
            latest[tuple(record[k] for k in keys)] = record  # a later duplicate row wins
        inserted = updated = 0
        with self.db.engine.begin() as conn:
            existing = _existing(conn, table, keys, list(latest))
            key_cols = [table.c[k] for k in keys]
            for key, record in latest.items():
                row = existing.get(key)
                if row is None:
                    conn.execute(table.insert().values(**record))
                    inserted += 1
                elif any(row[c] != record[c] for c in record):
                    match = and_(*(c == v for c, v in zip(key_cols, key, strict=True)))
                    conn.execute(table.update().where(match).values(**record))
                    updated += 1
        return UpsertReport(table_name, inserted, updated, len(latest) - inserted - updated)

    def upsert_signals(self, rows: Sequence[SignalRow]) -> UpsertReport:
        """Bulk :meth:`upsert` of ``external_signals`` (forecasts come by the ten thousand): one
        read of the stored rows, one insert and one update of many rows, in one transaction."""
        latest = {_signal_key(r.symbol, r.source, r.name, r.ts): r for r in rows}
        if not latest:
            return UpsertReport("external_signals", 0, 0, 0)
        with self.db.engine.begin() as conn:
            stored = _stored_signals(conn, list(latest.values()))
            new = [asdict(r) for k, r in latest.items() if k not in stored]
            changed = [
                {f"b_{name}": value for name, value in asdict(r).items()}
                for k, r in latest.items()
                if k in stored and stored[k] != (r.value, r.payload)
            ]
            if new:
                conn.execute(_SIGNALS.insert(), new)
            if changed:
                conn.execute(_UPDATE_SIGNAL, changed)
        unchanged = len(latest) - len(new) - len(changed)
        return UpsertReport("external_signals", len(new), len(changed), unchanged)

    def signals(
        self, symbol: str, sources: Sequence[str] | None = None, *, end: datetime | None = None
    ) -> pd.DataFrame:
        """The signals of ``symbol`` (see :meth:`algotrader.ports.stores.EventStore.signals`)."""
        t = _SIGNALS
        query = select(_stored_ts(t), t.c.source, t.c.name, t.c.value).where(t.c.symbol == symbol)
        if sources is not None:
            query = query.where(t.c.source.in_(list(sources)))
        if end is not None:
            query = query.where(t.c.ts <= end)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.source, t.c.name, t.c.ts)).all()
        if not rows:  # the usual case of a backtest: skip building a frame from nothing
            return _SIGNAL_FRAME.copy()
        ts, source, name, value = zip(*rows, strict=True)
        return pd.DataFrame(
            {
                "ts": _utc_times(ts),
                "source": list(source),
                "name": list(name),
                "value": np.array(value, dtype=np.float64),  # NULL -> NaN
            }
        )

    def events(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> pd.DataFrame:
        """The events ``symbol`` sees (see :meth:`algotrader.ports.stores.EventStore.events`),
        in one query."""
        own = _within(
            select(
                _stored_ts(_SYMBOL_EVENTS), _SYMBOL_EVENTS.c.kind, literal_column("'symbol'")
            ).where(_SYMBOL_EVENTS.c.symbol == symbol),
            _SYMBOL_EVENTS,
            start,
            end,
        )
        market = _within(
            select(_stored_ts(_MARKET_EVENTS), _MARKET_EVENTS.c.kind, literal_column("'market'")),
            _MARKET_EVENTS,
            start,
            end,
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(union_all(own, market)).all()
        if not rows:
            return _EVENT_FRAME.copy()
        ts, kind, scope = zip(*rows, strict=True)
        frame = pd.DataFrame({"ts": _utc_times(ts), "kind": list(kind), "scope": list(scope)})
        return frame.sort_values(["ts", "scope", "kind"], kind="stable", ignore_index=True)


def _existing(
    conn: Any, table: Table, keys: tuple[str, ...], wanted: list[tuple[Any, ...]]
) -> dict[tuple[Any, ...], Any]:
    key_cols = [table.c[k] for k in keys]
    found: dict[tuple[Any, ...], Any] = {}
    for lo in range(0, len(wanted), 500):
        batch = wanted[lo : lo + 500]
        for row in conn.execute(select(table).where(tuple_(*key_cols).in_(batch))).mappings():
            found[tuple(row[k] for k in keys)] = row
    return found


_UPDATE_SIGNAL = (
    _SIGNALS.update()
    .where(
        _SIGNALS.c.symbol == bindparam("b_symbol"),
        _SIGNALS.c.source == bindparam("b_source"),
        _SIGNALS.c.name == bindparam("b_name"),
        _SIGNALS.c.ts == bindparam("b_ts"),
    )
    .values(value=bindparam("b_value"), payload=bindparam("b_payload"))
)


def _signal_key(symbol: str, source: str, name: str, ts: datetime) -> tuple[str, str, str, int]:
    # Microseconds since the epoch: the same instant read back from either backend.
    return symbol, source, name, to_epoch_us(ts)


def _stored_signals(
    conn: Any, rows: list[SignalRow]
) -> dict[tuple[str, str, str, int], tuple[float | None, Any]]:
    t = _SIGNALS
    query = select(t.c.symbol, t.c.source, t.c.name, _stored_ts(t), t.c.value, t.c.payload).where(
        t.c.symbol.in_(sorted({r.symbol for r in rows})),
        t.c.source.in_(sorted({r.source for r in rows})),
        t.c.name.in_(sorted({r.name for r in rows})),
    )
    stored = conn.execute(query).all()
    if not stored:
        return {}
    symbol, source, name, ts, value, payload = zip(*stored, strict=True)
    micros = _utc_times(ts).asi8.tolist()
    rows_of = zip(symbol, source, name, micros, value, payload, strict=True)
    return {(sym, src, nm, us): (v, p) for sym, src, nm, us, v, p in rows_of}


class _StoredInstant(UtcTimestamp):
    """A :class:`UtcTimestamp` read as the driver returns it (epoch microseconds from SQLite,
    datetimes from PostgreSQL): :func:`_utc_times` converts thousands at once, where the
    decorator's row-by-row conversion costs more than the query."""

    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value


def _stored_ts(table: Table) -> Label[Any]:
    return type_coerce(table.c.ts, _StoredInstant()).label("ts")


def _utc_times(values: Sequence[Any]) -> pd.DatetimeIndex:
    if isinstance(values[0], int):  # epoch microseconds
        return pd.to_datetime(np.asarray(values, dtype=np.int64), unit="us", utc=True)
    return pd.to_datetime(list(values), utc=True).as_unit("us")


def _within(query: Select[Any], table: Table, start: datetime | None, end: datetime | None) -> Any:
    if start is not None:
        query = query.where(table.c.ts >= start)
    if end is not None:
        query = query.where(table.c.ts <= end)
    return query
