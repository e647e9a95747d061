"""services: watchlist, refresh runs, queued jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

(The queue's own tables, ``procrastinate_*``, are created by the worker and ``jobs submit`` on
first use with procrastinate's schema, on PostgreSQL only: see ``algotrader.db.queue``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from algotrader.db.types import UtcTimestamp

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watchlist",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("history", sa.String(length=16), nullable=False),
        sa.Column("added_at", UtcTimestamp(), nullable=False),
        sa.Column("last_attempt_at", UtcTimestamp(), nullable=True),
        sa.Column("last_success_at", UtcTimestamp(), nullable=True),
        sa.Column("last_bar_ts", UtcTimestamp(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist")),
        sa.UniqueConstraint("symbol", "resolution", name=op.f("uq_watchlist_symbol_resolution")),
    )
    op.create_table(
        "refresh_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("scheduled_for", UtcTimestamp(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.Column("started_at", UtcTimestamp(), nullable=False),
        sa.Column("finished_at", UtcTimestamp(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("bars_fetched", sa.Integer(), nullable=False),
        sa.Column("bars_stored", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_runs")),
        sa.UniqueConstraint(
            "resolution",
            "scheduled_for",
            "attempt",
            name=op.f("uq_refresh_runs_resolution_scheduled_for_attempt"),
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queue_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("started_at", UtcTimestamp(), nullable=True),
        sa.Column("finished_at", UtcTimestamp(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_state_created_at", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("refresh_runs")
    op.drop_table("watchlist")
