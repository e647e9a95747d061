"""trading: live (paper) trading sessions, their symbols' state, decisions and fills

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from algotrader.db.types import UtcTimestamp

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DOUBLE = sa.Float(precision=53)


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["session_id"],
        ["trading_sessions.id"],
        name=op.f(f"fk_{table}_session_id_trading_sessions"),
    )


def _sessions() -> None:
    op.create_table(
        "trading_sessions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=True),
        sa.Column("is_paper", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("history_start", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("flatten_requested", sa.Boolean(), nullable=False),
        sa.Column("halted_until", UtcTimestamp(), nullable=True),
        sa.Column("started_at", UtcTimestamp(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_sessions")),
        sa.UniqueConstraint("name", name=op.f("uq_trading_sessions_name")),
    )
    op.create_table(
        "trading_symbols",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("last_bar_ts", UtcTimestamp(), nullable=True),
        sa.Column("book", sa.JSON(), nullable=True),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        _session_fk("trading_symbols"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_symbols")),
        sa.UniqueConstraint(
            "session_id", "symbol", name=op.f("uq_trading_symbols_session_id_symbol")
        ),
    )


def upgrade() -> None:
    _sessions()
    op.create_table(
        "trading_decisions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("bar_ts", UtcTimestamp(), nullable=False),
        sa.Column("close", _DOUBLE, nullable=False),
        sa.Column("signal", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=True),
        sa.Column("quantity", _DOUBLE, nullable=False),
        sa.Column("price", _DOUBLE, nullable=True),
        sa.Column("client_ref", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("broker_order_id", sa.String(length=32), nullable=True),
        sa.Column("filled", _DOUBLE, nullable=False),
        sa.Column("avg_fill_price", _DOUBLE, nullable=True),
        sa.Column("book_before", sa.JSON(), nullable=True),
        sa.Column("completed_at", UtcTimestamp(), nullable=False),
        sa.Column("sent_at", UtcTimestamp(), nullable=True),
        sa.Column("latency_ms", _DOUBLE, nullable=True),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        _session_fk("trading_decisions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_decisions")),
        sa.UniqueConstraint(
            "session_id",
            "symbol",
            "bar_ts",
            name=op.f("uq_trading_decisions_session_id_symbol_bar_ts"),
        ),
    )
    op.create_index(
        "ix_trading_decisions_client_ref", "trading_decisions", ["client_ref"], unique=False
    )
    op.create_table(
        "trading_fills",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("exec_id", sa.String(length=64), nullable=False),
        sa.Column("client_ref", sa.String(length=64), nullable=False),
        sa.Column("broker_order_id", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", _DOUBLE, nullable=False),
        sa.Column("price", _DOUBLE, nullable=False),
        sa.Column("commission", _DOUBLE, nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        _session_fk("trading_fills"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_fills")),
        sa.UniqueConstraint(
            "session_id", "exec_id", name=op.f("uq_trading_fills_session_id_exec_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("trading_fills")
    op.drop_index("ix_trading_decisions_client_ref", table_name="trading_decisions")
    op.drop_table("trading_decisions")
    op.drop_table("trading_symbols")
    op.drop_table("trading_sessions")
