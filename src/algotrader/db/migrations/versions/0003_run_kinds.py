"""runs of several kinds (backtest, portfolio, ...) with a kind-specific detail document

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backtest_runs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="backtest")
        )
        batch.add_column(sa.Column("detail", sa.JSON(), nullable=True))
        batch.create_index("ix_backtest_runs_kind", ["kind"])


def downgrade() -> None:
    with op.batch_alter_table("backtest_runs") as batch:
        batch.drop_index("ix_backtest_runs_kind")
        batch.drop_column("detail")
        batch.drop_column("kind")
