"""Opening the database: URL normalisation, a clear line when it cannot be reached, and the
Alembic migrations applied on first use (under a lock, so concurrent first runs are safe)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from algotrader.config import Settings, mask_url
from algotrader.db._dialect import Dialect, dialect_of, lock_key
from algotrader.errors import DatabaseUnavailableError, InvalidInputError
from algotrader.symbols import shorten

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every algotrader process.
_MIGRATION_LOCK_KEY = lock_key("algotrader", "migrations")


@dataclass(frozen=True)
class Database:
    """An open database: the SQLAlchemy engine, its backend's :class:`Dialect`, and what users
    may be shown about it (the URL without its password)."""

    engine: Engine
    display_url: str
    dialect: Dialect = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dialect", dialect_of(self.engine))

    @property
    def backend(self) -> str:
        """The backend's name, for display ("postgresql", "sqlite"); code asks :attr:`dialect`."""
        return self.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


_URL_EXAMPLE = "use e.g. sqlite:///data/algotrader.db or postgresql+psycopg://user@host:5432/db"


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use psycopg 3 for them; refuse what
    algotrader cannot store data in (other databases, other drivers, in-memory SQLite)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        why = " (the port is not a number)" if "int()" in str(exc) else ""
        what = f"database URL {shorten(mask_url(url), 80)!r}" if "://" in url else "database URL"
        raise InvalidInputError(f"invalid {what}{why}", _URL_EXAMPLE) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    # SQLite URLs hold no password: they are shown as written
    _check_backend(parsed, url if parsed.get_backend_name() == "sqlite" else mask_url(url))
    return parsed.render_as_string(hide_password=False)


def _check_backend(parsed: URL, display: str) -> None:
    shown = shorten(display, 80)
    if parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise InvalidInputError(
            f"unsupported database URL {shown!r}: algotrader stores its data in SQLite or in "
            "PostgreSQL through psycopg 3",
            _URL_EXAMPLE,
        )
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if parsed.get_backend_name() == "sqlite" and (in_memory or "memory" in parsed.query.values()):
        raise InvalidInputError(
            f"database URL {shown!r} is an in-memory SQLite database, which loses everything "
            "when the command ends",
            "give a file, e.g. sqlite:///data/algotrader.db, or leave ALGOTRADER_DATABASE_URL "
            "unset for the default",
        )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (backtests) run while an ingest writes; NORMAL is durable at checkpoints
    # and keeps every transaction atomic, which is what "no partial chunk" needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            _make_sqlite_folder(parsed)
            engine = create_engine(url, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, connect_args={"connect_timeout": 5}, pool_pre_ping=True)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise InvalidInputError(
            f"unsupported database URL {shorten(mask_url(url), 80)!r} ({shorten(str(exc), 80)})",
            "use sqlite:///PATH or postgresql+psycopg://user@host:port/db",
        ) from None


def _make_sqlite_folder(parsed: URL) -> None:
    folder = Path(parsed.database or ".").parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        shown = shorten(str(folder), 80, keep_end=True)
        raise DatabaseUnavailableError(
            f"cannot create the folder {shown!r} for the SQLite database ({exc.strerror or exc})",
            "set --data-dir or ALGOTRADER_DATA_DIR to a writable folder",
        ) from None


def _first_line(exc: BaseException, password: str | None) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    line = lines[0] if lines else type(original).__name__
    if password:
        line = line.replace(password, "***")  # drivers may quote the connection string
    return shorten(line, 200)


def _how_to_fix(parsed: URL, problem: str) -> str:
    if parsed.get_backend_name() == "sqlite":
        return (
            "check that the database file's folder exists and can be written, or set --data-dir "
            "/ ALGOTRADER_DATA_DIR"
        )
    name = parsed.database or "NAME"
    if "does not exist" in problem and f'"{name}"' in problem:
        return (
            f"create it with `createdb {shorten(name)}` (or CREATE DATABASE in psql), or fix "
            "ALGOTRADER_DATABASE_URL / --database-url"
        )
    if "does not exist" in problem and "role" in problem:
        return (
            f"create the user with `createuser {shorten(parsed.username or 'NAME')}`, or fix the "
            "user in ALGOTRADER_DATABASE_URL / --database-url"
        )
    if "authentication failed" in problem:
        return "check the user and password in ALGOTRADER_DATABASE_URL / --database-url"
    return "start the server or fix ALGOTRADER_DATABASE_URL / --database-url"


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    script = ScriptDirectory(str(_MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str]:
    """Apply pending migrations under an exclusive lock (concurrent first runs are safe).
    Returns (revision before, revision after)."""
    with db.dialect.exclusive(db.engine, _MIGRATION_LOCK_KEY, "migrate the schema") as conn:
        before = current_revision(conn)
        head = head_revision()
        if before != head:
            command.upgrade(_alembic_config(conn), "head")
        conn.commit()
        return before, head


def _check_schema(db: Database) -> None:
    head = head_revision()
    with db.engine.connect() as conn:
        current = current_revision(conn)
    if current == head:
        return
    known = {rev.revision for rev in ScriptDirectory(str(_MIGRATIONS)).walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseUnavailableError(
            f"the database schema (revision {current}) is newer than this algotrader",
            "upgrade algotrader, or point ALGOTRADER_DATABASE_URL at another database",
        )
    before, after = upgrade(db)
    log.info("migrated %s from %s to %s", db.display_url, before, after)


def open_database(settings: Settings | str, *, migrate: bool = True) -> Database:
    """Connect (one clear line if that fails) and bring the schema to the latest revision."""
    url = normalise_url(settings if isinstance(settings, str) else settings.db_url)
    db = Database(engine=_create_engine(url), display_url=mask_url(url))
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if migrate:
            _check_schema(db)
    except (DBAPIError, UnicodeError) as exc:  # UnicodeError: a host name that cannot be encoded
        db.dispose()
        parsed = make_url(url)
        problem = _first_line(exc, parsed.password)
        raise DatabaseUnavailableError(
            f"cannot reach the database at {shorten(db.display_url, 100)} ({problem})",
            _how_to_fix(parsed, problem),
        ) from None
    return db
