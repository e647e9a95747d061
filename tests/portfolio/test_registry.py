"""Allocators from a user's file: ``path/to/file.py`` or ``path/to/file.py:ClassName``."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.errors import UserError
from algotrader.portfolio import PortfolioStrategy, get_allocator

SOURCE = '''
from algotrader.portfolio import PortfolioStrategy


class FirstOnly(PortfolioStrategy):
    def rebalance(self, date, view, portfolio):
        return {sorted(view.listed)[0]: 1.0}
'''


def test_an_allocator_file_gives_its_class(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(SOURCE, encoding="utf-8")

    for spec in (str(path), f"{path}:FirstOnly"):
        allocator = get_allocator(spec)
        assert isinstance(allocator, PortfolioStrategy)
        assert type(allocator).__name__ == "FirstOnly"


def test_a_missing_class_or_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(SOURCE, encoding="utf-8")

    with pytest.raises(UserError, match="no PortfolioStrategy Nope"):
        get_allocator(f"{path}:Nope")
    with pytest.raises(UserError, match=r"allocator file .* not found"):
        get_allocator(str(tmp_path / "absent.py"))
