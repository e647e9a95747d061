from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from algotrader.backtest.engine import run_backtest
from algotrader.errors import InvalidInputError
from algotrader.strategies import Strategy, get_strategy, list_strategies, register

BUILTINS = {
    "ma_cross", "db_ma_cross", "rsi", "bollinger", "macd", "supertrend", "ath_breakout",
    "streak", "hello_world",
}


def test_list_strategies_shows_builtins_with_params_and_rules() -> None:
    infos = {info.name: info for info in list_strategies()}
    assert set(infos) >= BUILTINS
    assert infos["ma_cross"].params == {"fast": 20, "slow": 50}
    assert all(infos[name].rule for name in BUILTINS)


def test_unknown_strategy_suggests_the_closest_name() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'ma_cross'"):
        get_strategy("ma_cros")


def test_unknown_parameter_suggests_and_lists_valid_names() -> None:
    expected = r"did you mean 'fast'.*valid parameters: fast, slow"
    with pytest.raises(InvalidInputError, match=expected):
        get_strategy("ma_cross", fats=10)


def test_string_parameters_are_coerced_to_the_default_type() -> None:
    assert get_strategy("rsi", lower="25").lower == 25.0


def test_uncoercible_parameter_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="invalid value 'ten' for parameter 'fast'"):
        get_strategy("ma_cross", fast="ten")


def test_invalid_parameter_combination_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="fast < slow"):
        get_strategy("ma_cross", fast=50, slow=20)


def test_register_decorator_makes_a_strategy_resolvable() -> None:
    @register("test_always_buy")
    class AlwaysBuy(Strategy):
        rule = "always BUY"

        def on_bar(self, i: int, row: Any, df: Any) -> str:
            return "BUY"

    assert isinstance(get_strategy("test_always_buy"), AlwaysBuy)
    assert AlwaysBuy.name == "test_always_buy"


SEED_FILE = '''
from algotrader import Strategy

class MyStrategy(Strategy):
    params = {"level": 1.5}

    def on_bar(self, i, row, df):
        if row["close"] > self.level:
            return "BUY"
        elif row["close"] < self.level:
            return "SELL"
        return None
'''

PLAIN_FILE = '''
class MACrossStrategy:
    def __init__(self, short_window=20, long_window=50):
        self.short = short_window
        self.long = long_window

    def on_bar(self, date, row, portfolio):
        if row["MA20"] > row["MA50"]:
            return "BUY"
        if row["MA20"] < row["MA50"]:
            return "SELL"
        return None
'''


def test_strategy_loads_from_file_path_with_class_name(tmp_path: Path, make_frame: Any) -> None:
    path = tmp_path / "my_strategy.py"
    path.write_text(SEED_FILE)
    strategy = get_strategy(f"{path}:MyStrategy", level="2")
    assert strategy.level == 2.0
    result = run_backtest(make_frame([1, 3, 1, 1]), strategy)
    assert list(result.fills["action"]) == ["BUY", "SELL"]


def test_seed_plain_class_loads_from_file_without_class_name(tmp_path: Path) -> None:
    path = tmp_path / "ma_cross_strategy.py"
    path.write_text(PLAIN_FILE)
    strategy = get_strategy(str(path), short_window="10")
    assert strategy.short == 10


def test_seed_layout_strategies_dir_resolves_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "my_seed_strategy.py").write_text(SEED_FILE)
    monkeypatch.chdir(tmp_path)
    assert type(get_strategy("my_seed_strategy")).__name__ == "MyStrategy"


def test_missing_class_in_file_lists_found_classes(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_text(SEED_FILE)
    with pytest.raises(InvalidInputError, match="did you mean 'MyStrategy'"):
        get_strategy(f"{path}:MyStrategyy")


def test_top_level_package_exports_strategy_and_backtest_lazily() -> None:
    import algotrader

    assert algotrader.Strategy is Strategy
    assert algotrader.Backtest.__name__ == "Backtest"


def test_strategy_files_in_the_strategies_folder_are_listed_and_suggested(
    workdir: Path,
) -> None:
    folder = workdir / "strategies"
    folder.mkdir()
    (folder / "my_strategy.py").write_text(
        "from algotrader import Strategy\n"
        "class Mine(Strategy):\n"
        "    rule = 'BUY always'\n"
        "    def on_bar(self, i, row, df):\n"
        "        return 'BUY'\n",
        encoding="utf-8",
    )
    (folder / "broken.py").write_text("import nothing_here_at_all\n", encoding="utf-8")
    listed = {info.name: info for info in list_strategies()}
    assert listed["my_strategy"].rule == "BUY always"
    assert listed["my_strategy"].source == "file strategies/my_strategy.py"
    assert "cannot load" in listed["broken"].rule
    with pytest.raises(InvalidInputError, match="did you mean 'my_strategy'"):
        get_strategy("my_stratgy")
