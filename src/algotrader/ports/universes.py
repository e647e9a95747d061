"""Named lists of symbols (universes) that ``--universe NAME`` resolves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Universe:
    """A stored list: its (lower-case) name and its symbols in the order they were given."""

    name: str
    symbols: tuple[str, ...]
    created_at: datetime | None = None
    updated_at: datetime | None = None


class UniverseStore(Protocol):
    def save(self, name: str, symbols: tuple[str, ...], at: datetime) -> bool:
        """Create list ``name`` or replace its symbols; True when it is new."""
        ...

    def get(self, name: str) -> Universe | None: ...

    def all(self) -> list[Universe]:
        """Every stored list, by name."""
        ...

    def delete(self, name: str) -> bool:
        """Remove list ``name``; False when there was none."""
        ...
