"""``algotrader watchlist``: the series ``algotrader serve scheduler`` keeps fresh."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from algotrader.cli._common import console, parse_symbols, settings_from
from algotrader.cli.ingest import parse_resolutions

watchlist_app = typer.Typer(
    help="The watchlist: series the scheduler refreshes on the exchange calendar.",
    no_args_is_help=True,
)

_EXAMPLES = """Examples:

  algotrader watchlist add AAPL,MSFT -r 1d,1h

  algotrader watchlist add SPY -r 1d --source ibsim --history "5 Y"

  algotrader watchlist remove MSFT -r 1h

  algotrader watchlist list
"""


@watchlist_app.command("add", epilog=_EXAMPLES)
def add(
    ctx: typer.Context,
    symbols: str = typer.Argument(..., help="Symbol(s): AAPL or AAPL,MSFT,SPY."),
    resolution: str = typer.Option("1d", "-r", "--resolution", help="Bar size(s): 1d or 1d,1h."),
    source: str | None = typer.Option(
        None, "--source", help="ibkr, ibsim or synthetic (default: ALGOTRADER_DATA_SOURCE)."
    ),
    history: str = typer.Option(
        "1 Y", "--history", help='How much the first refresh fetches, e.g. "5 Y".'
    ),
) -> None:
    """Watch series: the scheduler fetches their history, then keeps them fresh."""
    from algotrader.app.watchlist import WatchRequest, add_to_watchlist
    from algotrader.timeframes import parse_duration

    request = WatchRequest(
        tuple(parse_symbols(symbols)),
        tuple(parse_resolutions(resolution)),
        source=source,
        history=parse_duration(history),
    )
    for change in add_to_watchlist(settings_from(ctx), request):
        verb = "Watching" if change.added else "Already watching (settings updated):"
        console.print(f"{verb} {change.symbol} {change.resolution}.")


@watchlist_app.command("remove")
def remove(
    ctx: typer.Context,
    symbols: str = typer.Argument(..., help="Symbol(s) to stop watching."),
    resolution: str | None = typer.Option(
        None, "-r", "--resolution", help="Only these bar sizes (default: all)."
    ),
) -> None:
    """Stop watching series (their stored bars stay)."""
    from algotrader.app.watchlist import remove_from_watchlist

    resolutions = tuple(parse_resolutions(resolution)) if resolution else None
    removed = remove_from_watchlist(settings_from(ctx), tuple(parse_symbols(symbols)), resolutions)
    console.print(f"Removed {removed} series from the watchlist.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "never"


@watchlist_app.command("list")
def list_entries(ctx: typer.Context) -> None:
    """The watched series and how their last refreshes went."""
    from algotrader.app.watchlist import list_watchlist

    settings = settings_from(ctx)
    entries = list_watchlist(settings)
    if not entries:
        console.print("The watchlist is empty: `algotrader watchlist add AAPL -r 1d`.")
        return
    table = Table("symbol", "res", "source", "last bar (UTC)", "last success", "failures", "error")
    for e in entries:
        table.add_row(
            e.symbol, e.resolution, e.source or f"({settings.data_source})",
            _when(e.last_bar_ts), _when(e.last_success_at), str(e.failures),
            (e.last_error or "")[:60],
        )  # fmt: skip
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(watchlist_app, name="watchlist")
