"""``algotrader db``: apply migrations and check the connection."""

from __future__ import annotations

import typer

from algotrader.cli._common import console, settings_from

db_app = typer.Typer(help="Database schema and connection.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Apply pending Alembic migrations (also done automatically on first use)."""
    from algotrader.app.database import upgrade_schema

    done = upgrade_schema(settings_from(ctx))
    if done.before == done.after:
        console.print(f"Database {done.display_url} is up to date (revision {done.after}).")
    else:
        console.print(
            f"Upgraded {done.display_url} from {done.before or 'empty'} to revision {done.after}."
        )


def check(ctx: typer.Context) -> None:
    """Print backend, server version, schema revision, tables and row counts."""
    from algotrader.app.database import check_database

    found = check_database(settings_from(ctx))
    state = "up to date" if found.up_to_date else f"behind (latest {found.head})"
    console.print(f"Backend: {found.backend} ({found.server_version})")
    console.print(f"URL: {found.display_url}")
    console.print(f"Schema: revision {found.revision} ({state})")
    console.print("Tables:")
    width = max((len(n) for n in found.row_counts), default=0)
    for name, count in found.row_counts.items():
        console.print(f"  {name:<{width}}  {count:>10,}")
    console.print("Database connection OK.")


def register(app: typer.Typer) -> None:
    db_app.command("check")(check)
    app.add_typer(db_app, name="db")
