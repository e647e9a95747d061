"""Bulk reads and writes of bars, the same on PostgreSQL and SQLite.

Reads go through :class:`SqlBarStore`. Writes go through a :class:`SeriesWriter`, which exists only
while its process holds the series' writer lock (:meth:`SqlBarStore.lock`): a PostgreSQL advisory
lock per (symbol, resolution), or SQLite's write transaction. Two processes ingesting one series
therefore take turns for each read-compute-write, and can never interleave into wrong indicators.

Every chunk is one transaction, so a failure or a kill never leaves part of a chunk behind. The
backend-specific SQL lives in :mod:`algotrader.db._dialect`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from algotrader.db import _faults
from algotrader.db._dialect import lock_key
from algotrader.db.engine import Database
from algotrader.db.models import Base, MarketPrice, SeriesState
from algotrader.db.types import from_epoch_us
from algotrader.frames import INDICATOR_COLUMNS, OHLCV_COLUMNS
from algotrader.ports.stores import FetchProgress, StoredSeries

log = logging.getLogger(__name__)

VALUE_COLUMNS: tuple[str, ...] = OHLCV_COLUMNS + INDICATOR_COLUMNS
# Rows per write transaction. ALGOTRADER_WRITE_CHUNK_ROWS tunes it (smaller transactions on a
# small machine; the reliability tests use it to kill an ingest between chunks cheaply).
DEFAULT_CHUNK_ROWS = int(os.environ.get("ALGOTRADER_WRITE_CHUNK_ROWS") or 100_000)
_STATE = Base.metadata.tables[SeriesState.__tablename__]


@dataclass(frozen=True)
class _Rows:
    """A frame to write as arrays: epoch microseconds and one float64 array per stored column
    (NaN where the frame lacks the column)."""

    source: str
    ts_us: np.ndarray
    values: list[np.ndarray]
    all_new: bool
    update_source: bool

    @classmethod
    def of(cls, frame: pd.DataFrame, source: str, *, all_new: bool, update_source: bool) -> _Rows:
        index = pd.DatetimeIndex(frame.index)
        values = [
            np.ascontiguousarray(frame[c].to_numpy(np.float64))
            if c in frame.columns
            else np.full(len(frame), np.nan)
            for c in VALUE_COLUMNS
        ]
        ts_us = np.asarray(index.as_unit("us").asi8, dtype=np.int64)
        return cls(source, ts_us, values, all_new, update_source)


def _utc(value: Any) -> datetime | None:
    """A stored timestamp as an aware datetime (aggregates bypass the column type on SQLite)."""
    if value is None:
        return None
    if isinstance(value, int):
        return from_epoch_us(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SqlBarStore:
    """Reads the bars of one database and hands out series writers. Holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------------------------- reads
    def bounds(self, symbol: str, resolution: str) -> tuple[datetime, datetime, int] | None:
        """(first ts, last ts, number of bars) of a stored series, or None when there is none."""
        with self.db.engine.connect() as conn:
            return _bounds(conn, symbol, resolution)

    def count(self, symbol: str, resolution: str) -> int:
        found = self.bounds(symbol, resolution)
        return found[2] if found else 0

    def sources(self, symbol: str, resolution: str) -> set[str]:
        """The distinct ``source`` values of a stored series."""
        with self.db.engine.connect() as conn:
            return _sources(conn, symbol, resolution)

    def dirty_from(self, symbol: str, resolution: str) -> datetime | None:
        with self.db.engine.connect() as conn:
            return _state(conn, symbol, resolution)[0]

    def fetch_progress(self, symbol: str, resolution: str) -> FetchProgress | None:
        with self.db.engine.connect() as conn:
            return _state(conn, symbol, resolution)[1]

    def load_bars(
        self,
        symbol: str,
        resolution: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        indicators: bool = True,
    ) -> pd.DataFrame:
        """Stored bars in [start, end) as a bar frame (indicator NULLs as NaN)."""
        columns = VALUE_COLUMNS if indicators else OHLCV_COLUMNS
        where = {"symbol": symbol, "resolution": resolution, "start": start, "end": end}
        with self.db.engine.connect() as conn:
            return self.db.dialect.read_bars(conn, where, columns, None)[0]

    # ---------------------------------------------------------------------------------- writes
    @contextlib.contextmanager
    def lock(self, symbol: str, resolution: str) -> Iterator[SeriesWriter]:
        """Hold the writer lock of (symbol, resolution) and yield its :class:`SeriesWriter`.

        PostgreSQL: an advisory lock per series, released when the block ends (or the process
        dies). SQLite: the database's write transaction, committed when the block ends, so every
        read and write of the block must go through the writer.
        """
        dialect = self.db.dialect
        key = lock_key("series", symbol, resolution)
        with dialect.exclusive(self.db.engine, key, f"write {symbol} {resolution}") as conn:
            yield SeriesWriter(
                self.db, symbol, resolution, conn if dialect.lock_covers_writes else None
            )


