"""What a strategy's ``on_bar`` does with an argument, read from its bytecode.

The ``on_bar`` loop skips work a strategy provably cannot see: a row it only ever subscripts
with constant keys can be a plain dict of those keys, a timestamp it never reads need not be
built. The proof is conservative: an argument captured by a closure, a wrapped (decorated) function,
one that names a way to reach its own frame (``locals()``, ``vars()``, ``eval``, pandas'
``query``/``eval`` with ``@name``, ``sys._getframe``, ``inspect``'s frames, a debugger) or bytecode
not recognised gives no answer, and the loop does the full work. (A helper that reads its
caller's frame by itself cannot be seen from here.)
"""

from __future__ import annotations

import dis
from typing import Any

_INTROSPECTION = frozenset({
    "locals", "vars", "eval", "exec", "query", "_getframe", "currentframe", "stack",
    "getouterframes", "f_back", "f_locals", "tb_frame", "breakpoint", "set_trace",
})


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
    function = getattr(func, "__func__", func)
    code = getattr(function, "__code__", None)
    if (
        code is None
        or hasattr(function, "__wrapped__")
        or _INTROSPECTION & set(code.co_names)
    ):
        return None
    # The code's own parameters (not inspect.signature's, which a wrapper can redirect), after
    # the instance of a bound method.
    names = code.co_varnames[: code.co_argcount][1 if hasattr(func, "__self__") else 0 :]
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
