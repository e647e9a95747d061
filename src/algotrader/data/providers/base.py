"""Helpers shared by bar providers (the :class:`~algotrader.ports.bars.BarProvider` adapters)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ports.bars import BarProvider, InstrumentInfo
from algotrader.timeframes import Resolution, parse_resolution

__all__ = [
    "BarProvider",
    "InstrumentInfo",
    "WholeWindowProvider",
    "as_resolution",
    "as_utc",
    "normalise_symbol",
]


class WholeWindowProvider:
    """Defaults for providers that answer a whole window at once (CSV, synthetic).

    Subclasses implement :meth:`describe` and :meth:`fetch_bars`; :meth:`iter_bars` yields that
    window as one chunk, there is nothing to close, and calls are not meant to overlap.
    """

    name: str
    label: str
    streams_chunks = False
    max_concurrency = 1

    def describe(self, symbol: str) -> InstrumentInfo:  # pragma: no cover - abstract
        raise NotImplementedError

    def fetch_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def iter_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> Iterator[pd.DataFrame]:
        yield self.fetch_bars(symbol, resolution, start, end)

    def close(self) -> None:
        return None


def as_resolution(resolution: Resolution | str) -> Resolution:
    """Accept ``"1d"`` as well as a :class:`Resolution` (providers are called from both)."""
    return resolution if isinstance(resolution, Resolution) else parse_resolution(resolution)


def as_utc(moment: datetime | pd.Timestamp | str, what: str = "time") -> pd.Timestamp:
    """A UTC :class:`pandas.Timestamp`; a naive value is taken to be UTC already."""
    try:
        ts = pd.Timestamp(moment)
    except (ValueError, TypeError):
        raise InvalidInputError(
            f"invalid {what} {moment!r}", "use an ISO date or datetime such as 2024-01-31"
        ) from None
    if ts is pd.NaT:
        raise InvalidInputError(f"invalid {what} {moment!r}", "give a date, not NaT")
    return ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)


def normalise_symbol(symbol: str) -> str:
    """Upper-case, trimmed symbol; an empty one is refused."""
    text = str(symbol).strip().upper()
    if not text or any(ch.isspace() for ch in text) or len(text) > 32:
        raise InvalidInputError(
            f"invalid symbol {symbol!r}", "pass a ticker such as AAPL or BRK.B with -s/--symbol"
        )
    return text
