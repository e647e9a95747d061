"""The stores the application layer reads and writes, as protocols.

:mod:`algotrader.db` implements them for SQLite and PostgreSQL. Writes of bars happen only
through a :class:`SeriesWriter`, which exists while its process holds the series' writer lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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

    def revision(self) -> int: ...

    def row_sources(self) -> np.ndarray: ...

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


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One value of ``external_signals``: what ``source`` said about ``symbol`` at ``ts``.

    ``ts`` is when the value became known: bars from ``ts`` on may use it, never earlier ones.
    """

    symbol: str
    ts: datetime
    source: str
    name: str
    value: float | None
    payload: dict[str, Any] | None = None


class EventStore(Protocol):
    """Market events, symbol events and external signals."""

    def upsert(self, table_name: str, records: list[dict[str, Any]]) -> UpsertReport: ...

    def upsert_signals(self, rows: Sequence[SignalRow]) -> UpsertReport:
        """Insert new signals and update changed ones (key: symbol, source, name, ts) in one
        transaction; rows equal to the stored ones are not written again."""
        ...

    def signals(
        self, symbol: str, sources: Sequence[str] | None = None, *, end: datetime | None = None
    ) -> pd.DataFrame:
        """The signals of ``symbol`` (all sources, or ``sources``) stamped at or before ``end``:
        columns ``ts`` (UTC), ``source``, ``name``, ``value`` (float, NaN when NULL), sorted by
        source, name and ts."""
        ...

    def events(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> pd.DataFrame:
        """The events ``symbol`` sees, its own and the market-wide ones, stamped within
        ``[start, end]``: columns ``ts`` (UTC), ``kind``, ``scope`` (``"symbol"`` or
        ``"market"``), sorted by ts, scope and kind."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A trained model as the registry records it, before the store gives it an id, a version
    and an artefact file.

    ``periods`` are the walk-forward periods (each forecast only by the model trained before it);
    ``train_start``/``train_end`` span all their training windows; ``data_fingerprint`` covers
    the bars it learnt from and ``library_versions`` the libraries that built it.
    """

    name: str
    kind: str
    params: dict[str, Any]
    target: str
    horizon: int
    resolution: str
    symbols: tuple[str, ...]
    features: tuple[str, ...]
    scheme: dict[str, Any]
    periods: tuple[dict[str, Any], ...]
    train_start: datetime
    train_end: datetime
    data_fingerprint: str
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    code_version: str

    @property
    def is_regime(self) -> bool:
        """Whether it labels regimes (``row["regime"]``) rather than forecasting returns."""
        # Imported here: every store user would otherwise load the whole ML package.
        from algotrader.ml.models import model_kind

        return model_kind(self.kind).regime

    @property
    def signal_name(self) -> str:
        """The ``external_signals.name`` of its forecasts."""
        return "regime" if self.is_regime else f"{self.target}_{self.horizon}"


@dataclass(frozen=True)
class ModelInfo(ModelSpec):
    """A registered model: its spec plus what the registry assigned.

    ``artefact_path`` is relative to the data directory; ``artefact_sha256`` is checked before
    the file is used.
    """

    id: int
    version: int
    artefact_path: str
    artefact_sha256: str
    created_at: datetime

    @property
    def source(self) -> str:
        """The ``external_signals.source`` of its forecasts (``row["signal:<source>"]``)."""
        return f"{self.name}_v{self.version}"


class ModelStore(Protocol):
    """The model registry: a row per trained model plus its artefact file."""

    def find(self, ref: str) -> ModelInfo:
        """The model ``ref`` names: ``NAME_vN``, ``NAME`` (its latest version) or its id; one
        clear line (with a did-you-mean) when there is none."""
        ...

    def register(self, model: ModelSpec, artefact: bytes) -> ModelInfo:
        """Store ``model`` as the next version of its name with ``artefact`` as its file; both
        or neither."""
        ...

    def artefact(self, model: ModelInfo) -> bytes:
        """The artefact file of ``model``, refused when missing or when its SHA-256 differs."""
        ...

    def list(self) -> list[ModelInfo]:
        """Every registered model, newest first."""
        ...


__all__ = [
    "BarStore",
    "Bounds",
    "EventStore",
    "FetchProgress",
    "InstrumentStore",
    "Iterator",
    "ModelInfo",
    "ModelSpec",
    "ModelStore",
    "SeriesWriter",
    "SignalRow",
    "StoredInstrument",
    "StoredSeries",
    "UpsertReport",
]
