"""studies: optimisation studies whose evaluated points are stored as runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from algotrader.db.types import UtcTimestamp

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("best_run_id", sa.BigInteger(), nullable=True),
        sa.Column("dsr", sa.Float(precision=53), nullable=True),
        sa.Column("pbo", sa.Float(precision=53), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
    )
    with op.batch_alter_table("backtest_runs") as batch:
        batch.add_column(sa.Column("study_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_backtest_runs_study_id", ["study_id"])


def downgrade() -> None:
    with op.batch_alter_table("backtest_runs") as batch:
        batch.drop_index("ix_backtest_runs_study_id")
        batch.drop_column("study_id")
    op.drop_table("studies")
