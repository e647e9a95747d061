"""SQLAlchemy 2 models: the tables of DESIGN section 4, identical on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from algotrader.db.types import UtcTimestamp
from algotrader.frames import INDICATOR_COLUMNS

# Integer primary keys: BIGINT identity on PostgreSQL, SQLite's rowid alias on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Double = Float(precision=53)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Instrument(Base):
    """A tradable symbol and what the data source told us about it."""

    __tablename__ = "instruments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), unique=True)
    sec_type: Mapped[str] = mapped_column(String(16), default="STK")
    exchange: Mapped[str] = mapped_column(String(32), default="SMART")
    primary_exchange: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    con_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)


class MarketPrice(Base):
    """One OHLCV bar of one symbol at one resolution, with its indicator values.

    ``source`` says where the bar came from (``ibkr``, ``csv``, ``synthetic``) so that synthetic
    data is labelled as such wherever it is shown. The indicator columns (nullable doubles) are
    added below from the declarations in :mod:`algotrader.frames`.
    """

    __tablename__ = "market_prices"
    __table_args__ = (UniqueConstraint("symbol", "resolution", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), ForeignKey("instruments.symbol"))
    resolution: Mapped[str] = mapped_column(String(8))
    ts: Mapped[datetime] = mapped_column(UtcTimestamp())
    source: Mapped[str] = mapped_column(String(16))
    open: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[float] = mapped_column(Double)


# One nullable double per declared indicator output; a new declaration needs its migration too.
for _column in INDICATOR_COLUMNS:
    setattr(MarketPrice, _column, mapped_column(_column, Double, nullable=True))


class SeriesState(Base):
    """Bookkeeping per (symbol, resolution): from which bar on indicators must be recomputed.

    Set in the same transaction as the first chunk of a write whose indicators are not final yet
    and cleared with the last one, so a killed ingest leaves a marker the next run acts on.
    """

    __tablename__ = "series_state"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    resolution: Mapped[str] = mapped_column(String(8), primary_key=True)
    dirty_from: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)


class MarketEvent(Base):
    """A market-wide event (macro release, holiday, regime label...)."""

    __tablename__ = "market_events"
    __table_args__ = (UniqueConstraint("source", "kind", "name", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcTimestamp(), index=True)
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Double)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SymbolEvent(Base):
    """An event of one symbol (earnings, split, dividend, news...)."""

    __tablename__ = "symbol_events"
    __table_args__ = (UniqueConstraint("symbol", "source", "kind", "name", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[datetime] = mapped_column(UtcTimestamp())
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Double)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ExternalSignal(Base):
    """A value produced outside the platform (ML forecast, sentiment...) for a symbol and time."""

    __tablename__ = "external_signals"
    __table_args__ = (UniqueConstraint("symbol", "source", "name", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[datetime] = mapped_column(UtcTimestamp())
    source: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Double)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BacktestRun(Base):
    """One backtest: what ran, on which data, with which code, and what came out."""

    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    resolution: Mapped[str] = mapped_column(String(8))
    strategy: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    start_ts: Mapped[datetime] = mapped_column(UtcTimestamp())
    end_ts: Mapped[datetime] = mapped_column(UtcTimestamp())
    bars: Mapped[int] = mapped_column(Integer)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    data_source: Mapped[str | None] = mapped_column(String(16))
    code_version: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    trades: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Order(Base):
    """An order we sent to IBKR, its IB ids and its status history."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_ib_order_id", "ib_order_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    account: Mapped[str | None] = mapped_column(String(32))
    is_paper: Mapped[bool] = mapped_column(Boolean, default=True)
    symbol: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[float] = mapped_column(Double)
    order_type: Mapped[str] = mapped_column(String(8))
    limit_price: Mapped[float | None] = mapped_column(Double)
    stop_price: Mapped[float | None] = mapped_column(Double)
    tif: Mapped[str] = mapped_column(String(8), default="DAY")
    ib_order_id: Mapped[int | None] = mapped_column(Integer)
    perm_id: Mapped[int | None] = mapped_column(BigInteger)
    client_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    filled: Mapped[float] = mapped_column(Double, default=0.0)
    avg_fill_price: Mapped[float | None] = mapped_column(Double)
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text)
