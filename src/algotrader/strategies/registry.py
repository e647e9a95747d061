"""Find strategies by name, entry point or file path.

``get_strategy(spec, **params)`` accepts, in this order:

1. a registered name (the built-ins, or anything decorated with :func:`register`);
2. an installed entry point in the group ``algotrader.strategies``
   (``[project.entry-points."algotrader.strategies"] my_strategy = "pkg.mod:MyStrategy"``);
3. ``path/to/file.py:ClassName`` (or ``path/to/file.py`` when the file holds one strategy);
4. a file ``strategies/<name>.py`` under the current directory (the seeds' layout).

A strategy class is anything with an ``on_bar`` or ``signals`` method: a :class:`Strategy`
subclass or a plain class such as the seed's ``MACrossStrategy``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from algotrader.errors import InvalidInputError
from algotrader.strategies.base import Strategy, plain_class_defaults, resolve_params

ENTRY_POINT_GROUP = "algotrader.strategies"

_BUILTIN_MODULES = (
    "ml_signal",
    "ma_cross",
    "db_ma_cross",
    "rsi",
    "bollinger",
    "macd",
    "supertrend",
    "ath_breakout",
    "streak",
    "hello_world",
)

_REGISTRY: dict[str, type] = {}
_builtins_loaded = False

T = TypeVar("T", bound=type)


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    """One row of :func:`list_strategies`."""

    name: str
    params: dict[str, Any]
    rule: str
    source: str


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a strategy available as ``--strategy name``.

    >>> @register("my_strategy")          # doctest: +SKIP
    ... class MyStrategy(Strategy): ...
    """

    def deco(cls: T) -> T:
        if not is_strategy_class(cls):
            raise TypeError(f"{cls.__name__} has neither on_bar nor signals")
        if issubclass(cls, Strategy) and not cls.__dict__.get("name"):
            cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def is_strategy_class(obj: object) -> bool:
    """True for a class with an ``on_bar`` or ``signals`` method."""
    return (
        inspect.isclass(obj)
        and (callable(getattr(obj, "on_bar", None)) or callable(getattr(obj, "signals", None)))
        and obj is not Strategy
    )


def strategy_class(spec: str | type) -> type:
    """Resolve ``spec`` (see module docs) to a strategy class."""
    if inspect.isclass(spec):
        if not is_strategy_class(spec):
            raise InvalidInputError(
                f"{spec.__name__} is not a strategy", "give it an on_bar(i, row, df) method"
            )
        return spec
    text = str(spec).strip()
    _load_builtins()
    if text in _REGISTRY:
        return _REGISTRY[text]
    loaded = _from_entry_point(text)
    if loaded is not None:
        return loaded
    if ".py" in text:
        return _from_file(text)
    local = _LOCAL_DIR / f"{text}.py"
    if local.is_file():
        return _from_file(str(local))
    names = sorted(set(_REGISTRY) | set(_entry_point_names()) | set(_local_names()))
    close = difflib.get_close_matches(text, names, n=3)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise InvalidInputError(
        f"unknown strategy {text!r}",
        f"{hint}use one of {', '.join(names)} or path/to/file.py:ClassName",
    )


def get_strategy(spec: str | type | object, **params: Any) -> Any:
    """An instance of the strategy named by ``spec`` with ``params`` (strings are coerced).

    ``spec`` may also be a class or an existing instance (returned as is when no params given).
    Unknown parameter names raise :class:`InvalidInputError` listing the valid ones.
    """
    if not isinstance(spec, (str, type)):
        if params:
            return get_strategy(type(spec), **params)
        return spec
    cls = strategy_class(spec)
    if issubclass(cls, Strategy):
        return cls(**params)
    defaults = plain_class_defaults(cls)
    return cls(**resolve_params(cls.__name__, defaults, params) if params else {})


def strategy_name(strategy: object) -> str:
    """The registry name of a strategy instance, else its class name."""
    name = getattr(strategy, "name", "")
    return name if isinstance(name, str) and name else type(strategy).__name__


def strategy_params(strategy: object) -> dict[str, Any]:
    """The parameter values of a strategy instance (plain classes: their ``__init__`` names)."""
    if isinstance(strategy, Strategy):
        return strategy.parameters
    out = {}
    for key in plain_class_defaults(type(strategy)):
        if hasattr(strategy, key):
            out[key] = getattr(strategy, key)
    return out


