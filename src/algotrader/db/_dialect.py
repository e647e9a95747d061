"""Everything that differs between PostgreSQL and SQLite, in one place.

The stores call a :class:`Dialect` and never ask which backend they run on:

* bulk reads: PostgreSQL binary ``COPY ... TO STDOUT`` decoded with numpy; SQLite's raw cursor;
* bulk writes: PostgreSQL binary ``COPY`` (straight into the table when the rows are new, else
  through a temporary table and ``INSERT .. ON CONFLICT .. DO UPDATE .. WHERE IS DISTINCT FROM``);
  SQLite ``executemany`` with ``ON CONFLICT``;
* exclusive locks: a PostgreSQL session-level advisory lock (per key, so writers of different
  series run side by side); SQLite's single write lock (``BEGIN IMMEDIATE``);
* ``INSERT .. ON CONFLICT`` constructs and the server version string;
* how instants are stored (``timestamptz``; SQLite has no timestamp type, so integer microseconds
  since the epoch: :func:`to_epoch_us`) and how Alembic alters a table (SQLite: batch mode);
* the read model's SQL: read-only sessions, numbers and values inside JSON columns (``->`` and
  ``->>`` on PostgreSQL, ``json_type``/``json_extract`` on SQLite) and the gaps of a stored series;
* what only PostgreSQL can hold (the job queue).

Everything outside this module asks a :class:`Dialect` (:func:`dialect_of` an engine, or
:func:`dialect_named` a SQLAlchemy dialect name) instead of comparing backend names;
``tests/test_architecture.py`` keeps it that way. Only :mod:`algotrader.db.engine` looks at URLs,
before an engine exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from psycopg import errors as pg_errors
from psycopg import sql
from sqlalchemy import ColumnElement, Float, Table, and_, case, func, literal, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from algotrader.db import _pgbinary
from algotrader.errors import DatabaseUnavailableError
from algotrader.frames import INDEX_NAME, empty_bars

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOAT = Float(precision=53)

# The columns of one market_prices row, in the order both write paths send them.
ROW_KEY_COLUMNS = ("symbol", "resolution", "source", "ts")


def lock_key(*parts: str) -> tuple[int, int]:
    """Two signed 32-bit integers naming ``parts`` (PostgreSQL's two-key advisory locks)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(
        digest[4:8], "big", signed=True
    )


