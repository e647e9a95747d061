"""Universe use cases: named lists of symbols stored in the database, and what ``--universe``
means everywhere it is accepted.

``--universe NAME_OR_FILE``: an existing file wins (one symbol a line, ``#`` starts a comment,
commas also separate); otherwise a stored list of that name (``algotrader universe add``);
otherwise one line naming the problem, with the closest stored names. Names are lower case
(``Tech`` and ``tech`` are one list); symbols are validated like ``-s``.

>>> save_universe(settings, "tech", ["AAPL", "MSFT"])        # doctest: +SKIP
>>> resolve_universe(settings, "tech")                       # doctest: +SKIP
['AAPL', 'MSFT']
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from algotrader.app._stores import open_stores
from algotrader.config import Settings
from algotrader.db.universes import SqlUniverseStore
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.universes import Universe
from algotrader.symbols import parse_symbols, shorten

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$", re.ASCII)
_SHOWN_NAMES = 5


@dataclass(frozen=True)
class UniverseChange:
    """What ``save_universe`` did: ``created`` a new list, and how many symbols it ``added``."""

    universe: Universe
    created: bool
    added: int


def universe_name(text: str) -> str:
    """A valid list name, lower-cased: letters, digits, ``_ . -``, at most 64 characters."""
    name = str(text).strip().lower()
    if not _NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid universe name {shorten(str(text))!r}",
            "use letters, digits, _ . or -, e.g. tech or sp100",
        )
    return name


def read_universe_file(path: Path) -> list[str]:
    """Symbols from a file: one a line (``#`` starts a comment; commas also separate)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"cannot read the universe file {path} ({exc})",
            "give a UTF-8 text file with one symbol a line",
        ) from None
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return parse_symbols(",".join(lines))


def save_universe(
    settings: Settings, name: str, symbols: list[str], *, replace: bool = False
) -> UniverseChange:
    """Create list ``name`` with ``symbols``, or add them to the stored list (order kept, no
    duplicates); ``replace`` swaps the stored symbols for these."""
    key = universe_name(name)
    given = tuple(parse_symbols(",".join(symbols)))
    with open_stores(settings) as stores:
        store = SqlUniverseStore(stores.db)
        old = store.get(key)
        kept = () if old is None or replace else old.symbols
        merged = kept + tuple(s for s in given if s not in kept)
        created = store.save(key, merged, datetime.now(UTC))
        saved = store.get(key)
    assert saved is not None
    added = len(merged) - len(kept) if old is not None and not replace else len(merged)
    return UniverseChange(saved, created, added)


def list_universes(settings: Settings) -> list[Universe]:
    """Every stored list, by name."""
    with open_stores(settings) as stores:
        return SqlUniverseStore(stores.db).all()


def get_universe(settings: Settings, name: str) -> Universe:
    """Stored list ``name``; one clear line (with the closest names) when there is none."""
    key = universe_name(name)
    with open_stores(settings) as stores:
        store = SqlUniverseStore(stores.db)
        found = store.get(key)
        if found is None:
            raise DataNotFoundError(
                f"no stored universe named {key}",
                _hint(key, store) or "see `algotrader universe list`",
            )
    return found


def remove_universe(
    settings: Settings, name: str, symbols: list[str] | None = None
) -> Universe | None:
    """Remove list ``name`` (None comes back), or only ``symbols`` from it (the list as it is
    left; a list left empty is removed)."""
    found = get_universe(settings, name)
    with open_stores(settings) as stores:
        store = SqlUniverseStore(stores.db)
        if symbols is None:
            store.delete(found.name)
            return None
        drop = set(parse_symbols(",".join(symbols)))
        missing = sorted(drop - set(found.symbols))
        if missing:
            raise DataNotFoundError(
                f"{', '.join(missing)} not in universe {found.name}",
                f"see `algotrader universe show {found.name}`",
            )
        left = tuple(s for s in found.symbols if s not in drop)
        if not left:
            store.delete(found.name)
            return None
        store.save(found.name, left, datetime.now(UTC))
        return store.get(found.name)


def resolve_universe(settings: Settings, text: str) -> list[str]:
    """The symbols ``--universe TEXT`` means: the file ``TEXT`` when one exists, else the stored
    list named ``TEXT``, else one clear line."""
    path = Path(text).expanduser()
    if path.is_file():
        return read_universe_file(path)
    name = str(text).strip().lower()
    hint = ""
    if _NAME_RE.match(name):
        with open_stores(settings) as stores:
            store = SqlUniverseStore(stores.db)
            found = store.get(name)
            if found is not None:
                return list(found.symbols)
            hint = _hint(name, store)
    raise InvalidInputError(
        f"no universe file or stored list named {shorten(str(text))}",
        "give a file with one symbol a line, or save a list with "
        f"`algotrader universe add NAME SYMBOLS`{f' ({hint})' if hint else ''}",
    )


def _hint(name: str, store: SqlUniverseStore) -> str:
    names = [u.name for u in store.all()]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(close)}?"
    if names:
        more = ", ..." if len(names) > _SHOWN_NAMES else ""
        return f"stored lists: {', '.join(names[:_SHOWN_NAMES])}{more}"
    return ""
