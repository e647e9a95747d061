"""The README's portfolio example runs as written (with generated bars for SPY, TLT and GLD)."""

from __future__ import annotations

from pathlib import Path

from .conftest import walk_bars

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_readme_portfolio_example_runs() -> None:
    section = README.split("### Portfolio backtests", 1)[1]
    example = section.split("```python", 1)[1].split("```", 1)[0]
    frames = walk_bars(["SPY", "TLT", "GLD"], n=300, seed=40)
    namespace: dict[str, object] = {"spy": frames["SPY"], "tlt": frames["TLT"],
                                    "gld": frames["GLD"]}
    exec(compile(example, "README.md", "exec"), namespace)
    result, top_two = namespace["result"], namespace["top_two"]
    assert result.metrics["num_fills"] > 0  # type: ignore[attr-defined]
    assert result.config.benchmark == "SPY"  # type: ignore[attr-defined]
    assert top_two.targets.gt(0).sum(axis=1).max() == 2  # type: ignore[attr-defined]