def to_epoch_us(value: datetime) -> int:
    """Microseconds since the Unix epoch (a naive datetime is taken as UTC): how SQLite stores an
    instant."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(value: int) -> datetime:
    """The UTC instant ``value`` microseconds after the Unix epoch (the inverse of
    :func:`to_epoch_us`)."""
    return _EPOCH + timedelta(microseconds=int(value))


def index_from_us(values: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        pd.to_datetime(np.asarray(values, dtype=np.int64), unit="us", utc=True), name=INDEX_NAME
    )


# The gaps of one series: a window over its bars; {delta} is the distance to the previous bar
# (in the backend's unit) and {same_day} whether both fall on one UTC day.
_GAPS_SQL = (
    "SELECT count(*), max(d) FROM (SELECT {delta} AS d, {same_day} AS same "
    "FROM market_prices WHERE symbol = :s AND resolution = :r WINDOW w AS (ORDER BY ts)) t "
    "WHERE d > :long OR (:intraday AND same AND d > :step)"
)


def _count_gaps(
    conn: Connection, sql: str, unit: float, where: tuple[str, str], step: int, long: int
) -> tuple[int, float | None]:
    """Run a :data:`_GAPS_SQL` whose distances are in ``unit`` per second."""
    count, largest = conn.execute(
        text(sql),
        {
            "s": where[0],
            "r": where[1],
            "long": long * unit,
            "intraday": step < 86_400,
            "step": step * unit,
        },
    ).one()
    return int(count), (float(largest) / unit if largest is not None else None)


def _empty(columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return empty_bars().reindex(columns=list(columns)), np.zeros(0, dtype=bool)


class Dialect:
    """What the stores, the read model, the column types and the migrations need from a backend
    (see the module docstring). Subclasses hold no state."""

    name = ""
    #: Connections a large bulk write may use at once.
    parallel_writers = 1

    def insert(self, table: Table) -> Any:
        raise NotImplementedError

    def server_version(self, conn: Connection) -> str:
        raise NotImplementedError

    @contextlib.contextmanager
    def exclusive(self, engine: Engine, key: tuple[int, int], what: str) -> Iterator[Connection]:
        """A connection holding the exclusive lock ``key`` until the block ends."""
        raise NotImplementedError
        yield

    @property
    def lock_covers_writes(self) -> bool:
        """True when every write under :meth:`exclusive` must use the locking connection."""
        return False

    def read_bars(
        self,
        conn: Connection,
        where: dict[str, Any],
        columns: Sequence[str],
        source: str | None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Rows of ``market_prices`` matching ``where`` (symbol, resolution, start, end) ordered
        by ts, NULL as NaN; plus, when ``source`` is given, a mask of the rows from it."""
        raise NotImplementedError

    def write_bars(
        self,
        conn: Connection,
        texts: tuple[str, str, str],
        ts_us: np.ndarray,
        values: list[np.ndarray],
        value_columns: Sequence[str],
        *,
        all_new: bool,
        update_source: bool,
    ) -> None:
        """Upsert rows ``(symbol, resolution, source, ts, *values)`` in ``conn``'s transaction."""
        raise NotImplementedError

    # ---------------------------------------------------------------- storage and schema

    @property
    def integer_instants(self) -> bool:
        """True when instants are stored as integer microseconds (:func:`to_epoch_us`) rather
        than as ``timestamptz``; :class:`~algotrader.db.types.UtcTimestamp` converts."""
        return False

    @property
    def alters_by_batch(self) -> bool:
        """True when Alembic must alter a table by copying it (its "batch mode")."""
        return False

    @property
    def holds_job_queue(self) -> bool:
        """True when procrastinate can keep the job queue here (it needs PostgreSQL)."""
        return False

    # ---------------------------------------------------------------- the read model

    def refuse_writes(self, dbapi_connection: Any) -> None:
        """Make a new DB-API connection read-only (the dashboard's and reports' connections),
        so that no query of the read model can change the database."""
        raise NotImplementedError

    def json_number(self, column: Any, key: str) -> ColumnElement[Any]:
        """The number under ``key`` of a JSON object column as a float; NULL when the key is
        absent or holds anything but a number (a string, a boolean, null)."""
        raise NotImplementedError

    def json_known_number(self, column: Any, key: str) -> ColumnElement[Any]:
        """The value under ``key`` of a JSON column whose values are all numbers or null (the
        runs' metrics) as a float: one extraction per row, no type check."""
        raise NotImplementedError

    def json_equals(self, column: Any, key: str, value: str | bool) -> ColumnElement[bool]:
        """True where the JSON value under ``key`` is ``value`` with its JSON type: the string
        ``"true"`` does not equal the boolean ``true``, nor ``"1"`` the number 1."""
        raise NotImplementedError

    def count_gaps(
        self, conn: Connection, symbol: str, resolution: str, *, step: int, long: int
    ) -> tuple[int, float | None]:
        """(number of gaps, the largest in seconds or None) in the stored bars of one series.

        A gap is two consecutive bars more than ``long`` seconds apart, or, for intraday bars
        (``step`` below a day), more than ``step`` seconds apart within one UTC day.
        """
        raise NotImplementedError


