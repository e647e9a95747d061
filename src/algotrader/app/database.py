"""The database itself: apply migrations, check the connection and what is stored."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, text

from algotrader.config import Settings
from algotrader.db.engine import current_revision, head_revision, open_database, upgrade
from algotrader.db.models import Base


@dataclass(frozen=True)
class Upgrade:
    display_url: str
    before: str | None
    after: str


@dataclass(frozen=True)
class DatabaseCheck:
    """What ``algotrader db check`` reports."""

    backend: str
    server_version: str
    display_url: str
    revision: str | None
    head: str
    row_counts: dict[str, int]

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head


def upgrade_schema(settings: Settings) -> Upgrade:
    """Apply pending Alembic migrations (also done automatically on first use)."""
    db = open_database(settings, migrate=False)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    return Upgrade(db.display_url, before, after)


def check_database(settings: Settings) -> DatabaseCheck:
    """Connect (migrating on first use) and count the rows of every table."""
    db = open_database(settings)
    try:
        with db.engine.connect() as conn:
            version = db.dialect.server_version(conn)
            revision = current_revision(conn)
            tables = sorted(set(inspect(conn).get_table_names()) & set(Base.metadata.tables))
            counts = {
                name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
                for name in tables
            }
    finally:
        db.dispose()
    return DatabaseCheck(db.backend, version, db.display_url, revision, head_revision(), counts)
