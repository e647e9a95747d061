"""What a strategy's ``on_bar`` does with an argument, read from its bytecode.

The ``on_bar`` loop skips work a strategy provably cannot see: a row it only ever subscripts
with constant keys can be a plain dict of those keys, a timestamp it never reads need not be
built. The proof is conservative: an argument captured by a closure, a function that can reach
its own frame (``locals()``, ``vars()``, ``eval``...) or bytecode not recognised gives no answer,
and the loop does the full work.
"""

from __future__ import annotations

import dis
import inspect
from typing import Any

_INTROSPECTION = frozenset({"locals", "vars", "eval", "exec", "_getframe", "currentframe"})


def constant_subscripts(func: Any, position: int) -> list[str] | None:
    """The keys of ``arg["<constant>"]`` when that is all ``func`` does with its argument at
    ``position``, in order of first appearance; None when it does anything else with it."""
    found = _uses(func, position)
    if found is None:
        return None
    ops, at = found
    keys: list[str] = []
    for j in at:
        nxt = ops[j + 1 : j + 3]
        if not (
            ops[j].opname == "LOAD_FAST"
            and [op.opname for op in nxt] == ["LOAD_CONST", "BINARY_SUBSCR"]
            and isinstance(nxt[0].argval, str)
        ):
            return None
        keys.append(nxt[0].argval)
    return list(dict.fromkeys(keys))


def never_read(func: Any, position: int) -> bool:
    """Whether ``func`` provably never touches its argument at ``position``."""
    found = _uses(func, position)
    return found is not None and not found[1]


def _uses(func: Any, position: int) -> tuple[list[dis.Instruction], list[int]] | None:
    # The function's instructions and the indices of those naming the argument's local.
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is None or _INTROSPECTION & set(code.co_names):
        return None
    try:
        names = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None
    if position >= len(names) or names[position] in code.co_cellvars:
        return None
    name = names[position]
    ops = list(dis.get_instructions(code))
    at = [
        j
        for j, op in enumerate(ops)
        if op.opcode in dis.haslocal
        and (op.argval == name or (isinstance(op.argval, tuple) and name in op.argval))
    ]
    return ops, at
