"""``algotrader events import`` and ``algotrader signals import``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from algotrader.cli._common import console, settings_from

if TYPE_CHECKING:
    from algotrader.ports.stores import UpsertReport

# The README's "Importing events and signals" shows these same lines (a test keeps them equal).
_EVENTS_FORMAT = """File format: CSV with a header, or JSON lines (an object a line), UTF-8:

  ts       ISO date or datetime, naive = UTC (or: timestamp, date, time)

  kind     earnings, split, macro...   required, at most 64 characters

  name     "Q3 2024", "CPI"...         required, at most 200 characters

  symbol   optional: goes to symbol_events, else market_events

  source   who says so: at most 64 characters (default: the file name)

  value    optional finite number

  payload  optional JSON object; any other column joins it

Example CSV:  ts,symbol,kind,name,value / 2024-10-31,AAPL,earnings,Q4,1.64

Every row is checked before anything is written; re-importing a file updates changed rows and
adds nothing twice.
"""

_SIGNALS_FORMAT = """File format: CSV with a header, or JSON lines (an object a line), UTF-8:

  symbol   AAPL...                     required

  ts       when it became known: ISO date or datetime, naive = UTC

  name     "fwd_ret_5d", "sentiment"   required, at most 200 characters

  source   who made it: at most 64 characters (default: the file name)

  value    optional finite number

  payload  optional JSON object; any other column joins it

JSON line: {"symbol":"AAPL","ts":"2024-06-03","name":"fwd_ret","value":0.01}

Every row is checked before anything is written; re-importing a file updates changed rows and
adds nothing twice.
"""

events_app = typer.Typer(help="Market and symbol events.", no_args_is_help=True)
signals_app = typer.Typer(
    help="External signals (ML forecasts, sentiment, ...).", no_args_is_help=True
)


def _say(report: UpsertReport) -> None:
    console.print(
        f"{report.table}: inserted {report.inserted}, updated {report.updated}, "
        f"unchanged {report.unchanged}."
    )


@events_app.command("import", epilog=_EVENTS_FORMAT)
def events_import(
    ctx: typer.Context, file: Path = typer.Argument(..., help="CSV or JSON-lines file.")
) -> None:
    """Import events: rows with a symbol go to symbol_events, the others to market_events."""
    from algotrader.app.events import import_events

    for report in import_events(settings_from(ctx), file):
        _say(report)


@signals_app.command("import", epilog=_SIGNALS_FORMAT)
def signals_import(
    ctx: typer.Context, file: Path = typer.Argument(..., help="CSV or JSON-lines file.")
) -> None:
    """Import external signals (symbol, ts, source, name, value, payload)."""
    from algotrader.app.events import import_signals

    _say(import_signals(settings_from(ctx), file))


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
    app.add_typer(signals_app, name="signals")