class _Postgres(Dialect):
    name = "postgresql"
    # A PostgreSQL backend is CPU-bound on COPY (index and foreign-key checks per row): two
    # connections on disjoint chunks go almost twice as fast.
    parallel_writers = 2

    def insert(self, table: Table) -> Any:
        return pg_insert(table)

    def server_version(self, conn: Connection) -> str:
        return "PostgreSQL " + str(conn.execute(text("SHOW server_version")).scalar())

    @property
    def holds_job_queue(self) -> bool:
        return True

    def refuse_writes(self, dbapi_connection: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        dbapi_connection.commit()

    def json_number(self, column: Any, key: str) -> ColumnElement[Any]:
        return case(
            (
                func.json_typeof(column.op("->")(literal(key))) == "number",
                func.cast(column.op("->>")(literal(key)), type_=_FLOAT),
            ),
            else_=None,
        )

    def json_known_number(self, column: Any, key: str) -> ColumnElement[Any]:
        return func.cast(column.op("->>")(literal(key)), type_=_FLOAT)

    def json_equals(self, column: Any, key: str, value: str | bool) -> ColumnElement[bool]:
        kind = "boolean" if isinstance(value, bool) else "string"
        wanted = str(value).lower() if isinstance(value, bool) else value
        return and_(
            func.json_typeof(column.op("->")(literal(key))) == kind,
            column.op("->>")(literal(key)) == wanted,
        )

    def count_gaps(
        self, conn: Connection, symbol: str, resolution: str, *, step: int, long: int
    ) -> tuple[int, float | None]:
        sql = _GAPS_SQL.format(
            delta="extract(epoch FROM ts - lag(ts) OVER w)",
            same_day="(ts AT TIME ZONE 'UTC')::date = (lag(ts) OVER w AT TIME ZONE 'UTC')::date",
        )
        return _count_gaps(conn, sql, 1.0, (symbol, resolution), step, long)

    @contextlib.contextmanager
    def exclusive(self, engine: Engine, key: tuple[int, int], what: str) -> Iterator[Connection]:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:a, :b)"), {"a": key[0], "b": key[1]})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": key[0], "b": key[1]})
                conn.commit()

    def read_bars(
        self,
        conn: Connection,
        where: dict[str, Any],
        columns: Sequence[str],
        source: str | None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        # NaN stands in for NULL so every row has the same binary layout (decoded by numpy).
        selected = [
            sql.SQL("coalesce({}, 'NaN'::float8)").format(sql.Identifier(c)) for c in columns
        ]
        if source is not None:
            selected.append(sql.SQL("(source = {})").format(sql.Literal(source)))
        conditions = [
            sql.SQL("symbol = {}").format(sql.Literal(where["symbol"])),
            sql.SQL("resolution = {}").format(sql.Literal(where["resolution"])),
        ]
        if where.get("start") is not None:
            conditions.append(sql.SQL("ts >= {}").format(sql.Literal(where["start"])))
        if where.get("end") is not None:
            conditions.append(sql.SQL("ts < {}").format(sql.Literal(where["end"])))
        query = sql.SQL(
            "COPY (SELECT ts, {} FROM market_prices WHERE {} ORDER BY ts) TO STDOUT (FORMAT BINARY)"
        ).format(sql.SQL(", ").join(selected), sql.SQL(" AND ").join(conditions))
        buffer = bytearray()
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(query) as copy:  # type: ignore[union-attr]
            for block in copy:
                buffer += block
        if not buffer:
            return _empty(columns)
        decoded = _pgbinary.decode_fixed(buffer, len(columns), 1 if source is not None else 0)
        frame = pd.DataFrame(
            {c: decoded[f"v{j}"] for j, c in enumerate(columns)},
            index=index_from_us(decoded["ts"]),
        )
        same = decoded["b0"] if source is not None else np.zeros(0, dtype=bool)
        return frame, same

    def write_bars(
        self,
        conn: Connection,
        texts: tuple[str, str, str],
        ts_us: np.ndarray,
        values: list[np.ndarray],
        value_columns: Sequence[str],
        *,
        all_new: bool,
        update_source: bool,
    ) -> None:
        payload = _pgbinary.encode_rows([t.encode() for t in texts], ts_us, values)
        raw = conn.connection.driver_connection
        columns = (*ROW_KEY_COLUMNS, *value_columns)
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        if all_new and self._copy_new(raw, names, payload):
            return
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS _bars_in ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(columns)} FROM market_prices WITH NO DATA"
            )
            with cur.copy(
                sql.SQL("COPY _bars_in ({}) FROM STDIN (FORMAT BINARY)").format(names)
            ) as copy:
                copy.write(payload)
            written = ("source", *value_columns) if update_source else tuple(value_columns)
            cur.execute(_pg_upsert(names, written))

    @staticmethod
    def _copy_new(raw: Any, names: sql.Composable, payload: bytes) -> bool:
        """COPY straight into the table; False when a concurrent writer's rows are there."""
        try:
            copy_sql = sql.SQL("COPY market_prices ({}) FROM STDIN (FORMAT BINARY)")
            # A savepoint: rows that appeared meanwhile make this fail as a whole.
            with raw.transaction(), raw.cursor() as cur, cur.copy(copy_sql.format(names)) as copy:
                copy.write(payload)
            return True
        except pg_errors.UniqueViolation:
            log.info("rows appeared meanwhile; upserting instead")
            return False


def _pg_upsert(names: sql.Composable, written: Sequence[str]) -> sql.Composable:
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in written
    )
    mine = sql.SQL(", ").join(
        sql.SQL("market_prices.{}").format(sql.Identifier(c)) for c in written
    )
    theirs = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in written)
    # ORDER BY ts: concurrent writers lock rows in the same order, so they cannot deadlock.
    return sql.SQL(
        "INSERT INTO market_prices ({names}) SELECT {names} FROM _bars_in ORDER BY ts "
        "ON CONFLICT (symbol, resolution, ts) DO UPDATE SET {updates} "
        "WHERE ({mine}) IS DISTINCT FROM ({theirs})"
    ).format(names=names, updates=updates, mine=mine, theirs=theirs)


