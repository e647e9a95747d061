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
    text,
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
    sector: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(128))
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
    """Bookkeeping per (symbol, resolution), written in the same transactions as the bars.

    ``dirty_from``: from which bar on indicators must be recomputed; set with the first chunk of a
    write whose indicators are not final yet and cleared with the last one, so a killed ingest
    leaves a marker the next run acts on. ``fetch_start``/``fetch_reached``: a chunked fetch
    (walking backwards) that has not finished; the next run fetches only ``[start, reached)``.
    ``revision``: bumped by every transaction that writes the series' bars, so a long-running
    writer can tell whether the copy of the series it holds in memory is still what is stored.
    """

    __tablename__ = "series_state"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    resolution: Mapped[str] = mapped_column(String(8), primary_key=True)
    dirty_from: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    fetch_start: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    fetch_reached: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
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
    """One run: what ran, on which data, with which code, and what came out.

    ``kind`` is ``backtest`` (one symbol), ``portfolio`` (``symbol`` then names the basket and
    ``detail`` holds its symbols, per-symbol results and rebalance targets), ``study_point`` (one
    evaluated point of the study ``study_id``) or ``walkforward`` (``detail`` holds the folds).
    """

    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="backtest", index=True)
    study_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
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
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Study(Base):
    """An optimisation study: its configuration, its overfitting statistics, its best point.

    Every evaluated point is a ``backtest_runs`` row with ``kind = "study_point"`` and this
    ``study_id``, so ``runs show`` and ``runs rerun`` work on any of them.
    """

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    symbols: Mapped[list[str]] = mapped_column(JSON)
    resolution: Mapped[str] = mapped_column(String(8))
    strategy: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_trials: Mapped[int] = mapped_column(Integer)
    best_run_id: Mapped[int | None] = mapped_column(BigInteger)
    dsr: Mapped[float | None] = mapped_column(Double)
    pbo: Mapped[float | None] = mapped_column(Double)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    code_version: Mapped[str] = mapped_column(String(64))


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


class MlModel(Base):
    """A trained ML model (registry): what it is, what it learnt from, how well, where it lies.

    ``artefact_path`` is relative to the data directory and ``artefact_sha256`` its hash, checked
    before the file is loaded. ``periods`` lists the walk-forward periods (each predicted only by
    the model trained before it); ``train_start``/``train_end`` span all their training windows.
    """

    __tablename__ = "ml_models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(String(32))
    horizon: Mapped[int] = mapped_column(Integer)
    resolution: Mapped[str] = mapped_column(String(8))
    symbols: Mapped[list[str]] = mapped_column(JSON)
    features: Mapped[list[str]] = mapped_column(JSON)
    scheme: Mapped[dict[str, Any]] = mapped_column(JSON)
    periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    train_start: Mapped[datetime] = mapped_column(UtcTimestamp())
    train_end: Mapped[datetime] = mapped_column(UtcTimestamp())
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    artefact_path: Mapped[str] = mapped_column(String(500))
    artefact_sha256: Mapped[str] = mapped_column(String(64))
    library_versions: Mapped[dict[str, str]] = mapped_column(JSON)
    code_version: Mapped[str] = mapped_column(String(64))


