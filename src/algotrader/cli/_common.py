"""Helpers shared by command modules: console, database opening, symbol lists."""

from __future__ import annotations

import re
import sys

import typer
from rich.console import Console

from algotrader.config import Settings, load_settings
from algotrader.db.engine import Database, open_database
from algotrader.errors import InvalidInputError
from algotrader.log import setup_logging

# Piped output (tests, logs) gets a fixed, wide width instead of rich's 80 columns.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$")


def parse_symbols(text: str) -> list[str]:
    """``"AAPL, msft"`` -> ``["AAPL", "MSFT"]`` (validated, de-duplicated, order kept)."""
    symbols: list[str] = []
    for part in text.split(","):
        symbol = part.strip().upper()
        if not symbol:
            continue
        if not _SYMBOL_RE.match(symbol):
            raise InvalidInputError(
                f"invalid symbol {part.strip()!r}",
                "use ticker symbols such as AAPL or BRK.B, separated by commas",
            )
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise InvalidInputError("no symbol given", "pass -s AAPL or -s AAPL,MSFT,SPY")
    return symbols


def settings_from(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings from env/.env, then the root flags, then the command's own flags."""
    root = ctx.find_root().obj or {}
    settings = load_settings(**{**root, **overrides})
    setup_logging(settings.log_dir, settings.log_level)
    return settings


def open_db(settings: Settings) -> Database:
    return open_database(settings)
