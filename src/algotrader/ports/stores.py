"""The stores the application layer reads and writes, as protocols.

:mod:`algotrader.db` implements them for SQLite and PostgreSQL. Writes of bars happen only
through a :class:`SeriesWriter`, which exists while its process holds the series' writer lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from algotrader.ports.bars import InstrumentInfo


@dataclass(frozen=True)
class StoredSeries:
    """The stored OHLCV of one (symbol, resolution) and which rows came from a given source."""

    bars: pd.DataFrame
    same_source: np.ndarray


@dataclass(frozen=True)
class FetchProgress:
    """A chunked fetch that has not finished: it wanted bars from ``start`` and has stored every
    bar from ``reached`` on (it walks backwards), so a re-run only needs ``[start, reached)``."""

    start: datetime
    reached: datetime


@dataclass(frozen=True)
class StoredInstrument:
    """An instrument row plus its stored bar counts per resolution."""

    info: InstrumentInfo
    source: str | None
    bars: dict[str, int]


@dataclass(frozen=True)
class UpsertReport:
    """What an import did to one table."""

    table: str
    inserted: int
    updated: int
    unchanged: int


Bounds = tuple[datetime, datetime, int]


class SeriesWriter(Protocol):
    """Reads and writes of one series by the process holding its writer lock."""

    def bounds(self) -> Bounds | None: ...

    def dirty_from(self) -> datetime | None: ...

    def load(
        self, source: str, start: datetime | None = None, end: datetime | None = None
    ) -> StoredSeries: ...

    def set_fetch_progress(self, progress: FetchProgress | None) -> None: ...

    def write_bars(
        self,
        source: str,
        frame: pd.DataFrame,
        *,
        dirty_from: datetime | None = None,
        clear_dirty_from: datetime | None = None,
        fetch: FetchProgress | None = None,
        all_new: bool = False,
        update_source: bool = True,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int: ...


class BarStore(Protocol):
    """Stored bars: read by anyone, written through :meth:`lock`."""

    def bounds(self, symbol: str, resolution: str) -> Bounds | None: ...

    def sources(self, symbol: str, resolution: str) -> set[str]: ...

    def dirty_from(self, symbol: str, resolution: str) -> datetime | None: ...

    def fetch_progress(self, symbol: str, resolution: str) -> FetchProgress | None: ...

    def load_bars(
        self,
        symbol: str,
        resolution: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        indicators: bool = True,
    ) -> pd.DataFrame: ...

    def lock(self, symbol: str, resolution: str) -> AbstractContextManager[SeriesWriter]: ...


class InstrumentStore(Protocol):
    def ensure(self, info: InstrumentInfo, source: str | None = None) -> bool: ...

    def get(self, symbol: str) -> InstrumentInfo | None: ...

    def list(self) -> list[StoredInstrument]: ...


class EventStore(Protocol):
    def upsert(self, table_name: str, records: list[dict[str, Any]]) -> UpsertReport: ...


__all__ = [
    "BarStore",
    "Bounds",
    "EventStore",
    "FetchProgress",
    "InstrumentStore",
    "Iterator",
    "SeriesWriter",
    "StoredInstrument",
    "StoredSeries",
    "UpsertReport",
]
