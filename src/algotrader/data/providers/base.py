"""What every bar provider offers: :class:`BarProvider` and :class:`InstrumentInfo`.

A provider turns ``(symbol, resolution, [start, end))`` into a bar frame (see
:mod:`algotrader.frames`) and describes the instrument for the ``instruments`` table. Providers
return frames already passed through :func:`algotrader.data.validation.validate_bars`, so the
ingest pipeline can store them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.timeframes import Resolution, parse_resolution


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """One row of the ``instruments`` table, as a provider knows it.

    ``con_id`` is IB's contract id when the provider has one (``None`` otherwise); ``timezone`` is
    the exchange's time zone in IB's spelling (``"US/Eastern"``), used for display only.
    """

    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str | None = None
    currency: str = "USD"
    con_id: int | None = None
    name: str | None = None
    timezone: str | None = None


@runtime_checkable
class BarProvider(Protocol):
    """A source of OHLCV bars.

    ``name`` is what users pass as ``--source`` (``"synthetic"``, ``"csv"``, ``"ibkr"``); ``label``
    is how the data is described in console output (``"synthetic data (not market prices)"``,
    ``"CSV file prices.csv"``, ``"IBKR"``), e.g. ``Fetched 1256 rows from {label} for AAPL.``
    """

    name: str
    label: str

    def fetch_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> pd.DataFrame:
        """The validated bars of ``symbol`` whose timestamp ``ts`` lies in ``[start, end)``.

        Naive datetimes mean UTC. The frame may be empty when the provider has no bars in the
        window; it is never ``None``.
        """
        ...

    def describe(self, symbol: str) -> InstrumentInfo:
        """The instrument row to store for ``symbol``."""
        ...


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
