"""Ticker symbols as users type them: ``"AAPL, msft"`` -> ``["AAPL", "MSFT"]``."""

from __future__ import annotations

import re

from algotrader.errors import InvalidInputError

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$", re.ASCII)


def shorten(text: str, limit: int = 40, *, keep_end: bool = False) -> str:
    """``text`` cut to ``limit`` characters for an error line (a user may paste a whole file);
    ``keep_end`` keeps the end instead of the start (a path's file name).

    >>> shorten("/a/very/long/path/to/prices.csv", 15, keep_end=True)
    '…/to/prices.csv'
    """
    if len(text) <= limit:
        return text
    return "…" + text[len(text) - limit + 1 :] if keep_end else text[: limit - 1] + "…"


def parse_symbol(text: str) -> str:
    """One validated, upper-cased symbol."""
    raw = str(text).strip()
    # Check before upper-casing: "ß".upper() is "SS", which must not become a symbol.
    if not raw.isascii() or not _SYMBOL_RE.match(raw.upper()):
        raise InvalidInputError(
            f"invalid symbol {shorten(raw)!r}",
            "use ticker symbols such as AAPL or BRK.B, separated by commas",
        )
    return raw.upper()


def parse_symbols(text: str) -> list[str]:
    """``"AAPL, msft"`` -> ``["AAPL", "MSFT"]`` (validated, de-duplicated, order kept)."""
    symbols: list[str] = []
    for part in str(text).split(","):
        if part.strip() and (symbol := parse_symbol(part)) not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise InvalidInputError("no symbol given", "pass -s AAPL or -s AAPL,MSFT,SPY")
    return symbols
