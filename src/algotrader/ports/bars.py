"""Where bars come from (:class:`BarProvider`) and what an instrument is (:class:`InstrumentInfo`).

A provider turns ``(symbol, resolution, [start, end))`` into validated bar frames (see
:mod:`algotrader.frames` and :func:`algotrader.data.validation.validate_bars`), so the ingest
pipeline can store them as they are. What a provider can do is declared, not discovered:

* ``streams_chunks``: :meth:`BarProvider.iter_bars` yields several chunks as slow requests answer
  (IBKR walks history backwards); the pipeline commits each one as it arrives, so an interruption
  loses nothing. Otherwise it yields the whole window at once, stored in one pass.
* ``max_concurrency``: how many ``iter_bars`` calls may run at once from different threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from algotrader.timeframes import Resolution


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """One row of the ``instruments`` table, as a provider knows it.

    ``con_id`` is IB's contract id when the provider has one (``None`` otherwise); ``timezone`` is
    the exchange's time zone in IB's spelling (``"US/Eastern"``), used for display only;
    ``sector``/``industry`` feed portfolio caps (IB's contract details or a user's CSV).
    """

    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str | None = None
    currency: str = "USD"
    con_id: int | None = None
    name: str | None = None
    timezone: str | None = None
    sector: str | None = None
    industry: str | None = None


@runtime_checkable
class BarProvider(Protocol):
    """A source of OHLCV bars.

    ``name`` is the ``source`` stored with each bar (``"synthetic"``, ``"csv"``, ``"ibkr"``,
    ``"ibsim"``); it is final once :meth:`describe` has run (a gateway may turn out to be the
    simulator). ``label`` describes the data in console output: ``Fetched 1256 rows from {label}``.
    """

    name: str
    label: str
    streams_chunks: bool
    max_concurrency: int

    def describe(self, symbol: str) -> InstrumentInfo:
        """The instrument row to store for ``symbol`` (one clear error if it is unknown)."""
        ...

    def fetch_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> pd.DataFrame:
        """The validated bars of ``symbol`` whose ``ts`` lies in ``[start, end)`` (maybe empty)."""
        ...

    def iter_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> Iterator[pd.DataFrame]:
        """The same bars as validated chunks, each yielded as soon as it is available."""
        ...

    def close(self) -> None:
        """Release connections; the provider may be used again afterwards."""
        ...
