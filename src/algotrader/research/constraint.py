"""Constraints on parameter combinations, written as safe expressions: ``"fast < slow"``.

The text is parsed with :mod:`ast` and evaluated by walking the tree: only the space's parameter
names, numbers, ``True``/``False``, comparisons, ``and``/``or``/``not`` and arithmetic
(``+ - * / // % **``) are allowed. Nothing is passed to ``eval``, so a constraint cannot call a
function, read an attribute or import anything.

>>> c = Constraint.parse("fast < slow and slow - fast >= 10", ("fast", "slow"))
>>> c({"fast": 5, "slow": 20}), c({"fast": 15, "slow": 20})
(True, False)
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from algotrader.errors import InvalidInputError

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_MAX_TEXT = 500
_MAX_POWER = 64


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed constraint. Call it with a point (``{"fast": 5, "slow": 20}``) to test it."""

    text: str
    names: tuple[str, ...]
    _tree: ast.Expression

    @classmethod
    def parse(cls, text: str, names: Sequence[str]) -> Constraint:
        """Parse and validate ``text`` against the parameter ``names`` of the space."""
        source = str(text).strip()
        if not source:
            raise InvalidInputError("empty constraint", 'write one like "fast < slow"')
        if len(source) > _MAX_TEXT:
            raise InvalidInputError("constraint too long", f"keep it under {_MAX_TEXT} characters")
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise InvalidInputError(
                f"invalid constraint {source!r}: {exc.msg}", 'write one like "fast < slow"'
            ) from None
        _validate(tree.body, source, tuple(names))
        return cls(source, tuple(names), tree)

    def __call__(self, point: Mapping[str, Any]) -> bool:
        try:
            return bool(_eval(self._tree.body, point))
        except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"constraint {self.text!r} fails on {dict(point)}: {exc}",
                "guard the expression (e.g. avoid dividing by a parameter that can be 0)",
            ) from None

    def __reduce__(self) -> tuple[Any, ...]:
        # ast trees pickle poorly across versions: ship the text and re-parse.
        return (Constraint.parse, (self.text, self.names))


def _validate(node: ast.AST, source: str, names: tuple[str, ...]) -> None:
    if isinstance(node, ast.Name):
        if node.id not in names:
            close = difflib.get_close_matches(node.id, list(names), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"constraint {source!r} uses unknown name {node.id!r}",
                f"{hint}use the grid's parameters: {', '.join(names)}",
            )
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, complex):
            return
        raise _refuse(source, f"the constant {node.value!r}")
    if isinstance(node, ast.BoolOp) and isinstance(node.op, (ast.And, ast.Or)):
        for value in node.values:
            _validate(value, source, names)
        return
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _validate(node.operand, source, names)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _validate(node.left, source, names)
        _validate(node.right, source, names)
        return
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        _validate(node.left, source, names)
        for comparator in node.comparators:
            _validate(comparator, source, names)
        return
    raise _refuse(source, type(node).__name__.lower())


def _refuse(source: str, what: str) -> InvalidInputError:
    return InvalidInputError(
        f"constraint {source!r} uses {what}, which is not allowed",
        "use parameter names, numbers, comparisons, and/or/not and + - * / // % **",
    )


def _eval(node: ast.AST, point: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return point[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, point) for v in node.values)
        return any(_eval(v, point) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, point))
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, point), _eval(node.right, point)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
            raise ValueError(f"exponent {right} too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, point)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, point)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise TypeError(f"unexpected node {type(node).__name__}")  # _validate rules this out