class WatchlistEntry(Base):
    """A series the scheduler keeps fresh (``algotrader watchlist add``), and how its refreshes
    went. ``source`` None: the configured default source; ``history``: how much the first refresh
    fetches; ``failures``: refreshes failed in a row (0 after a success)."""

    __tablename__ = "watchlist"
    __table_args__ = (UniqueConstraint("symbol", "resolution"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    resolution: Mapped[str] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(String(16))
    history: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    last_success_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    last_bar_ts: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class RefreshRun(Base):
    """One run of a scheduled refresh of one resolution: the planned time, which attempt (0 the
    scheduled run, n the n-th retry), how it went. Unique per (resolution, scheduled_for,
    attempt): a run is claimed by inserting its row, so no planned run can happen twice."""

    __tablename__ = "refresh_runs"
    __table_args__ = (UniqueConstraint("resolution", "scheduled_for", "attempt"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution: Mapped[str] = mapped_column(String(8))
    scheduled_for: Mapped[datetime] = mapped_column(UtcTimestamp())
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    catch_up: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    series: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    bars_fetched: Mapped[int] = mapped_column(Integer, default=0)
    bars_stored: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """A job submitted to the worker queue (``algotrader jobs submit``): what to do, its state
    (queued, running, succeeded, failed, cancelled), the attempts made and the result. The queue
    itself (delivery, locking, stalled-worker recovery) is procrastinate's; ``queue_id`` is the
    procrastinate job id."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created_at", "state", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    queue_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    finished_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class TradingSession(Base):
    """One live (paper) trading session (``algotrader trade``): what runs, where, its state.

    ``name`` identifies the session across restarts (the same command resumes it); ``config``
    holds the sizing settings and risk limits it runs with; ``history_start`` the first bar of
    each symbol's history (the strategy's warm-up starts there after every restart, so signals
    are the same as without a restart). ``stop_requested``/``flatten_requested`` are the kill
    switch (``algotrader trade stop [--flatten]``); ``halted_until`` the end of a halt (daily
    loss limit).
    """

    __tablename__ = "trading_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    strategy: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    symbols: Mapped[list[str]] = mapped_column(JSON)
    resolution: Mapped[str] = mapped_column(String(8))
    broker: Mapped[str] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(32))
    is_paper: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    history_start: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="created")
    message: Mapped[str | None] = mapped_column(Text)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    flatten_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    halted_until: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    started_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)


class TradingSymbol(Base):
    """Per session and symbol: the last bar processed (the high-water mark a restart resumes
    after) and the decider's book after it (the backtest kernel's book, as JSON)."""

    __tablename__ = "trading_symbols"
    __table_args__ = (UniqueConstraint("session_id", "symbol"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("trading_sessions.id"))
    symbol: Mapped[str] = mapped_column(String(32))
    last_bar_ts: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    book: Mapped[list[Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)


class TradingDecision(Base):
    """One decision: a completed bar, the strategy's signal on it, and the order it led to.

    One row per (session, symbol, bar). ``status``: ``none`` (no order), ``pending`` (stored,
    being sent), ``sent``, ``filled``, ``rejected`` (by the risk layer or the broker; ``reason``
    says why), ``cancelled``, ``lost`` (never reached the broker before a crash), ``backfill``
    (a backfilled bar: never traded). ``latency_ms`` is the time from the bar's completion
    (received) to the order's sending; ``book_before`` the decider's book before the order.
    """

    __tablename__ = "trading_decisions"
    __table_args__ = (
        UniqueConstraint("session_id", "symbol", "bar_ts"),
        Index("ix_trading_decisions_client_ref", "client_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("trading_sessions.id"))
    symbol: Mapped[str] = mapped_column(String(32))
    bar_ts: Mapped[datetime] = mapped_column(UtcTimestamp())
    close: Mapped[float] = mapped_column(Double)
    signal: Mapped[int] = mapped_column(Integer)
    side: Mapped[str | None] = mapped_column(String(8))
    quantity: Mapped[float] = mapped_column(Double, default=0.0)
    price: Mapped[float | None] = mapped_column(Double)
    client_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    broker_order_id: Mapped[str | None] = mapped_column(String(32))
    filled: Mapped[float] = mapped_column(Double, default=0.0)
    avg_fill_price: Mapped[float | None] = mapped_column(Double)
    book_before: Mapped[list[Any] | None] = mapped_column(JSON)
    completed_at: Mapped[datetime] = mapped_column(UtcTimestamp())
    sent_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    latency_ms: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)


class TradingFill(Base):
    """One execution reported by the broker for a session's order (unique ``exec_id``)."""

    __tablename__ = "trading_fills"
    __table_args__ = (UniqueConstraint("session_id", "exec_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("trading_sessions.id"))
    exec_id: Mapped[str] = mapped_column(String(64))
    client_ref: Mapped[str] = mapped_column(String(64))
    broker_order_id: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[float] = mapped_column(Double)
    price: Mapped[float] = mapped_column(Double)
    commission: Mapped[float] = mapped_column(Double, default=0.0)
    ts: Mapped[datetime] = mapped_column(UtcTimestamp())


class UniverseList(Base):
    """A named list of symbols (``algotrader universe add tech AAPL,MSFT``), usable wherever
    ``--universe`` takes a file. ``name`` is lower case; ``symbols`` keeps the order given."""

    __tablename__ = "universes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    symbols: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcTimestamp(), default=_utcnow)
