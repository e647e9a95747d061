"""resumable chunked fetches; instrument sector and industry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from algotrader.db.types import UtcTimestamp

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("series_state") as batch:
        batch.add_column(sa.Column("fetch_start", UtcTimestamp(), nullable=True))
        batch.add_column(sa.Column("fetch_reached", UtcTimestamp(), nullable=True))
    with op.batch_alter_table("instruments") as batch:
        batch.add_column(sa.Column("sector", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("industry", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instruments") as batch:
        batch.drop_column("industry")
        batch.drop_column("sector")
    with op.batch_alter_table("series_state") as batch:
        batch.drop_column("fetch_reached")
        batch.drop_column("fetch_start")
