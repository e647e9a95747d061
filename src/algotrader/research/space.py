"""Parameter spaces: which values of which strategy parameters a study evaluates.

A space is a tuple of named value lists; the grid is their cartesian product in the order the
parameters were given (the last parameter varies fastest), so point ids are stable.

>>> space = parse_grid(["fast=5:20:5", "slow=30,60"])
>>> space.names, space.values("fast"), space.size
(('fast', 'slow'), (5, 10, 15, 20), 8)
>>> space.points()[:2]
[{'fast': 5, 'slow': 30}, {'fast': 5, 'slow': 60}]
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from algotrader.errors import InvalidInputError

ParamValue = int | float | str | bool
"""One value a parameter can take."""

MAX_GRID_POINTS = 1_000_000
"""Largest grid accepted (a typo like ``fast=1:100000:1`` should not eat the machine)."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Param:
    """One dimension of a space: a parameter name and its candidate values (in order)."""

    name: str
    values: tuple[ParamValue, ...]

    @property
    def is_numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    @property
    def is_ordered(self) -> bool:
        """True for numbers in strictly increasing order (model-based search can exploit it)."""
        vals = self.values
        return self.is_numeric and all(a < b for a, b in itertools.pairwise(vals))  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class ParamSpace:
    """The parameters a study varies. Build it with :func:`parse_grid` or :func:`space_from`."""

    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidInputError(
                f"parameter {dupes[0]!r} is given twice", "give each parameter once"
            )
        if self.size > MAX_GRID_POINTS:
            raise InvalidInputError(
                f"the grid has {self.size:,} points (more than {MAX_GRID_POINTS:,})",
                "use coarser steps or --method optuna with --trials",
            )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def size(self) -> int:
        return math.prod(len(p.values) for p in self.params)

    def values(self, name: str) -> tuple[ParamValue, ...]:
        for p in self.params:
            if p.name == name:
                return p.values
        raise _unknown(name, self.names, "parameter of the space")

    def points(self) -> list[dict[str, ParamValue]]:
        """Every grid point as a dict, last parameter varying fastest."""
        names = self.names
        return [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(p.values for p in self.params))
        ]

    def to_dict(self) -> dict[str, list[ParamValue]]:
        return {p.name: list(p.values) for p in self.params}


def parse_grid(specs: Iterable[str]) -> ParamSpace:
    """Parse ``--grid`` specs: ``name=start:stop:step`` (inclusive) or ``name=v1,v2,...``.

    Integers stay integers (``fast=5:50:5``); decimals give floats computed exactly
    (``x=0.1:0.3:0.1`` is ``0.1, 0.2, 0.3``); a list may hold numbers, ``true``/``false`` or words.
    """
    params = [_parse_one(str(spec)) for spec in specs]
    if not params:
        raise InvalidInputError("no parameters to vary", "add --grid NAME=START:STOP:STEP")
    return ParamSpace(tuple(params))


def space_from(values: Mapping[str, Any]) -> ParamSpace:
    """A space from Python values: ``fast=range(5, 51, 5)``, ``slow=[20, 50]``, ``"5:50:5"``."""
    params = []
    for name, given in values.items():
        _check_name(name)
        if isinstance(given, str):
            params.append(_parse_one(f"{name}={given}"))
            continue
        if isinstance(given, (int, float, bool)):
            candidates: Sequence[Any] = [given]
        else:
            try:
                candidates = list(given)
            except TypeError:
                raise InvalidInputError(
                    f"cannot vary {name!r} over {given!r}", "give a range, a list or one value"
                ) from None
        params.append(Param(name, _checked_values(name, [_python_value(v) for v in candidates])))
    if not params:
        raise InvalidInputError(
            "no parameters to vary", "pass them as keywords, e.g. fast=range(5, 51, 5)"
        )
    return ParamSpace(tuple(params))


def check_names(names: Sequence[str], valid: Sequence[str], owner: str) -> None:
    """Refuse a parameter name the strategy does not have (with a did-you-mean)."""
    for name in names:
        if name not in valid:
            raise _unknown(name, tuple(valid), f"parameter of {owner}")


def _parse_one(spec: str) -> Param:
    name, sep, body = spec.partition("=")
    name, body = name.strip(), body.strip()
    if not sep or not name or not body:
        raise InvalidInputError(
            f"invalid grid {spec!r}", "use NAME=START:STOP:STEP (e.g. fast=5:50:5) or NAME=5,10,20"
        )
    _check_name(name)
    if ":" in body:
        return Param(name, _checked_values(name, _parse_range(name, body)))
    items = [item.strip() for item in body.split(",")]
    if any(not item for item in items):
        raise InvalidInputError(
            f"invalid grid {spec!r}: empty list item", "use comma-separated values: NAME=5,10,20"
        )
    return Param(name, _checked_values(name, [_parse_scalar(item) for item in items]))


def _parse_range(name: str, body: str) -> list[ParamValue]:
    parts = [p.strip() for p in body.split(":")]
    if len(parts) != 3:
        raise InvalidInputError(
            f"invalid range {name}={body}", "use NAME=START:STOP:STEP with an inclusive STOP"
        )
    try:
        start, stop, step = (Decimal(p) for p in parts)
    except InvalidOperation:
        raise InvalidInputError(
            f"invalid range {name}={body}: not numbers", "use numbers, e.g. fast=5:50:5"
        ) from None
    if not all(d.is_finite() for d in (start, stop, step)):
        raise InvalidInputError(f"invalid range {name}={body}", "use finite numbers")
    if step <= 0:
        raise InvalidInputError(f"invalid range {name}={body}: step must be > 0", "e.g. 5:50:5")
    if stop < start:
        raise InvalidInputError(
            f"invalid range {name}={body}: stop is below start", "use START <= STOP"
        )
    count = int((stop - start) // step) + 1
    if count > MAX_GRID_POINTS:
        raise InvalidInputError(
            f"range {name}={body} has {count:,} values", "use a larger step"
        )
    integral = all(d == d.to_integral_value() for d in (start, step))
    values = [start + k * step for k in range(count)]
    return [int(v) if integral else float(v) for v in values]


def _parse_scalar(text: str) -> ParamValue:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        raise InvalidInputError(f"invalid value {text!r}", "use finite numbers")
    if number == number.to_integral_value() and "." not in text and "e" not in low:
        return int(number)
    return float(number)


def _python_value(value: Any) -> ParamValue:
    # numpy scalars (np.int64 from np.arange) become plain Python values: JSON and hashing.
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise InvalidInputError(
        f"unsupported parameter value {value!r}", "use numbers, booleans or strings"
    )


def _checked_values(name: str, values: list[ParamValue]) -> tuple[ParamValue, ...]:
    if not values:
        raise InvalidInputError(f"no values for {name!r}", "give at least one value")
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidInputError(f"invalid value {v!r} for {name!r}", "use finite numbers")
    seen: set[tuple[type, ParamValue]] = set()
    for v in values:
        key = (type(v), v)
        if key in seen:
            raise InvalidInputError(f"value {v!r} of {name!r} is listed twice", "list it once")
        seen.add(key)
    return tuple(values)


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid parameter name {name!r}", "use letters, digits and underscores"
        )


def _unknown(name: str, valid: Sequence[str], what: str) -> InvalidInputError:
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return InvalidInputError(
        f"unknown {what} {name!r}", f"{hint}valid: {', '.join(valid) or 'none'}"
    )
