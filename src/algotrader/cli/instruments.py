"""``algotrader instruments``: add, import and list instruments."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from algotrader.cli._common import console, parse_symbols, settings_from, shorten
from algotrader.errors import InvalidInputError

instruments_app = typer.Typer(
    help="Instruments (symbols and their metadata).", no_args_is_help=True
)
_MAX_CON_ID = 2**63 - 1

_IMPORT_FORMAT = """File format: CSV with a header, or JSON lines (an object a line), UTF-8:

  symbol    AAPL...                     required

  name      "Apple Inc."                optional, at most 200 characters

  sector    "Technology"                optional, at most 64 characters

  industry  "Computers"                 optional, at most 128 characters

Example CSV:  symbol,sector,industry / AAPL,Technology,Computers

Every row is checked before anything is written; an instrument already stored gets only its blank
fields filled (IB's contract details, stored on ingest, stay).
"""


@instruments_app.command("add")
def add(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="Ticker symbol, e.g. AAPL."),
    name: str | None = typer.Option(None, "--name", help="Company or fund name."),
    sec_type: str = typer.Option("STK", "--sec-type", help="IB security type: STK, ETF, FUT..."),
    exchange: str = typer.Option("SMART", "--exchange", help="Routing exchange."),
    primary_exchange: str | None = typer.Option(
        None, "--primary-exchange", help="Listing exchange, e.g. NASDAQ."
    ),
    currency: str = typer.Option("USD", "--currency", help="Trading currency."),
    con_id: int | None = typer.Option(None, "--con-id", help="IB contract id."),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Exchange time zone, e.g. US/Eastern."
    ),
    sector: str | None = typer.Option(None, "--sector", help="Sector, for portfolio caps."),
    industry: str | None = typer.Option(None, "--industry", help="Industry, for portfolio caps."),
) -> None:
    """Add an instrument (if it exists, only its blank fields are filled in)."""
    from algotrader.app.instruments import add_instrument
    from algotrader.ports.bars import InstrumentInfo

    symbols = parse_symbols(symbol)
    if len(symbols) > 1:
        raise InvalidInputError(
            f"instruments add takes one symbol, got {len(symbols)}", "add them one at a time"
        )
    sym = symbols[0]
    if con_id is not None and not 0 < con_id <= _MAX_CON_ID:
        raise InvalidInputError(f"invalid --con-id {con_id}", "use IB's positive contract id")
    info = InstrumentInfo(
        symbol=sym,
        sec_type=_field(sec_type, "--sec-type", 16).upper(),
        exchange=_field(exchange, "--exchange", 32).upper(),
        primary_exchange=_optional(primary_exchange, "--primary-exchange", 32),
        currency=_field(currency, "--currency", 8).upper(),
        con_id=con_id,
        name=_optional(name, "--name", 200),
        timezone=_optional(timezone, "--timezone", 64),
        sector=_optional(sector, "--sector", 64),
        industry=_optional(industry, "--industry", 128),
    )
    created = add_instrument(settings_from(ctx), info)
    console.print(f"Added instrument {sym}." if created else f"Instrument {sym} already exists.")


def _field(value: str, flag: str, limit: int) -> str:
    text = value.strip()
    if not text or len(text) > limit or not text.isprintable():
        raise InvalidInputError(
            f"invalid {flag} {shorten(text)!r}", f"give 1 to {limit} printable characters"
        )
    return text


def _optional(value: str | None, flag: str, limit: int) -> str | None:
    return None if value is None or not value.strip() else _field(value, flag, limit)


@instruments_app.command("import", epilog=_IMPORT_FORMAT)
def import_file(
    ctx: typer.Context, file: Path = typer.Argument(..., help="CSV or JSON-lines file.")
) -> None:
    """Add instruments with their sector and industry (for portfolio caps) from a file."""
    from algotrader.app.instruments import import_instruments

    created, existing = import_instruments(settings_from(ctx), file)
    console.print(f"instruments: added {created}, already there {existing} (blanks filled).")


@instruments_app.command("list")
def list_instruments(ctx: typer.Context) -> None:
    """List instruments with their stored bars per resolution."""
    from algotrader.app.instruments import list_instruments as listed

    rows = listed(settings_from(ctx))
    if not rows:
        console.print("No instruments yet: run `algotrader ingest -s AAPL`.")
        return
    table = Table(
        "symbol", "name", "type", "exchange", "currency", "con_id", "sector", "source", "bars"
    )
    for row in rows:
        info = row.info
        table.add_row(
            info.symbol,
            info.name or "",
            info.sec_type,
            info.primary_exchange or info.exchange,
            info.currency,
            str(info.con_id or ""),
            info.sector or "",
            row.source or "",
            " ".join(f"{res}:{n}" for res, n in row.bars.items()),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(instruments_app, name="instruments")
