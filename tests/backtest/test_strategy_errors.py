"""A broken user strategy ends in one line naming its file, line and bar (the cause chained)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest import StrategyError, run_backtest
from algotrader.backtest.engine import signals_from_on_bar
from algotrader.errors import UserError
from algotrader.strategies import get_strategy


def user_strategy(tmp_path: Path, body: str, name: str = "my_strategy.py") -> Any:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return get_strategy(f"{path}:Mine")


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_an_exception_in_on_bar_names_the_file_line_and_bar(
    tmp_path: Path, make_frame: Any
) -> None:
    strategy = user_strategy(
        tmp_path,
        """
        class Mine:
            def on_bar(self, i, row, df):
                if i == 5:
                    return 1 / 0
                return None
        """,
    )
    with pytest.raises(StrategyError) as caught:
        run_backtest(make_frame(np.arange(10.0) + 1), strategy)
    text = one_line(caught.value)
    assert "Mine.on_bar" in text and "ZeroDivisionError" in text
    assert "my_strategy.py:5" in text
    assert "on bar 5 (2024-01-06" in text
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert isinstance(caught.value, UserError)


def test_the_first_unusable_answer_is_the_error_though_a_later_bar_raises(
    tmp_path: Path, make_frame: Any
) -> None:
    # Answers are decoded a block of bars at a time; the error is still the first in bar order.
    strategy = user_strategy(
        tmp_path,
        """
        class Mine:
            def on_bar(self, i, row, df):
                if i == 6:
                    return 1 / 0
                return "maybe" if i == 3 else None
        """,
    )
    with pytest.raises(StrategyError) as caught:
        run_backtest(make_frame(np.arange(12.0) + 1), strategy)
    text = one_line(caught.value)
    assert "returned 'maybe' on bar 3" in text and "ZeroDivision" not in text


def test_an_answer_whose_hash_raises_is_one_clear_line(tmp_path: Path, make_frame: Any) -> None:
    strategy = user_strategy(
        tmp_path,
        """
        class Odd:
            def __hash__(self):
                raise RuntimeError("no hash")

        class Mine:
            def on_bar(self, i, row, df):
                return Odd() if i == 4 else None
        """,
    )
    with pytest.raises(StrategyError, match=r"returned <.* on bar 4 "):
        run_backtest(make_frame(np.arange(12.0) + 1), strategy)


def test_every_accepted_answer_decodes_to_its_signal(tmp_path: Path, make_frame: Any) -> None:
    answers = ["BUY", "sell ", 1, np.int64(-1), None, "Hold", 0, "", "SELL", np.int8(1)]
    strategy = user_strategy(
        tmp_path,
        """
        class Mine:
            answers = []

            def on_bar(self, i, row, df):
                return self.answers[i % len(self.answers)]
        """,
    )
    strategy.answers = answers
    signals = signals_from_on_bar(strategy, make_frame(np.arange(25.0) + 1))
    expected = [1, -1, 1, -1, 0, 0, 0, 0, -1, 1] * 3
    assert signals.tolist() == expected[:25]


def test_returning_a_numpy_array_is_one_clear_line(tmp_path: Path, make_frame: Any) -> None:
    strategy = user_strategy(
        tmp_path,
        """
        import numpy as np

        class Mine:
            def on_bar(self, i, row, df):
                return np.array([1]) if i == 2 else None
        """,
    )
    with pytest.raises(StrategyError, match=r"returned a ndarray of shape \(1,\).* on bar 2"):
        run_backtest(make_frame([1.0, 2, 3, 4]), strategy)


@pytest.mark.parametrize("answer", ["True", "False", "np.True_"])
def test_true_and_false_are_not_buy_and_sell(
    tmp_path: Path, make_frame: Any, answer: str
) -> None:
    strategy = user_strategy(
        tmp_path,
        f"""
        import numpy as np

        class Mine:
            def on_bar(self, i, row, df):
                return {answer}
        """,
    )
    with pytest.raises(StrategyError, match="True/False are not BUY/SELL") as caught:
        run_backtest(make_frame([1.0, 2, 3]), strategy)
    assert "on bar 0" in one_line(caught.value)


def test_assigning_to_df_is_refused_with_the_place(tmp_path: Path, make_frame: Any) -> None:
    strategy = user_strategy(
        tmp_path,
        """
        class Mine:
            def on_bar(self, i, row, df):
                df["signal"] = 1
        """,
    )
    with pytest.raises(StrategyError) as caught:
        run_backtest(make_frame([1.0, 2, 3]), strategy)
    text = one_line(caught.value)
    assert "assigned to df" in text and "my_strategy.py:4" in text and "on bar 0" in text
    assert "prepare(frame)" in text


def test_an_exception_in_signals_names_the_file_and_line(
    tmp_path: Path, make_frame: Any
) -> None:
    strategy = user_strategy(
        tmp_path,
        """
        class Mine:
            def signals(self, frame):
                return frame["nope"]
        """,
    )
    expected = r"Mine\.signals at .*my_strategy\.py:4 raised KeyError"
    with pytest.raises(StrategyError, match=expected):
        run_backtest(make_frame([1.0, 2, 3]), strategy)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("np.ones(len(frame), bool)", "True/False are not BUY/SELL"),
        ("np.zeros(2)", "one value per bar"),
        ("np.full(len(frame), 2)", "returned 2 on bar 0"),
        ("np.full(len(frame), 0.5)", "returned 0.5 on bar 0"),
    ],
)
def test_unusable_signal_arrays_are_refused(
    tmp_path: Path, make_frame: Any, returned: str, message: str
) -> None:
    strategy = user_strategy(
        tmp_path,
        f"""
        import numpy as np

        class Mine:
            def signals(self, frame):
                return {returned}
        """,
    )
    with pytest.raises(StrategyError, match=message):
        run_backtest(make_frame([1.0, 2, 3]), strategy)


def test_signals_may_answer_with_the_on_bar_words(make_frame: Any) -> None:
    class Words:
        def signals(self, frame: pd.DataFrame) -> Any:
            return pd.Series(["BUY", None, "SELL", None], index=frame.index)

    result = run_backtest(make_frame([1.0, 2, 3, 4]), Words())
    assert result.fills["action"].tolist() == ["BUY", "SELL"]


def test_an_exception_in_prepare_names_the_hook(tmp_path: Path, make_frame: Any) -> None:
    strategy = user_strategy(
        tmp_path,
        """
        from algotrader import Strategy

        class Mine(Strategy):
            def prepare(self, frame):
                raise ValueError("bad window")

            def on_bar(self, i, row, df):
                return None
        """,
    )
    with pytest.raises(StrategyError, match=r"Mine\.prepare at .*:6 raised ValueError: bad"):
        run_backtest(make_frame([1.0, 2, 3]), strategy)


def test_the_cli_prints_one_line_and_exits_2(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from algotrader.cli.app import main

    path = workdir / "broken.py"
    path.write_text(
        "class Broken:\n    def on_bar(self, i, row, df):\n        return row['close'] / 0\n",
        encoding="utf-8",
    )
    assert main(["ingest", "-s", "SPY", "-r", "1d", "-d", "3 M", "--source", "synthetic"]) == 0
    capsys.readouterr()
    code = main(["backtest", "-s", "SPY", "-r", "1d", "--strategy", f"{path}:Broken"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "broken.py:3" in err and "ZeroDivisionError" in err and "on bar 0" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_before_the_line_wherever_it_is_typed(
    where: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The error line says "run with --debug": typed after the command, as users do, it works too.
    from algotrader.cli.app import main

    path = workdir / "broken.py"
    path.write_text(
        "class Broken:\n    def on_bar(self, i, row, df):\n        return row['close'] / 0\n",
        encoding="utf-8",
    )
    assert main(["ingest", "-s", "SPY", "-r", "1d", "-d", "3 M", "--source", "synthetic"]) == 0
    capsys.readouterr()
    command = ["backtest", "-s", "SPY", "-r", "1d", "--strategy", f"{path}:Broken"]
    code = main(["--debug", *command] if where == "before" else [*command, "--debug"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("Traceback") and "ZeroDivisionError: float division by zero" in err
    assert err.splitlines()[-1].startswith("error: strategy Broken.on_bar at ")
