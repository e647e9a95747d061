"""Column types that behave the same on PostgreSQL and SQLite (how each stores them is the
:class:`~algotrader.db._dialect.Dialect`'s)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from algotrader.db._dialect import dialect_named, from_epoch_us, to_epoch_us

__all__ = ["UtcTimestamp", "from_epoch_us", "to_epoch_us"]


class UtcTimestamp(TypeDecorator[datetime]):
    """A UTC instant: ``timestamptz`` on PostgreSQL, integer microseconds on SQLite.

    SQLite has no timestamp type; integers keep range queries and ordering exact and make bulk
    writes cheap (no string formatting). Values read back are always tz-aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect_named(dialect.name).integer_instants:
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect_named(dialect.name).integer_instants:
            return to_epoch_us(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect_named(dialect.name).integer_instants:
            return from_epoch_us(value)
        return value.astimezone(UTC)
