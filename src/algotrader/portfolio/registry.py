"""Find an allocator by name, class, instance or ``path/to/file.py:ClassName``."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from algotrader.errors import InvalidInputError
from algotrader.portfolio.allocators import _ALIASES, ALLOCATORS
from algotrader.portfolio.strategy import PortfolioStrategy
from algotrader.strategies.registry import import_user_file


def allocator_names() -> list[str]:
    """The built-in allocator names."""
    return sorted(ALLOCATORS)


def get_allocator(spec: Any, **params: Any) -> PortfolioStrategy:
    """A :class:`PortfolioStrategy` instance for ``spec`` with ``params`` (strings coerced).

    ``spec``: a built-in name (``"equal"``, ``"inverse_vol"``, ``"min_variance"``,
    ``"risk_parity"``, ``"momentum"``, ``"signals"``), a :class:`PortfolioStrategy` subclass or
    instance, or ``"path/to/file.py:ClassName"``.
    """
    if isinstance(spec, PortfolioStrategy):
        return type(spec)(**{**spec.parameters, **params}) if params else spec
    if inspect.isclass(spec) and issubclass(spec, PortfolioStrategy):
        return spec(**params)
    if not isinstance(spec, str):
        raise InvalidInputError(
            f"{spec!r} is not an allocator", "pass a name or a PortfolioStrategy subclass"
        )
    text = spec.strip()
    key = _ALIASES.get(text.lower(), text.lower())
    if key in ALLOCATORS:
        return ALLOCATORS[key](**params)
    if ".py" in text:
        return _from_file(text)(**params)
    names = allocator_names()
    close = difflib.get_close_matches(key, names + list(_ALIASES), n=1)
    hint = f"did you mean {_ALIASES.get(close[0], close[0])!r}? " if close else ""
    raise InvalidInputError(
        f"unknown allocator {text!r}", f"{hint}use one of {', '.join(names)} or file.py:Class"
    )


def _from_file(spec: str) -> type[PortfolioStrategy]:
    module, class_name, path = import_user_file(spec, "allocator")
    found = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, PortfolioStrategy)
        and obj.__module__ == module.__name__
    }
    if class_name in found or (not class_name and len(found) == 1):
        return found[class_name] if class_name else next(iter(found.values()))
    raise InvalidInputError(
        f"no PortfolioStrategy {class_name or ''} in {str(path)!r}".replace("  ", " "),
        f"classes found: {', '.join(found) or 'none'}; name one as file.py:ClassName",
    )
