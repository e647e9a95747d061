"""``algotrader db``: apply migrations and check the connection."""

from __future__ import annotations

import typer
from sqlalchemy import inspect, text

from algotrader.cli._common import console, open_db, settings_from
from algotrader.db.engine import current_revision, head_revision, open_database, upgrade
from algotrader.db.models import Base

db_app = typer.Typer(help="Database schema and connection.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Apply pending Alembic migrations (also done automatically on first use)."""
    settings = settings_from(ctx)
    db = open_database(settings, migrate=False)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    if before == after:
        console.print(f"Database {db.display_url} is up to date (revision {after}).")
    else:
        console.print(f"Upgraded {db.display_url} from {before or 'empty'} to revision {after}.")


def check(ctx: typer.Context) -> None:
    """Print backend, server version, schema revision, tables and row counts."""
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        with db.engine.connect() as conn:
            if db.is_postgres:
                version = "PostgreSQL " + str(conn.execute(text("SHOW server_version")).scalar())
            else:
                version = "SQLite " + str(conn.execute(text("SELECT sqlite_version()")).scalar())
            revision = current_revision(conn)
            tables = sorted(set(inspect(conn).get_table_names()) & set(Base.metadata.tables))
            counts = {
                name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                for name in tables
            }
    finally:
        db.dispose()
    state = "up to date" if revision == head_revision() else f"behind (latest {head_revision()})"
    console.print(f"Backend: {db.backend} ({version})")
    console.print(f"URL: {db.display_url}")
    console.print(f"Schema: revision {revision} ({state})")
    console.print("Tables:")
    width = max(len(n) for n in counts) if counts else 0
    for name, count in counts.items():
        console.print(f"  {name:<{width}}  {count:>10,}")
    console.print("Database connection OK.")


def register(app: typer.Typer) -> None:
    db_app.command("check")(check)
    app.add_typer(db_app, name="db")
