"""Research on stored data: studies stored point by point, walk-forward runs, look-ahead checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.research import ResearchRequest, get_study, run_optimization, run_walkforward
from algotrader.app.runs import get_run, list_runs, rerun
from algotrader.cli.app import main
from algotrader.config import Settings, load_settings
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    made = load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )
    window = IngestWindow(parse_duration("4 Y"))
    ingest(made, IngestRequest(("SPY", "AAPL"), (DAILY,), window, source="synthetic"))
    return made


def _request(**extra: object) -> ResearchRequest:
    values: dict[str, object] = {
        "symbols": ("SPY",), "resolution": DAILY, "strategy": "ma_cross",
        "grid": ("fast=5:20:5", "slow=30:60:15"), "constraint": "fast < slow",
    }  # fmt: skip
    return ResearchRequest(**{**values, **extra})  # type: ignore[arg-type]


def test_every_point_of_a_study_is_a_run_that_reruns_to_the_last_bit(settings: Settings) -> None:
    (stored,) = run_optimization(settings, _request())
    assert stored.study.n_trials == 12 and len(stored.run_ids) == 12
    record = get_study(settings, stored.study_id)
    assert record.best_run_id == stored.best_run_id and record.dsr is not None
    assert set(record.summary["heatmap"]) >= {"x", "y"}
    best = get_run(settings, stored.best_run_id)
    assert best.kind == "study_point" and best.study_id == stored.study_id
    assert best.params == {"fast": stored.study.best.params["fast"],
                           "slow": stored.study.best.params["slow"]}  # fmt: skip
    assert best.metrics["sharpe"] == stored.study.best.metrics["SPY"]["sharpe"]
    for run_id in list(stored.run_ids.values())[:3]:
        report = rerun(settings, run_id)
        assert report.identical_metrics and report.identical_trades
    assert stored.heatmap is not None and stored.heatmap.read_bytes()[:4] == b"\x89PNG"
    assert [r.kind for r in list_runs(settings, kinds=("backtest",))] == []


def test_one_study_per_symbol_unless_the_objective_is_pooled(settings: Settings) -> None:
    assert len(run_optimization(settings, _request(symbols=("SPY", "AAPL")))) == 2
    (pooled,) = run_optimization(settings, _request(symbols=("SPY", "AAPL"), pool="min"))
    assert pooled.study.symbols == ("AAPL", "SPY") or pooled.study.symbols == ("SPY", "AAPL")


def test_a_walk_forward_run_is_stored_and_reruns_to_the_last_bit(settings: Settings) -> None:
    stored = run_walkforward(
        settings, _request(), train=parse_duration("1 Y"), test=parse_duration("6 M")
    )
    run = get_run(settings, stored.run_id)
    assert run.kind == "walkforward" and len(run.detail["folds"]) == len(stored.result.folds) > 2
    report = rerun(settings, stored.run_id)
    assert report.identical_metrics and report.identical_trades


def test_strategies_check_exits_1_for_a_strategy_that_peeks(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "peeker.py"
    path.write_text(
        "import numpy as np\n"
        "from algotrader import Strategy\n"
        "class Peeker(Strategy):\n"
        "    def signals(self, frame):\n"
        "        up = (frame['close'].shift(-1) > frame['close']).to_numpy()\n"
        "        return np.where(up, 1, -1).astype(np.int8)\n",
        encoding="utf-8",
    )
    assert main(["strategies", "check", f"{path}:Peeker", "--bars", "300"]) == 1
    assert "look-ahead" in capsys.readouterr().out.lower()
    assert main(["strategies", "check", "ma_cross", "--bars", "300"]) == 0
    assert "no look-ahead" in capsys.readouterr().out


def test_the_optimize_command_prints_json(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--database-url", settings.db_url, "--data-dir", str(settings.data_dir),
                 "optimize", "-s", "SPY", "--grid", "lower=20,30", "--grid", "upper=70,80",
                 "--strategy", "rsi", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    (document,) = json.loads(out)
    assert document["trials"] == 4 and document["best_run_id"] >= 1
