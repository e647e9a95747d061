"""The README's research section runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_research_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, walk: Any) -> None:
    example = README.split("<!-- research-example -->", 1)[1].split("```python", 1)[1]
    code = example.split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"bars": walk(3 * 261, seed=2, start="2016-01-01")}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "heatmap.png").exists() and (tmp_path / "walkforward.png").exists()
    assert namespace["opt"].study.n_trials == 90
    assert len(namespace["wf"].folds) == 2


def test_overfitting_table_names_every_statistic() -> None:
    from algotrader.research import DeflatedSharpe, PBOResult

    table = README.split("<!-- overfitting -->", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))
    assert {"dsr", "psr"} <= documented and "dsr" in DeflatedSharpe.__dataclass_fields__
    assert {"pbo", "prob_oos_loss"} <= documented <= {"SR0"} | set(
        DeflatedSharpe.__dataclass_fields__) | set(PBOResult.__dataclass_fields__)
