"""``algotrader universe``: named lists of symbols, usable wherever ``--universe`` is."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from algotrader.cli._common import console, parse_symbols, settings_from, shorten
from algotrader.errors import InvalidInputError

universe_app = typer.Typer(
    help="Named lists of symbols: `--universe NAME` (backtest, portfolio, jobs submit batch) "
    "takes one wherever it takes a file.",
    no_args_is_help=True,
)

_EXAMPLES = """Examples:

  algotrader universe add tech AAPL,MSFT,NVDA,GOOGL

  algotrader universe add sp100 --file sp100.txt

  algotrader universe add tech AMD            (adds AMD to the stored list)

  algotrader universe add tech AAPL,MSFT --replace

  algotrader backtest --universe tech --strategy rsi

  algotrader universe remove tech AMD         (or the whole list: universe remove tech)
"""

_SHOWN_SYMBOLS = 12


@universe_app.command("add", epilog=_EXAMPLES)
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="List name: letters, digits, _ . - (lower-cased)."),
    symbols: str | None = typer.Argument(None, help="Symbol(s): AAPL or AAPL,MSFT,SPY."),
    file: Path | None = typer.Option(None, "--file", help="A file of symbols, one a line."),
    replace: bool = typer.Option(
        False, "--replace", help="Replace the stored symbols (default: add to them)."
    ),
) -> None:
    """Create a list, or add symbols to a stored one."""
    from algotrader.app.universes import read_universe_file, save_universe

    if (symbols is None) == (file is None):
        raise InvalidInputError(
            "give either SYMBOLS or --file FILE",
            f"e.g. `algotrader universe add {shorten(name, 20)} AAPL,MSFT` or --file sp100.txt",
        )
    given = parse_symbols(symbols) if symbols is not None else read_universe_file(file)  # type: ignore[arg-type]
    change = save_universe(settings_from(ctx), name, given, replace=replace)
    count = len(change.universe.symbols)
    if change.created:
        console.print(f"Saved universe {change.universe.name}: {_count(count)}.")
    elif replace:
        console.print(f"Replaced universe {change.universe.name}: {_count(count)}.")
    else:
        console.print(
            f"Added {_count(change.added)} to universe {change.universe.name} (now {count})."
        )


def _count(n: int) -> str:
    return f"{n} symbol" if n == 1 else f"{n} symbols"


@universe_app.command("list")
def list_lists(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the lists as JSON."),
) -> None:
    """The stored lists: name, size and first symbols."""
    from algotrader.app.universes import list_universes

    lists = list_universes(settings_from(ctx))
    if as_json:
        print(json.dumps({u.name: list(u.symbols) for u in lists}, indent=2))
        return
    if not lists:
        console.print("No stored universes yet: try `algotrader universe add tech AAPL,MSFT`.")
        return
    table = Table("name", "symbols", "first symbols", "updated (UTC)")
    for u in lists:
        more = ", ..." if len(u.symbols) > _SHOWN_SYMBOLS else ""
        updated = f"{u.updated_at:%Y-%m-%d %H:%M}" if u.updated_at else ""
        table.add_row(
            u.name, str(len(u.symbols)), ", ".join(u.symbols[:_SHOWN_SYMBOLS]) + more, updated
        )
    console.print(table)


@universe_app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The list name (see `algotrader universe list`)."),
) -> None:
    """Every symbol of one list, one a line (the format `--universe FILE` reads)."""
    from algotrader.app.universes import get_universe

    for symbol in get_universe(settings_from(ctx), name).symbols:
        print(symbol)


@universe_app.command("remove")
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The list name."),
    symbols: str | None = typer.Argument(
        None, help="Only these symbols (default: the whole list)."
    ),
) -> None:
    """Remove a list, or some symbols from it (stored bars and runs stay)."""
    from algotrader.app.universes import remove_universe

    given = parse_symbols(symbols) if symbols is not None else None
    left = remove_universe(settings_from(ctx), name, given)
    if left is None:
        console.print(f"Removed universe {name.strip().lower()}.")
    else:
        console.print(f"Universe {left.name} now has {_count(len(left.symbols))}.")


def register(app: typer.Typer) -> None:
    app.add_typer(universe_app, name="universe")
