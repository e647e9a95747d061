"""The IB code stays readable: no function over ~60 lines, no class over ~300 (issue 8)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "algotrader"
PACKAGES = ("ibkr", "ibsim", "app/orders.py", "ports/orders.py")


def _modules() -> list[Path]:
    found: list[Path] = []
    for name in PACKAGES:
        path = SRC / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_functions_and_classes_stay_small(path: Path) -> None:
    too_long = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        limit = {ast.FunctionDef: 60, ast.AsyncFunctionDef: 60, ast.ClassDef: 300}.get(
            type(node)
        )
        if limit is not None:
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                too_long.append(f"{node.name}: {lines} lines (limit {limit})")
    assert too_long == []
