"""``algotrader events import`` and ``algotrader signals import``."""

from __future__ import annotations

from pathlib import Path

import typer

from algotrader.cli._common import console, open_db, settings_from
from algotrader.data.events import ImportReport, import_events, import_signals

events_app = typer.Typer(help="Market and symbol events.", no_args_is_help=True)
signals_app = typer.Typer(
    help="External signals (ML forecasts, sentiment, ...).", no_args_is_help=True
)


def _say(report: ImportReport) -> None:
    console.print(
        f"{report.table}: inserted {report.inserted}, updated {report.updated}, "
        f"unchanged {report.unchanged}."
    )


@events_app.command("import")
def events_import(
    ctx: typer.Context, file: Path = typer.Argument(..., help="CSV or JSON lines.")
) -> None:
    """Import events: rows with a symbol go to symbol_events, others to market_events."""
    db = open_db(settings_from(ctx))
    try:
        for report in import_events(db, file):
            _say(report)
    finally:
        db.dispose()


@signals_app.command("import")
def signals_import(
    ctx: typer.Context, file: Path = typer.Argument(..., help="CSV or JSON lines.")
) -> None:
    """Import external signals (symbol, ts, source, name, value, payload)."""
    db = open_db(settings_from(ctx))
    try:
        _say(import_signals(db, file))
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
    app.add_typer(signals_app, name="signals")
