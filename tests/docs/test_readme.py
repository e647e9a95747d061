"""The README is what actually works: its commands, metrics table and example are checked."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from algotrader.backtest.metrics import compute_metrics
from algotrader.strategies.registry import list_strategies

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    after = README.split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (
        "awk '/<!-- test-command -->/ {found=1; next} found && /^```$/ "
        "{if (inblock) exit; inblock=1; next} inblock {print}' README.md"
    )
    extracted = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert extracted == _block_after("test-command")
    assert script.split(" README.md")[0] in (ROOT / ".ci" / "run").read_text()


def test_readme_main_command_runs_the_demo() -> None:
    assert _block_after("main-command").endswith("algotrader demo")


def test_every_metric_has_a_one_line_definition_in_the_readme() -> None:
    import numpy as np
    import pandas as pd

    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    equity = np.array([100.0, 101, 99, 102, 103])
    keys = compute_metrics(
        index, equity, equity, np.ones(5), np.array([1.0]), cash=100.0, resolution="1d"
    )
    table = README.split("<!-- metrics -->", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))
    assert documented == set(keys)


@pytest.mark.parametrize(
    "name", [info.name for info in list_strategies() if info.source == "builtin"]
)
def test_every_builtin_strategy_is_named_in_the_readme(name: str) -> None:
    assert f"`{name}`" in README


def test_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from algotrader.cli.app import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALGOTRADER_DATA_SOURCE", "synthetic")
    assert main(["ingest", "-s", "SPY", "-r", "1d", "-d", "2 Y", "--source", "synthetic"]) == 0
    example = README.split("### Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    # The last line needs a DataFrame of the reader's own: give it the stored bars.
    runnable = example.replace("my_dataframe", "Backtest.from_store('SPY').frame")
    namespace: dict[str, object] = {}
    exec(compile(runnable, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.metrics["num_trades"] > 0  # type: ignore[attr-defined]
    assert result.strategy == "close_above_ma20"  # type: ignore[attr-defined]