class _Sqlite(Dialect):
    name = "sqlite"

    def insert(self, table: Table) -> Any:
        return sqlite_insert(table)

    def server_version(self, conn: Connection) -> str:
        return "SQLite " + str(conn.execute(text("SELECT sqlite_version()")).scalar())

    @property
    def integer_instants(self) -> bool:
        return True

    @property
    def alters_by_batch(self) -> bool:
        # SQLite's ALTER TABLE cannot change a column or a constraint.
        return True

    def refuse_writes(self, dbapi_connection: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    def json_number(self, column: Any, key: str) -> ColumnElement[Any]:
        path = literal(f'$."{key}"')
        return case(
            (
                func.json_type(column, path).in_(("integer", "real")),
                func.json_extract(column, path),
            ),
            else_=None,
        )

    def json_known_number(self, column: Any, key: str) -> ColumnElement[Any]:
        return func.json_extract(column, literal(f'$."{key}"'))

    def json_equals(self, column: Any, key: str, value: str | bool) -> ColumnElement[bool]:
        path = literal(f'$."{key}"')
        if isinstance(value, bool):
            return func.json_type(column, path) == ("true" if value else "false")
        return and_(
            func.json_type(column, path) == "text", func.json_extract(column, path) == value
        )

    def count_gaps(
        self, conn: Connection, symbol: str, resolution: str, *, step: int, long: int
    ) -> tuple[int, float | None]:
        # Instants are integer microseconds; a UTC day is 86,400,000,000 of them.
        sql = _GAPS_SQL.format(
            delta="ts - lag(ts) OVER w",
            same_day="ts / 86400000000 = lag(ts) OVER w / 86400000000",
        )
        return _count_gaps(conn, sql, 1e6, (symbol, resolution), step, long)

    @property
    def lock_covers_writes(self) -> bool:
        # SQLite has one write lock for the whole file: a second connection would wait for it.
        return True

    @contextlib.contextmanager
    def exclusive(self, engine: Engine, key: tuple[int, int], what: str) -> Iterator[Connection]:
        with engine.connect() as conn:
            try:
                # BEGIN IMMEDIATE takes the write lock now (waiting up to busy_timeout), so a
                # read-compute-write cannot interleave with another writer's.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError:
                raise DatabaseUnavailableError(
                    f"the SQLite database stayed locked by another writer while waiting to {what}",
                    "retry when the other algotrader process has finished",
                ) from None
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def read_bars(
        self,
        conn: Connection,
        where: dict[str, Any],
        columns: Sequence[str],
        source: str | None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        query = f"SELECT ts, {', '.join(columns)}"
        params: list[Any] = []
        if source is not None:
            query += ", source = ?"
            params.append(source)
        query += " FROM market_prices WHERE symbol = ? AND resolution = ?"
        params += [where["symbol"], where["resolution"]]
        if where.get("start") is not None:
            query += " AND ts >= ?"
            params.append(to_epoch_us(where["start"]))
        if where.get("end") is not None:
            query += " AND ts < ?"
            params.append(to_epoch_us(where["end"]))
        # The raw cursor: SQLAlchemy's Row objects cost more than the query itself here.
        raw = conn.connection.driver_connection
        rows = raw.execute(query + " ORDER BY ts", tuple(params)).fetchall()  # type: ignore[union-attr]
        if not rows:
            return _empty(columns)
        # One conversion of every row: NULL (None) becomes NaN; epoch microseconds stay exact in
        # float64 (they are far below 2**53).
        table = np.array(rows, dtype=np.float64)
        del rows
        values = table[:, 1:]
        frame = pd.DataFrame(
            {c: values[:, j] for j, c in enumerate(columns)},
            index=index_from_us(table[:, 0].astype(np.int64)),
        )
        same = values[:, len(columns)] == 1.0 if source is not None else np.zeros(0, dtype=bool)
        return frame, same

    def write_bars(
        self,
        conn: Connection,
        texts: tuple[str, str, str],
        ts_us: np.ndarray,
        values: list[np.ndarray],
        value_columns: Sequence[str],
        *,
        all_new: bool,
        update_source: bool,
    ) -> None:
        columns = (*ROW_KEY_COLUMNS, *value_columns)
        written = ("source", *value_columns) if update_source else tuple(value_columns)
        changed = " OR ".join(f"market_prices.{c} IS NOT excluded.{c}" for c in written)
        statement = (
            f"INSERT INTO market_prices ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT (symbol, resolution, ts) DO UPDATE SET "
            f"{', '.join(f'{c} = excluded.{c}' for c in written)} WHERE {changed}"
        )
        n = len(ts_us)
        # SQLite binds NaN as NULL, which is exactly the warm-up convention.
        rows = zip(
            [texts[0]] * n,
            [texts[1]] * n,
            [texts[2]] * n,
            ts_us.tolist(),
            *(v.tolist() for v in values),
            strict=True,
        )
        conn.connection.driver_connection.executemany(statement, rows)  # type: ignore[union-attr]


_POSTGRES = _Postgres()
_SQLITE = _Sqlite()


def dialect_named(name: str) -> Dialect:
    """The :class:`Dialect` of the SQLAlchemy dialect ``name`` (``engine.dialect.name``): for
    code handed a SQLAlchemy dialect or connection rather than an engine (column types,
    Alembic's environment). Dialects hold no state, so one of each is shared."""
    return _POSTGRES if name == "postgresql" else _SQLITE


def dialect_of(engine: Engine) -> Dialect:
    """The :class:`Dialect` of ``engine``'s backend."""
    return dialect_named(engine.dialect.name)
