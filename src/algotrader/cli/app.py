"""The ``algotrader`` command: a thin typer layer over the library.

Each command group lives in its own module under ``algotrader.cli`` and exposes
``register(app: typer.Typer) -> None``; :data:`_COMMAND_MODULES` lists them. Commands read
settings with :func:`algotrader.cli._common.settings_from` and raise
:class:`~algotrader.errors.UserError` for user mistakes, which :func:`main` turns into one line on
stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click
import typer
import typer.main

from algotrader.errors import UserError
from algotrader.symbols import shorten

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
    "portfolio",
    "ml",
    "research",
    "report",
    "dashboard",
    "serve",
    "jobs",
    "watchlist",
    "stream",
    "trade",
    "universe",
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


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Command lists show each command's first docstring paragraph on one line: rich markup
    keeps the docstring's line breaks, which cut a summary mid-sentence."""
    for info in typer_app.registered_commands:
        text = info.help or (inspect.getdoc(info.callback) if info.callback else None) or ""
        if info.short_help is None and text and not text.startswith("\b"):
            info.short_help = " ".join(text.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _one_line_summaries(group.typer_instance)


for _name in _COMMAND_MODULES:
    importlib.import_module(f"algotrader.cli.{_name}").register(app)
_one_line_summaries(app)


# A quoted value as repr() writes it: '...' or "..." (the other quote and escapes inside).
_QUOTED = re.compile(r"'((?:[^'\\]|\\.){101,}?)'" "|" r'"((?:[^"\\]|\\.){101,}?)"')


def _shortened(match: re.Match[str]) -> str:
    quote, value = ("'", match[1]) if match[1] is not None else ('"', match[2])
    return quote + shorten(value, 60, keep_end="/" in value) + quote


def _one_line(text: str) -> str:
    """``text`` on one line, with any long quoted value (a pasted file, a runaway flag)
    shortened: an error line echoes what the user typed, not all of it."""
    # typer with click 8.2 names an option's missing env var: "(env var: 'None')" says nothing
    line = " ".join(text.split()).replace(" (env var: 'None')", "")
    line = _QUOTED.sub(_shortened, line)
    # whatever else was pasted in (an unbalanced quote...): keep the start and the fix at the end
    return line if len(line) <= 400 else f"{line[:280]} … {line[-100:]}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        # error lines say "run with --debug": accept it after the command too, where users type it
        args = ["--debug", *(arg for arg in args if arg != "--debug")]
    try:
        returned = app(args=args, prog_name="algotrader", standalone_mode=False)
    except UserError as exc:
        if debug:
            traceback.print_exception(exc)
        print(f"error: {_one_line(exc.message)}", file=sys.stderr)
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.format_message())
        code = 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "algotrader"
        print(f"error: {_one_line(exc.format_message())} (see '{where} --help')", file=sys.stderr)
        code = 2
    except click.ClickException as exc:  # e.g. a file click could not open
        print(f"error: {_one_line(exc.format_message())}", file=sys.stderr)
        code = 2
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.Abort:
        print("error: interrupted", file=sys.stderr)
        code = 130
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        code = 130
    except ValueError as exc:
        if "embedded null byte" not in str(exc):
            raise
        # A shell cannot pass one, but a caller of main() can: click's path checks hit the OS.
        print("error: an argument contains a NUL character: remove it", file=sys.stderr)
        code = 2
    else:
        # click returns the code of a `typer.Exit` raised by a command instead of raising it;
        # typer turns Ctrl-C into Exit(130).
        code = returned if isinstance(returned, int) else 0
        if code == 130:
            print("error: interrupted", file=sys.stderr)
    _export_metrics(args, code)
    if argv is None:
        sys.exit(code)
    return code


def _export_metrics(args: list[str], code: int) -> None:
    """Write or push the command's metrics when ALGOTRADER_METRICS_TEXTFILE or
    ALGOTRADER_METRICS_PUSHGATEWAY is set (services are scraped instead)."""
    if not _may_export_metrics():
        return
    from algotrader.config import load_settings

    try:
        settings = load_settings()
    except UserError:
        return
    textfile, gateway = settings.metrics_textfile, settings.metrics_pushgateway
    if not (textfile or gateway):
        return
    name = _command_name(args)
    if not name.startswith("serve"):
        from algotrader.observability.export import export

        export(name, succeeded=code == 0, textfile=textfile, pushgateway=gateway)


_METRICS_SETTINGS = ("ALGOTRADER_METRICS_TEXTFILE", "ALGOTRADER_METRICS_PUSHGATEWAY")


def _may_export_metrics() -> bool:
    """Whether the environment or ``.env`` could set a metrics export: loading the settings
    imports pydantic, which is half the start-up time of a command like ``--help``."""
    if any(key.upper() in _METRICS_SETTINGS and value for key, value in os.environ.items()):
        return True
    try:
        text = Path(".env").read_text(encoding="utf-8", errors="replace").upper()
    except OSError:
        return False
    return any(name in text for name in _METRICS_SETTINGS)


def _command_name(args: list[str]) -> str:
    """The command's path (``runs list`` -> ``runs_list``): a label value from a known list."""
    group: click.Command = typer.main.get_command(app)
    root_values = {o for p in group.params if isinstance(p, click.Option) and not p.is_flag
                   for o in p.opts}  # fmt: skip
    words, rest = [], iter(args)
    for arg in rest:
        if arg in root_values:
            next(rest, None)
        elif not arg.startswith("-"):
            if not isinstance(group, click.Group) or arg not in group.commands:
                break
            words.append(arg)
            group = group.commands[arg]
        elif words:
            break
    return "_".join(words) or "unknown"