def list_strategies() -> list[StrategyInfo]:
    """Registered, entry-point and ``strategies/*.py`` strategies with their default params and
    one-line rules (a file that cannot be imported is listed with the reason)."""
    _load_builtins()
    out = []
    for name, cls in sorted(_REGISTRY.items()):
        out.append(_info(name, cls, "builtin" if _is_builtin(cls) else "registered"))
    for name in _entry_point_names():
        if name not in _REGISTRY:
            found = _from_entry_point(name)
            if found is not None:
                out.append(_info(name, found, "builtin" if _is_builtin(found) else "entry point"))
    listed = {info.name for info in out}
    for name in _local_names():
        if name in listed:
            continue
        path = _LOCAL_DIR / f"{name}.py"
        try:
            out.append(_info(name, _from_file(str(path)), f"file {path}"))
        except InvalidInputError as exc:
            out.append(StrategyInfo(name, {}, f"(cannot load: {exc.problem})", f"file {path}"))
    return out


_LOCAL_DIR = Path("strategies")
# Files of the seeds' `strategies/` package that hold no strategy of their own.
_NOT_STRATEGIES = frozenset({"__init__", "base"})


def _local_names() -> list[str]:
    """Strategy files in ``./strategies`` (the seeds' layout), by name."""
    if not _LOCAL_DIR.is_dir():
        return []
    return sorted(p.stem for p in _LOCAL_DIR.glob("*.py") if p.stem not in _NOT_STRATEGIES)


def _info(name: str, cls: type, source: str) -> StrategyInfo:
    if issubclass(cls, Strategy):
        params, rule = dict(cls.params), cls.rule
    else:
        params = plain_class_defaults(cls)
        rule = getattr(cls, "rule", "") or (inspect.getdoc(cls) or "").split("\n")[0]
    return StrategyInfo(name=name, params=params, rule=rule, source=source)


def _is_builtin(cls: type) -> bool:
    return cls.__module__.startswith("algotrader.")


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for mod in _BUILTIN_MODULES:
        importlib.import_module(f"algotrader.strategies.{mod}")


def _entry_point_names() -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _from_entry_point(name: str) -> type | None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            obj = ep.load()
            if not is_strategy_class(obj):
                raise InvalidInputError(
                    f"entry point {name!r} ({ep.value}) is not a strategy class",
                    "point it at a class with an on_bar method",
                )
            return obj  # type: ignore[no-any-return]
    return None


def import_user_file(spec: str, what: str) -> tuple[ModuleType, str, Path]:
    """Import the user's ``path/to/file.py`` (of ``path/to/file.py:ClassName``) as a module of its
    own; returns the module, ``ClassName`` ("" when not given) and the file's path. ``what`` names
    the file in errors ("strategy", "allocator")."""
    path_text, _, class_name = spec.partition(".py:")
    path = Path(path_text if not class_name else path_text + ".py")
    if not path.is_file():
        raise InvalidInputError(f"{what} file {str(path)!r} not found", "check the path")
    module_name = f"_algotrader_user_{what}_{path.stem}_{abs(hash(path.resolve()))}"
    file_spec = importlib.util.spec_from_file_location(module_name, path)
    if file_spec is None or file_spec.loader is None:
        raise InvalidInputError(f"cannot import {str(path)!r}", "give a .py file")
    module = importlib.util.module_from_spec(file_spec)
    # Registered before exec so dataclasses / pickling inside the file can find the module.
    sys.modules[module_name] = module
    # Seed-style files import `from strategies.base import Strategy`: make the folder that
    # holds their `strategies/` package importable, as `python -m` from the checkout would.
    root = str(path.resolve().parent.parent)
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        file_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise InvalidInputError(
            f"cannot import {str(path)!r}: {type(exc).__name__}: {exc}", "fix the file"
        ) from exc
    finally:
        if added:
            sys.path.remove(root)
    return module, class_name, path


def _from_file(spec: str) -> type:
    module, class_name, path = import_user_file(spec, "strategy")
    candidates = {
        name: obj
        for name, obj in vars(module).items()
        if is_strategy_class(obj) and obj.__module__ == module.__name__
    }
    if class_name:
        if class_name in candidates:
            return candidates[class_name]
        close = difflib.get_close_matches(class_name, list(candidates), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"no strategy class {class_name!r} in {str(path)!r}",
            f"{hint}classes found: {', '.join(candidates) or 'none'}",
        )
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    raise InvalidInputError(
        f"{str(path)!r} defines {len(candidates)} strategy classes",
        f"name one: {path}:ClassName ({', '.join(candidates) or 'none found'})",
    )
