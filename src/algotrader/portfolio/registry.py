"""Find an allocator by name, class, instance or ``path/to/file.py:ClassName``."""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from algotrader.errors import InvalidInputError
from algotrader.portfolio.allocators import _ALIASES, ALLOCATORS
from algotrader.portfolio.strategy import PortfolioStrategy


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
    path_text, _, class_name = spec.partition(".py:")
    path = Path(path_text if not class_name else path_text + ".py")
    if not path.is_file():
        raise InvalidInputError(f"allocator file {str(path)!r} not found", "check the path")
    module_name = f"_algotrader_user_allocator_{path.stem}_{abs(hash(path.resolve()))}"
    file_spec = importlib.util.spec_from_file_location(module_name, path)
    if file_spec is None or file_spec.loader is None:
        raise InvalidInputError(f"cannot import {str(path)!r}", "give a .py file")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[module_name] = module
    try:
        file_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise InvalidInputError(
            f"cannot import {str(path)!r}: {type(exc).__name__}: {exc}", "fix the file"
        ) from exc
    found = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, PortfolioStrategy)
        and obj.__module__ == module_name
    }
    if class_name in found or (not class_name and len(found) == 1):
        return found[class_name] if class_name else next(iter(found.values()))
    raise InvalidInputError(
        f"no PortfolioStrategy {class_name or ''} in {str(path)!r}".replace("  ", " "),
        f"classes found: {', '.join(found) or 'none'}; name one as file.py:ClassName",
    )
