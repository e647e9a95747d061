"""The ``algotrader`` command: a thin typer layer over the library.

Each command group lives in its own module under ``algotrader.cli`` and exposes
``register(app: typer.Typer) -> None``; :data:`_COMMAND_MODULES` lists them. Commands read
settings with :func:`algotrader.cli._common.settings_from` and raise
:class:`~algotrader.errors.UserError` for user mistakes, which :func:`main` turns into one line on
stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

import click
import typer

from algotrader.errors import UserError

_COMMAND_MODULES: tuple[str, ...] = (
    "backtest",
    "db",
    "demo",
    "events",
    "fetch",
    "ib",
    "ibsim",
    "ingest",
    "instruments",
    "orders",
    "stream",
)

app = typer.Typer(
    name="algotrader",
    help="Algorithmic-trading research platform: ingest bars, compute indicators, backtest, trade.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL (default: ALGOTRADER_DATABASE_URL or SQLite)."
    ),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Where data and plots go."),
    log_level: str | None = typer.Option(
        None, "--log-level", help="Log file level: DEBUG, INFO, WARNING or ERROR."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback behind an error line."
    ),
) -> None:
    ctx.obj = {"database_url": database_url, "data_dir": data_dir, "log_level": log_level}


for _name in _COMMAND_MODULES:
    importlib.import_module(f"algotrader.cli.{_name}").register(app)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        returned = app(args=args, prog_name="algotrader", standalone_mode=False)
    except UserError as exc:
        if debug:
            traceback.print_exception(exc)
        print(f"error: {exc.message}", file=sys.stderr)
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.format_message())
        code = 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "algotrader"
        print(f"error: {_one_line(exc.format_message())} (see '{where} --help')", file=sys.stderr)
        code = 2
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.Abort:
        print("error: interrupted", file=sys.stderr)
        code = 130
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        code = 130
    else:
        # click returns the code of a `typer.Exit` raised by a command instead of raising it;
        # typer turns Ctrl-C into Exit(130).
        code = returned if isinstance(returned, int) else 0
        if code == 130:
            print("error: interrupted", file=sys.stderr)
    if argv is None:
        sys.exit(code)
    return code
