"""``algotrader instruments``: add and list instruments."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import func, select

from algotrader.cli._common import console, open_db, parse_symbols, settings_from
from algotrader.data.providers.base import InstrumentInfo
from algotrader.db.models import Instrument, MarketPrice
from algotrader.db.store import BarStore

instruments_app = typer.Typer(
    help="Instruments (symbols and their metadata).", no_args_is_help=True
)


@instruments_app.command("add")
def add(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="Ticker symbol, e.g. AAPL."),
    name: str | None = typer.Option(None, "--name"),
    sec_type: str = typer.Option("STK", "--sec-type"),
    exchange: str = typer.Option("SMART", "--exchange"),
    primary_exchange: str | None = typer.Option(None, "--primary-exchange"),
    currency: str = typer.Option("USD", "--currency"),
    con_id: int | None = typer.Option(None, "--con-id"),
    timezone: str | None = typer.Option(None, "--timezone"),
) -> None:
    """Add an instrument (does nothing if it is already there)."""
    (sym,) = parse_symbols(symbol)[:1]
    info = InstrumentInfo(
        symbol=sym,
        sec_type=sec_type.upper(),
        exchange=exchange.upper(),
        primary_exchange=primary_exchange,
        currency=currency.upper(),
        con_id=con_id,
        name=name,
        timezone=timezone,
    )
    db = open_db(settings_from(ctx))
    try:
        created = BarStore(db).ensure_instrument(info, "manual")
    finally:
        db.dispose()
    console.print(f"Added instrument {sym}." if created else f"Instrument {sym} already exists.")


@instruments_app.command("list")
def list_instruments(ctx: typer.Context) -> None:
    """List instruments with their stored bars per resolution."""
    db = open_db(settings_from(ctx))
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(select(Instrument.__table__).order_by(Instrument.symbol)).all()
            counts = conn.execute(
                select(MarketPrice.symbol, MarketPrice.resolution, func.count()).group_by(
                    MarketPrice.symbol, MarketPrice.resolution
                )
            ).all()
    finally:
        db.dispose()
    bars: dict[str, list[str]] = {}
    for symbol, resolution, count in counts:
        bars.setdefault(symbol, []).append(f"{resolution}:{count}")
    table = Table("symbol", "name", "type", "exchange", "currency", "con_id", "source", "bars")
    for row in rows:
        table.add_row(
            row.symbol,
            row.name or "",
            row.sec_type,
            row.primary_exchange or row.exchange,
            row.currency,
            str(row.con_id or ""),
            row.source or "",
            " ".join(bars.get(row.symbol, [])),
        )
    console.print(table if rows else "No instruments yet: run `algotrader ingest -s AAPL`.")


def register(app: typer.Typer) -> None:
    app.add_typer(instruments_app, name="instruments")
