"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from algotrader.db.types import UtcTimestamp

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "backtest_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("start_ts", UtcTimestamp(), nullable=False),
        sa.Column("end_ts", UtcTimestamp(), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("data_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("data_source", sa.String(length=16), nullable=True),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("trades", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    op.create_index(op.f("ix_backtest_runs_symbol"), "backtest_runs", ["symbol"], unique=False)
    op.create_table(
        "external_signals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_signals")),
        sa.UniqueConstraint(
            "symbol", "source", "name", "ts", name=op.f("uq_external_signals_symbol_source_name_ts")
        ),
    )
    op.create_index(
        op.f("ix_external_signals_symbol"), "external_signals", ["symbol"], unique=False
    )
    op.create_table(
        "instruments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("sec_type", sa.String(length=16), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("primary_exchange", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("con_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint("symbol", name=op.f("uq_instruments_symbol")),
    )
    op.create_table(
        "market_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_events")),
        sa.UniqueConstraint(
            "source", "kind", "name", "ts", name=op.f("uq_market_events_source_kind_name_ts")
        ),
    )
    op.create_index(op.f("ix_market_events_ts"), "market_events", ["ts"], unique=False)
    op.create_table(
        "orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=True),
        sa.Column("is_paper", sa.Boolean(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(precision=53), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("limit_price", sa.Float(precision=53), nullable=True),
        sa.Column("stop_price", sa.Float(precision=53), nullable=True),
        sa.Column("tif", sa.String(length=8), nullable=False),
        sa.Column("ib_order_id", sa.Integer(), nullable=True),
        sa.Column("perm_id", sa.BigInteger(), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("filled", sa.Float(precision=53), nullable=False),
        sa.Column("avg_fill_price", sa.Float(precision=53), nullable=True),
        sa.Column("status_history", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_ref", name=op.f("uq_orders_client_ref")),
    )
    op.create_index("ix_orders_ib_order_id", "orders", ["ib_order_id"], unique=False)
    op.create_table(
        "series_state",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("dirty_from", UtcTimestamp(), nullable=True),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "resolution", name=op.f("pk_series_state")),
    )
    op.create_table(
        "symbol_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symbol_events")),
        sa.UniqueConstraint(
            "symbol",
            "source",
            "kind",
            "name",
            "ts",
            name=op.f("uq_symbol_events_symbol_source_kind_name_ts"),
        ),
    )
    op.create_index(op.f("ix_symbol_events_symbol"), "symbol_events", ["symbol"], unique=False)
    op.create_table(
        "market_prices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("open", sa.Float(precision=53), nullable=False),
        sa.Column("high", sa.Float(precision=53), nullable=False),
        sa.Column("low", sa.Float(precision=53), nullable=False),
        sa.Column("close", sa.Float(precision=53), nullable=False),
        sa.Column("volume", sa.Float(precision=53), nullable=False),
        sa.Column("ma20", sa.Float(precision=53), nullable=True),
        sa.Column("ma50", sa.Float(precision=53), nullable=True),
        sa.Column("ema_fast", sa.Float(precision=53), nullable=True),
        sa.Column("ema_slow", sa.Float(precision=53), nullable=True),
        sa.Column("macd", sa.Float(precision=53), nullable=True),
        sa.Column("macd_signal", sa.Float(precision=53), nullable=True),
        sa.Column("bb_mid", sa.Float(precision=53), nullable=True),
        sa.Column("bb_upper", sa.Float(precision=53), nullable=True),
        sa.Column("bb_lower", sa.Float(precision=53), nullable=True),
        sa.Column("rsi", sa.Float(precision=53), nullable=True),
        sa.Column("atr", sa.Float(precision=53), nullable=True),
        sa.Column("tr", sa.Float(precision=53), nullable=True),
        sa.Column("ath", sa.Float(precision=53), nullable=True),
        sa.Column("supertrend", sa.Float(precision=53), nullable=True),
        sa.Column("supertrend_upper", sa.Float(precision=53), nullable=True),
        sa.Column("supertrend_lower", sa.Float(precision=53), nullable=True),
        sa.Column("supertrend_trend", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["symbol"], ["instruments.symbol"], name=op.f("fk_market_prices_symbol_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_prices")),
        sa.UniqueConstraint(
            "symbol", "resolution", "ts", name=op.f("uq_market_prices_symbol_resolution_ts")
        ),
    )


def downgrade() -> None:

    op.drop_table("market_prices")
    op.drop_index(op.f("ix_symbol_events_symbol"), table_name="symbol_events")
    op.drop_table("symbol_events")
    op.drop_table("series_state")
    op.drop_index("ix_orders_ib_order_id", table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_market_events_ts"), table_name="market_events")
    op.drop_table("market_events")
    op.drop_table("instruments")
    op.drop_index(op.f("ix_external_signals_symbol"), table_name="external_signals")
    op.drop_table("external_signals")
    op.drop_index(op.f("ix_backtest_runs_symbol"), table_name="backtest_runs")
    op.drop_table("backtest_runs")
