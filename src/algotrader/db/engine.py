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
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from algotrader.config import Settings, mask_url
from algotrader.db._dialect import Dialect, dialect_of, lock_key
from algotrader.errors import DatabaseUnavailableError, InvalidInputError

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
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use psycopg 3 for them."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInputError(
            f"invalid database URL {mask_url(url)!r}",
            "use e.g. sqlite:///data/algotrader.db or postgresql+psycopg://user@host:5432/db",
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


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
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        if parsed.get_backend_name() == "postgresql":
            return create_engine(url, connect_args={"connect_timeout": 5}, pool_pre_ping=True)
        return create_engine(url)
    except (NoSuchModuleError, ArgumentError) as exc:
        raise InvalidInputError(
            f"unsupported database URL {mask_url(url)!r} ({exc})",
            "use sqlite:///PATH or postgresql+psycopg://user@host:port/db",
        ) from None


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


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
    except DBAPIError as exc:
        db.dispose()
        raise DatabaseUnavailableError(
            f"cannot reach the database at {db.display_url} ({_first_line(exc)})",
            "start the server or fix ALGOTRADER_DATABASE_URL / --database-url",
        ) from None
    return db