class SeriesWriter:
    """Reads and writes of one series by the process holding its writer lock."""

    def __init__(
        self, db: Database, symbol: str, resolution: str, locked: Connection | None
    ) -> None:
        self.db = db
        self.symbol = symbol
        self.resolution = resolution
        self._locked = locked

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._locked is not None:
            yield self._locked
            return
        with self.db.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction (under SQLite's lock: part of the lock's transaction)."""
        if self._locked is not None:
            yield self._locked
            return
        with self.db.engine.begin() as conn:
            yield conn

    def bounds(self) -> tuple[datetime, datetime, int] | None:
        with self._connect() as conn:
            return _bounds(conn, self.symbol, self.resolution)

    def dirty_from(self) -> datetime | None:
        with self._connect() as conn:
            return _state(conn, self.symbol, self.resolution)[0]

    def fetch_progress(self) -> FetchProgress | None:
        with self._connect() as conn:
            return _state(conn, self.symbol, self.resolution)[1]

    def revision(self) -> int:
        """A number that changes with every committed write of this series' bars (0: never
        written since revisions were counted)."""
        with self._connect() as conn:
            found = conn.execute(select(SeriesState.revision).where(*self._key())).scalar()
        return int(found or 0)

    def load(
        self, source: str, start: datetime | None = None, end: datetime | None = None
    ) -> StoredSeries:
        """Stored OHLCV in [start, end) (default: all), with a mask of the rows from ``source``."""
        where = {"symbol": self.symbol, "resolution": self.resolution, "start": start, "end": end}
        with self._connect() as conn:
            bars, same = self.db.dialect.read_bars(conn, where, OHLCV_COLUMNS, source)
        return StoredSeries(bars, same)

    def row_sources(self) -> np.ndarray:
        """Each stored bar's source, in time order."""
        with self._connect() as conn:
            rows = conn.execute(
                select(MarketPrice.source)
                .where(MarketPrice.symbol == self.symbol, MarketPrice.resolution == self.resolution)
                .order_by(MarketPrice.ts)
            ).scalars()
            return np.asarray(list(rows), dtype=object)

    def set_fetch_progress(self, progress: FetchProgress | None) -> None:
        """Record (or clear, with None) an unfinished chunked fetch of this series."""
        with self._begin() as conn:
            self._upsert_state(
                conn,
                fetch_start=progress.start if progress else None,
                fetch_reached=progress.reached if progress else None,
            )

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
        chunk_rows: int | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert ``frame`` (OHLCV, plus indicator columns when present) in atomic chunks.

        ``dirty_from`` is recorded (kept at the earliest) in the first chunk's transaction;
        ``clear_dirty_from`` clears a marker at or after that instant in the last chunk's, so an
        interrupted multi-chunk write leaves a marker that makes the next run recompute.
        ``fetch`` records a chunked fetch's progress in the same transaction as the rows.
        ``update_source=False`` rewrites values but keeps each stored row's source (indicator
        refresh of bars that came from elsewhere). ``all_new`` says no row exists yet (PostgreSQL
        then COPYs directly). Returns the number of rows written.
        """
        rows = _Rows.of(frame, source, all_new=all_new, update_source=update_source)
        chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
        n = len(frame)
        bounds = [(lo, min(lo + chunk_rows, n)) for lo in range(0, n, chunk_rows)]
        writers = self.db.dialect.parallel_writers if self._locked is None else 1
        if writers > 1 and len(bounds) > 2:
            # The dirty marker is set before any chunk commits and cleared only after all did.
            with self._begin() as conn:
                self._mark(conn, dirty_from, None, None)
                # Bumped once, here: bumping in each chunk would queue the chunks on this row.
                self._bump_revision(conn)
            with ThreadPoolExecutor(max_workers=writers) as pool:
                chunks = [
                    pool.submit(self._write_chunk, rows, lo, hi, on_chunk) for lo, hi in bounds
                ]
                for future in chunks:
                    future.result()
            with self._begin() as conn:
                self._mark(conn, None, clear_dirty_from, fetch)
            return n
        if not bounds:
            with self._begin() as conn:
                self._mark(conn, dirty_from, clear_dirty_from, fetch)
        for k, (lo, hi) in enumerate(bounds):
            first, last = k == 0, k == len(bounds) - 1
            marks = (
                dirty_from if first else None,
                clear_dirty_from if last else None,
                fetch if last else None,
            )
            self._write_chunk(rows, lo, hi, on_chunk, marks, bump=first)
        return n

    def _write_chunk(
        self,
        rows: _Rows,
        lo: int,
        hi: int,
        on_chunk: Callable[[int], None] | None,
        marks: tuple[datetime | None, datetime | None, FetchProgress | None] = (None, None, None),
        *,
        bump: bool = False,
    ) -> None:
        """Rows ``[lo, hi)`` and the series-state ``marks`` in one transaction; ``bump``: the
        write's first transaction, which changes the series' revision (the writer holds the lock
        until its last chunk, so no reader can see a later chunk under the same revision)."""
        with self._begin() as conn:
            self._mark(conn, *marks)
            if bump:
                self._bump_revision(conn)
            self.db.dialect.write_bars(
                conn,
                (self.symbol, self.resolution, rows.source),
                rows.ts_us[lo:hi],
                [v[lo:hi] for v in rows.values],
                VALUE_COLUMNS,
                all_new=rows.all_new,
                update_source=rows.update_source,
            )
        _faults.chunk_written()
        if on_chunk is not None:
            on_chunk(hi - lo)

    def _mark(
        self,
        conn: Connection,
        dirty_from: datetime | None,
        clear_from: datetime | None,
        fetch: FetchProgress | None,
    ) -> None:
        if dirty_from is not None:
            current = _state(conn, self.symbol, self.resolution)[0]
            if current is None or dirty_from < current:
                self._upsert_state(conn, dirty_from=dirty_from)
        if clear_from is not None:
            conn.execute(
                _STATE.update()
                .where(*self._key(), _STATE.c.dirty_from >= clear_from)
                .values(dirty_from=None, updated_at=datetime.now(UTC))
            )
        if fetch is not None:
            self._upsert_state(conn, fetch_start=fetch.start, fetch_reached=fetch.reached)

    def _bump_revision(self, conn: Connection) -> None:
        now = datetime.now(UTC)
        insert = self.db.dialect.insert(_STATE).values(
            symbol=self.symbol, resolution=self.resolution, revision=1, updated_at=now
        )
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["symbol", "resolution"],
                set_={"revision": _STATE.c.revision + 1, "updated_at": now},
            )
        )

    def _key(self) -> tuple[Any, ...]:
        return (_STATE.c.symbol == self.symbol, _STATE.c.resolution == self.resolution)

    def _upsert_state(self, conn: Connection, **values: Any) -> None:
        values["updated_at"] = datetime.now(UTC)
        insert = self.db.dialect.insert(_STATE)
        conn.execute(
            insert.values(
                symbol=self.symbol, resolution=self.resolution, **values
            ).on_conflict_do_update(index_elements=["symbol", "resolution"], set_=values)
        )


def _bounds(
    conn: Connection, symbol: str, resolution: str
) -> tuple[datetime, datetime, int] | None:
    first, last, n = conn.execute(
        select(func.min(MarketPrice.ts), func.max(MarketPrice.ts), func.count()).where(
            MarketPrice.symbol == symbol, MarketPrice.resolution == resolution
        )
    ).one()
    if not n:
        return None
    return _utc(first), _utc(last), int(n)  # type: ignore[return-value]


def _sources(conn: Connection, symbol: str, resolution: str) -> set[str]:
    rows = conn.execute(
        select(MarketPrice.source)
        .distinct()
        .where(MarketPrice.symbol == symbol, MarketPrice.resolution == resolution)
    )
    return {r[0] for r in rows}


def _state(
    conn: Connection, symbol: str, resolution: str
) -> tuple[datetime | None, FetchProgress | None]:
    row = conn.execute(
        select(SeriesState.dirty_from, SeriesState.fetch_start, SeriesState.fetch_reached).where(
            SeriesState.symbol == symbol, SeriesState.resolution == resolution
        )
    ).one_or_none()
    if row is None:
        return None, None
    progress = None
    if row.fetch_start is not None and row.fetch_reached is not None:
        progress = FetchProgress(row.fetch_start, row.fetch_reached)
    return row.dirty_from, progress
