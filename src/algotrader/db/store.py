"""Bulk reads and writes of bars (and instruments) for both backends.

PostgreSQL: binary ``COPY`` straight into ``market_prices`` when the rows are new, otherwise
``COPY`` into a temporary table then ``INSERT .. ON CONFLICT .. DO UPDATE`` that only touches rows
whose values differ. SQLite: ``executemany`` with ``ON CONFLICT``. Every chunk is one transaction,
so a failure or a kill never leaves part of a chunk behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from psycopg import errors as pg_errors
from psycopg import sql
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from algotrader.data.providers.base import InstrumentInfo
from algotrader.db import _pgbinary
from algotrader.db.engine import Database
from algotrader.db.models import Base, Instrument
from algotrader.db.types import from_epoch_us, to_epoch_us
from algotrader.frames import INDEX_NAME, INDICATOR_COLUMNS, OHLCV_COLUMNS, empty_bars

log = logging.getLogger(__name__)

VALUE_COLUMNS: tuple[str, ...] = OHLCV_COLUMNS + INDICATOR_COLUMNS
_ROW_COLUMNS = ("symbol", "resolution", "source", "ts", *VALUE_COLUMNS)
DEFAULT_CHUNK_ROWS = 100_000
_PG_WRITERS = 2


@dataclass(frozen=True)
class StoredSeries:
    """The stored OHLCV of one (symbol, resolution) and which rows came from a given source."""

    bars: pd.DataFrame
    same_source: np.ndarray


def _epoch_us(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.as_unit("us").asi8, dtype=np.int64)


def _index_from_us(values: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        pd.to_datetime(np.asarray(values, dtype=np.int64), unit="us", utc=True), name=INDEX_NAME
    )


class BarStore:
    """Reads and writes bars of one database. Cheap to create; holds no connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------------------- instruments
    def ensure_instrument(self, info: InstrumentInfo, source: str | None = None) -> bool:
        """Insert the instrument if it is missing; fill in blanks if it exists. True if created."""
        values: dict[str, Any] = {f.name: getattr(info, f.name) for f in fields(info)}
        values["symbol"] = info.symbol.upper()
        values["source"] = source
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        with self.db.engine.begin() as conn:
            table = Base.metadata.tables[Instrument.__tablename__]
            existing = (
                conn.execute(select(table).where(table.c.symbol == values["symbol"]))
                .mappings()
                .first()
            )
            if existing is None:
                stmt = (
                    insert(Instrument)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["symbol"])
                )
                return bool(conn.execute(stmt).rowcount)
            blanks = {k: v for k, v in values.items() if v is not None and existing[k] is None}
            if blanks:
                conn.execute(
                    table.update().where(Instrument.symbol == values["symbol"]).values(**blanks)
                )
            return False

    # ----------------------------------------------------------------------------------- reads
    def count(self, symbol: str, resolution: str) -> int:
        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM market_prices WHERE symbol=:s AND resolution=:r"),
                    {"s": symbol, "r": resolution},
                ).scalar_one()
            )

    def bounds(self, symbol: str, resolution: str) -> tuple[datetime, datetime, int] | None:
        """(first ts, last ts, number of bars) of a stored series, or None when there is none."""
        from sqlalchemy import func

        from algotrader.db.models import MarketPrice

        with self.db.engine.connect() as conn:
            first, last, n = conn.execute(
                select(func.min(MarketPrice.ts), func.max(MarketPrice.ts), func.count()).where(
                    MarketPrice.symbol == symbol, MarketPrice.resolution == resolution
                )
            ).one()
        if not n:
            return None
        # min/max bypass the column type on SQLite (raw integers come back).
        if isinstance(first, int):
            first, last = from_epoch_us(first), from_epoch_us(last)
        return first, last, int(n)

    def sources(self, symbol: str, resolution: str) -> set[str]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT DISTINCT source FROM market_prices WHERE symbol=:s AND resolution=:r"),
                {"s": symbol, "r": resolution},
            )
            return {r[0] for r in rows}

    def dirty_from(self, symbol: str, resolution: str) -> datetime | None:
        from algotrader.db.models import SeriesState

        with self.db.engine.connect() as conn:
            return conn.execute(
                select(SeriesState.dirty_from).where(
                    SeriesState.symbol == symbol, SeriesState.resolution == resolution
                )
            ).scalar_one_or_none()

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
        data, _ = self._read(symbol, resolution, columns, start, end, source=None)
        return data

    def load_series(
        self,
        symbol: str,
        resolution: str,
        source: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> StoredSeries:
        """Stored OHLCV in [start, end) (default: all), with a mask of the rows from ``source``."""
        bars, same = self._read(symbol, resolution, OHLCV_COLUMNS, start, end, source=source)
        return StoredSeries(bars, same)

    def _read(
        self,
        symbol: str,
        resolution: str,
        columns: tuple[str, ...],
        start: datetime | None,
        end: datetime | None,
        source: str | None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        if self.db.is_postgres:
            return self._read_pg(symbol, resolution, columns, start, end, source)
        return self._read_sqlite(symbol, resolution, columns, start, end, source)

    def _read_pg(
        self,
        symbol: str,
        resolution: str,
        columns: tuple[str, ...],
        start: datetime | None,
        end: datetime | None,
        source: str | None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        # NaN stands in for NULL so every row has the same binary layout (decoded by numpy).
        selected = [
            sql.SQL("coalesce({}, 'NaN'::float8)").format(sql.Identifier(c)) for c in columns
        ]
        if source is not None:
            selected.append(sql.SQL("(source = {})").format(sql.Literal(source)))
        where = [
            sql.SQL("symbol = {}").format(sql.Literal(symbol)),
            sql.SQL("resolution = {}").format(sql.Literal(resolution)),
        ]
        if start is not None:
            where.append(sql.SQL("ts >= {}").format(sql.Literal(start)))
        if end is not None:
            where.append(sql.SQL("ts < {}").format(sql.Literal(end)))
        query = sql.SQL(
            "COPY (SELECT ts, {} FROM market_prices WHERE {} ORDER BY ts) TO STDOUT (FORMAT BINARY)"
        ).format(sql.SQL(", ").join(selected), sql.SQL(" AND ").join(where))
        buffer = bytearray()
        with self.db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(query) as copy:  # type: ignore[union-attr]
                for block in copy:
                    buffer += block
        if not buffer:
            return empty_bars().reindex(columns=list(columns)), np.zeros(0, dtype=bool)
        decoded = _pgbinary.decode_fixed(buffer, len(columns), 1 if source is not None else 0)
        frame = pd.DataFrame(
            {c: decoded[f"v{j}"] for j, c in enumerate(columns)},
            index=_index_from_us(decoded["ts"]),
        )
        same = decoded["b0"] if source is not None else np.zeros(0, dtype=bool)
        return frame, same

    def _read_sqlite(
        self,
        symbol: str,
        resolution: str,
        columns: tuple[str, ...],
        start: datetime | None,
        end: datetime | None,
        source: str | None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        query = f"SELECT ts, {', '.join(columns)}"
        params: list[Any] = []
        if source is not None:
            query += ", source = ?"
            params.append(source)
        query += " FROM market_prices WHERE symbol = ? AND resolution = ?"
        params += [symbol, resolution]
        if start is not None:
            query += " AND ts >= ?"
            params.append(to_epoch_us(start))
        if end is not None:
            query += " AND ts < ?"
            params.append(to_epoch_us(end))
        query += " ORDER BY ts"
        with self.db.engine.connect() as conn:
            # The raw cursor: SQLAlchemy's Row objects cost more than the query itself here.
            raw = conn.connection.driver_connection
            rows = raw.execute(query, tuple(params)).fetchall()  # type: ignore[union-attr]
        if not rows:
            return empty_bars().reindex(columns=list(columns)), np.zeros(0, dtype=bool)
        # One conversion of every row: NULL (None) becomes NaN; epoch microseconds stay exact
        # in float64 (they are far below 2**53).
        table = np.array(rows, dtype=np.float64)
        del rows
        values = table[:, 1:]
        frame = pd.DataFrame(
            {c: values[:, j] for j, c in enumerate(columns)},
            index=_index_from_us(table[:, 0].astype(np.int64)),
        )
        same = values[:, len(columns)] == 1.0 if source is not None else np.zeros(0, dtype=bool)
        return frame, same

    # ---------------------------------------------------------------------------------- writes
    def write_bars(
        self,
        symbol: str,
        resolution: str,
        source: str,
        frame: pd.DataFrame,
        *,
        dirty_from: datetime | None = None,
        clear_dirty_from: datetime | None = None,
        all_new: bool = False,
        update_source: bool = True,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert ``frame`` (OHLCV, plus indicator columns when present) in atomic chunks.

        ``dirty_from`` is recorded (kept at the earliest) in the first chunk's transaction;
        ``clear_dirty_from`` clears a marker at or after that instant in the last chunk's, so an
        interrupted multi-chunk write leaves a marker that makes the next run recompute.
        ``update_source=False`` rewrites values but keeps each stored row's source (indicator
        refresh of bars that came from elsewhere). ``all_new`` says no row exists yet (PostgreSQL
        then COPYs directly; a concurrent writer that got there first only costs a retry through
        the upsert path).
        Returns the number of rows written.
        """
        if frame.empty:
            if dirty_from is not None or clear_dirty_from is not None:
                with self.db.engine.begin() as conn:
                    self._mark(conn, symbol, resolution, dirty_from, clear_dirty_from)
            return 0
        ts_us = _epoch_us(pd.DatetimeIndex(frame.index))
        values = [
            np.ascontiguousarray(frame[c].to_numpy(np.float64))
            if c in frame.columns
            else np.full(len(frame), np.nan)
            for c in VALUE_COLUMNS
        ]
        n = len(frame)
        bounds = [(lo, min(lo + chunk_rows, n)) for lo in range(0, n, chunk_rows)]

        def write_chunk(lo: int, hi: int, mark_dirty: bool, clear: bool) -> None:
            with self.db.engine.begin() as conn:
                self._mark(
                    conn,
                    symbol,
                    resolution,
                    dirty_from if mark_dirty else None,
                    clear_dirty_from if clear else None,
                )
                chunk = (ts_us[lo:hi], [v[lo:hi] for v in values])
                if self.db.is_postgres:
                    self._write_pg(
                        conn,
                        symbol,
                        resolution,
                        source,
                        *chunk,
                        all_new=all_new,
                        update_source=update_source,
                    )
                else:
                    self._write_sqlite(
                        conn, symbol, resolution, source, *chunk, update_source=update_source
                    )
            if on_chunk is not None:
                on_chunk(hi - lo)

        if self.db.is_postgres and len(bounds) > 2:
            # A PostgreSQL backend is CPU-bound on COPY (index and foreign-key checks per row):
            # two connections on disjoint chunks go almost twice as fast. The dirty marker is set
            # before any chunk commits and cleared only after all of them did.
            with self.db.engine.begin() as conn:
                self._mark(conn, symbol, resolution, dirty_from, None)
            with ThreadPoolExecutor(max_workers=_PG_WRITERS) as pool:
                for future in [pool.submit(write_chunk, lo, hi, False, False) for lo, hi in bounds]:
                    future.result()
            with self.db.engine.begin() as conn:
                self._mark(conn, symbol, resolution, None, clear_dirty_from)
        else:
            for k, (lo, hi) in enumerate(bounds):
                write_chunk(lo, hi, k == 0, k == len(bounds) - 1)
        return n

    def _mark(
        self,
        conn: Connection,
        symbol: str,
        resolution: str,
        dirty_from: datetime | None,
        clear_from: datetime | None,
    ) -> None:
        from algotrader.db.models import SeriesState

        if dirty_from is None and clear_from is None:
            return
        table = Base.metadata.tables[SeriesState.__tablename__]
        key = {"symbol": symbol, "resolution": resolution}
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        conn.execute(
            insert(table)
            .values(**key, dirty_from=None, updated_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        if dirty_from is not None:
            current = conn.execute(
                select(table.c.dirty_from)
                .where(*(table.c[k] == v for k, v in key.items()))
                .with_for_update()
            ).scalar_one_or_none()
            if current is None or dirty_from < current:
                conn.execute(
                    table.update()
                    .where(*(table.c[k] == v for k, v in key.items()))
                    .values(dirty_from=dirty_from)
                )
        if clear_from is not None:
            conn.execute(
                table.update()
                .where(*(table.c[k] == v for k, v in key.items()), table.c.dirty_from >= clear_from)
                .values(dirty_from=None)
            )

    def _write_pg(
        self,
        conn: Connection,
        symbol: str,
        resolution: str,
        source: str,
        ts_us: np.ndarray,
        values: list[np.ndarray],
        *,
        all_new: bool,
        update_source: bool,
    ) -> None:
        payload = _pgbinary.encode_rows(
            [symbol.encode(), resolution.encode(), source.encode()], ts_us, values
        )
        raw = conn.connection.driver_connection
        names = sql.SQL(", ").join(sql.Identifier(c) for c in _ROW_COLUMNS)
        if all_new:
            try:
                copy_sql = sql.SQL("COPY market_prices ({}) FROM STDIN (FORMAT BINARY)")
                # A savepoint: a concurrent writer's rows make this fail as a whole.
                with (
                    raw.transaction(),  # type: ignore[union-attr]
                    raw.cursor() as cur,  # type: ignore[union-attr]
                    cur.copy(copy_sql.format(names)) as copy,
                ):
                    copy.write(payload)
                return
            except pg_errors.UniqueViolation:
                log.info("rows of %s %s appeared meanwhile; upserting instead", symbol, resolution)
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS _bars_in ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(_ROW_COLUMNS)} FROM market_prices WITH NO DATA"
            )
            written = ("source", *VALUE_COLUMNS) if update_source else VALUE_COLUMNS
            with cur.copy(
                sql.SQL("COPY _bars_in ({}) FROM STDIN (FORMAT BINARY)").format(names)
            ) as copy:
                copy.write(payload)
            updates = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in written
            )
            mine = sql.SQL(", ").join(
                sql.SQL("market_prices.{}").format(sql.Identifier(c)) for c in written
            )
            theirs = sql.SQL(", ").join(
                sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in written
            )
            # ORDER BY ts: concurrent writers lock rows in the same order, so they cannot deadlock.
            cur.execute(
                sql.SQL(
                    "INSERT INTO market_prices ({names}) SELECT {names} FROM _bars_in ORDER BY ts "
                    "ON CONFLICT (symbol, resolution, ts) DO UPDATE SET {updates} "
                    "WHERE ({mine}) IS DISTINCT FROM ({theirs})"
                ).format(names=names, updates=updates, mine=mine, theirs=theirs)
            )

    def _write_sqlite(
        self,
        conn: Connection,
        symbol: str,
        resolution: str,
        source: str,
        ts_us: np.ndarray,
        values: list[np.ndarray],
        *,
        update_source: bool,
    ) -> None:
        cols = ("source", *VALUE_COLUMNS) if update_source else VALUE_COLUMNS
        changed = " OR ".join(f"market_prices.{c} IS NOT excluded.{c}" for c in cols)
        statement = (
            f"INSERT INTO market_prices ({', '.join(_ROW_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_ROW_COLUMNS))}) "
            f"ON CONFLICT (symbol, resolution, ts) DO UPDATE SET "
            f"{', '.join(f'{c} = excluded.{c}' for c in cols)} WHERE {changed}"
        )
        # SQLite binds NaN as NULL, which is exactly the warm-up convention.
        rows = zip(
            *(
                [symbol] * len(ts_us),
                [resolution] * len(ts_us),
                [source] * len(ts_us),
                ts_us.tolist(),
                *(v.tolist() for v in values),
            ),
            strict=True,
        )
        conn.connection.driver_connection.executemany(statement, rows)  # type: ignore[union-attr]
