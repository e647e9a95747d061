from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader import Backtest
from algotrader.backtest.engine import run_backtest
from algotrader.errors import InvalidInputError
from algotrader.research import (
    Objective,
    StudyConfig,
    optimize,
    optimize_each,
    parse_grid,
)
from algotrader.research.plots import heatmap_png
from algotrader.strategies import get_strategy

GRID = {"fast": range(3, 16, 4), "slow": range(10, 41, 10)}


def test_constraint_skips_points_and_every_feasible_point_is_a_trial(daily: pd.DataFrame) -> None:
    study = optimize(daily, "ma_cross", constraint="fast < slow", **GRID)
    feasible = [(f, s) for f in GRID["fast"] for s in GRID["slow"] if f < s]
    assert study.n_trials == len(feasible)
    assert study.skipped == 16 - len(feasible)
    assert [(p.params["fast"], p.params["slow"]) for p in study.points] == feasible


def test_best_point_is_the_top_of_the_table_and_matches_a_single_backtest(
    daily: pd.DataFrame,
) -> None:
    study = optimize(daily, "ma_cross", constraint="fast < slow", maximize="calmar", **GRID)
    table = study.table()
    values = [p.objective for p in study.points if math.isfinite(p.objective)]
    assert table["objective"].iloc[0] == max(values) == study.best.objective
    ref = run_backtest(daily, get_strategy("ma_cross", **study.best.params), resolution="1d")
    assert ref.metrics["calmar"] == study.best.objective


def test_minimize_picks_the_smallest(daily: pd.DataFrame) -> None:
    study = optimize(daily, "ma_cross", constraint="fast < slow", minimize="volatility", **GRID)
    assert study.best.objective == min(p.objective for p in study.points)


def test_points_violating_the_strategys_rules_fail_alone(daily: pd.DataFrame) -> None:
    study = optimize(daily, "ma_cross", **GRID)
    failed = [p for p in study.points if not p.ok]
    assert failed and all(p.params["fast"] >= p.params["slow"] for p in failed)
    assert study.n_trials == len(study.points) - len(failed)
    assert study.table()["error"].notna().sum() == len(failed)


def test_unknown_grid_parameter_suggests_the_right_one(daily: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'slow'"):
        optimize(daily, "ma_cross", fast=[5], slwo=[20])


def test_unknown_objective_and_method_are_user_errors(daily: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'sharpe'"):
        optimize(daily, "ma_cross", maximize="sharp", **GRID)
    with pytest.raises(InvalidInputError, match="did you mean 'optuna'"):
        optimize(daily, "ma_cross", method="optunaa", trials=5, **GRID)
    with pytest.raises(InvalidInputError, match="--trials"):
        optimize(daily, "ma_cross", method="optuna", **GRID)


def test_heatmap_takes_the_max_over_other_parameters(daily: pd.DataFrame, tmp_path: Path) -> None:
    study = optimize(daily, "streak", down=[1, 2, 3], up=[1, 2], )
    heat = study.heatmap("down", "up")
    assert heat.shape == (2, 3)
    for up in (1, 2):
        for down in (1, 2, 3):
            [point] = [p for p in study.points if p.params == {"down": down, "up": up}]
            assert heat.loc[up, down] == point.objective
    data = json.loads(json.dumps(study.heatmap_data("down", "up"), allow_nan=False))
    assert data["xs"] == [1, 2, 3] and data["ys"] == [1, 2]
    assert data["values"][1][2] == heat.loc[2, 3]
    png = heatmap_png(study, tmp_path / "heat.png", "down", "up")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_to_dict_is_plain_json(daily: pd.DataFrame) -> None:
    study = optimize(daily, "ma_cross", constraint="fast < slow", **GRID)
    text = json.dumps(study.to_dict(include_returns=True, top=3), allow_nan=False)
    doc = json.loads(text)
    assert doc["trials"] == study.n_trials and len(doc["points"]) == 3
    assert doc["config"]["constraint"] == "fast < slow"
    assert len(doc["points"][0]["returns"]["DATA"]) == len(daily) - 1


def test_returns_are_float32_per_bar_for_daily_bars(daily: pd.DataFrame) -> None:
    study = optimize(daily, "ma_cross", constraint="fast < slow", **GRID)
    matrix = study.returns_matrix()
    assert matrix.shape == (len(daily) - 1, study.n_trials)
    assert all(p.returns["DATA"].dtype == np.float32 for p in study.points)
    dsr = study.deflated_sharpe()
    assert dsr.trials == study.n_trials and 0.0 <= dsr.dsr <= 1.0
    assert 0.0 <= study.pbo(blocks=8).pbo <= 1.0


def test_several_symbols_need_a_pool(walk: Any) -> None:
    frames = {"A": walk(400, seed=1), "B": walk(400, seed=2)}
    with pytest.raises(InvalidInputError, match="pool"):
        optimize(frames, "ma_cross", constraint="fast < slow", **GRID)


def test_pooled_objective_and_one_study_per_symbol_agree(walk: Any) -> None:
    frames = {"A": walk(400, seed=1), "B": walk(400, seed=2)}
    pooled = optimize(frames, "ma_cross", constraint="fast < slow", pool="mean", **GRID)
    config = StudyConfig("ma_cross", parse_grid(["fast=3:15:4", "slow=10:40:10"]),
                         constraint="fast < slow")
    each = optimize_each(frames, config)
    for p in pooled.points:
        a = each["A"].points[p.id].objective
        b = each["B"].points[p.id].objective
        assert p.objective == pytest.approx((a + b) / 2, rel=0, abs=1e-15)
        assert p.metrics["A"] == each["A"].points[p.id].metrics["A"]
    assert pooled.table().columns.tolist()[-3:] == ["sharpe[A]", "sharpe[B]", "error"]


def test_random_method_is_reproducible_with_a_seed(daily: pd.DataFrame) -> None:
    runs = [optimize(daily, "ma_cross", constraint="fast < slow", method="random", trials=5,
                     seed=3, **GRID) for _ in range(2)]
    assert [p.params for p in runs[0].points] == [p.params for p in runs[1].points]
    assert runs[0].n_trials == 5


def test_optuna_is_reproducible_with_a_seed_and_respects_the_constraint(
    daily: pd.DataFrame,
) -> None:
    kwargs: dict[str, Any] = dict(constraint="fast < slow", method="optuna", trials=8, seed=7)
    runs = [optimize(daily, "ma_cross", fast=range(2, 31, 2), slow=range(10, 61, 5), **kwargs)
            for _ in range(2)]
    params = [p.params for p in runs[0].points]
    assert params == [p.params for p in runs[1].points]
    assert len(params) == 8 and len({tuple(p.items()) for p in params}) == 8
    assert all(p["fast"] < p["slow"] for p in params)
    assert runs[0].best.objective == max(p.objective for p in runs[0].points)


def test_optuna_stops_when_the_space_is_exhausted(daily: pd.DataFrame) -> None:
    study = optimize(daily, "ma_cross", fast=[3, 5], slow=[20], method="optuna", trials=10,
                     seed=1)
    assert sorted(p.params["fast"] for p in study.points) == [3, 5]


def test_user_strategy_file_runs_through_the_engine(daily: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "mine.py"
    source.write_text(
        "from algotrader import Strategy\n"
        "class Momentum(Strategy):\n"
        "    params = {'lookback': 5}\n"
        "    def on_bar(self, i, row, df):\n"
        "        if i < self.lookback: return None\n"
        "        return 'BUY' if row['close'] > df['close'].iloc[-self.lookback] else 'SELL'\n"
    )
    study = optimize(daily.iloc[:200], f"{source}:Momentum", lookback=[3, 8])
    for p in study.points:
        ref = run_backtest(daily.iloc[:200], get_strategy(f"{source}:Momentum", **p.params),
                           resolution="1d")
        assert p.metrics["DATA"] == ref.metrics


def test_progress_is_reported(daily: pd.DataFrame) -> None:
    seen: list[tuple[int, int]] = []
    optimize(daily, "streak", down=[1, 2], up=[1, 2], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (4, 4)


def test_backtest_optimize_returns_the_best_result_and_the_table(
    daily_with_indicators: pd.DataFrame,
) -> None:
    opt = Backtest(daily_with_indicators, "rsi").optimize(
        lower=[20, 30], upper=[60, 70, 80], constraint="lower + 30 < upper", maximize="sharpe"
    )
    assert len(opt.table) == opt.study.n_trials == 5
    assert opt.best.params == {**opt.best_params}
    assert opt.best.metrics == opt.study.best.metrics["DATA"]
    assert opt.heatmap("lower", "upper").shape == (3, 2)


def test_backtest_optimize_on_raw_bars_computes_what_the_strategy_needs(
    daily: pd.DataFrame,
) -> None:
    opt = Backtest(daily, "ma_cross", commission_bps=1).optimize(
        fast=range(5, 16, 5), slow=[30, 40], minimize="max_drawdown_duration_bars"
    )
    assert opt.best.config.commission_bps == 1
    assert opt.best.metrics["max_drawdown_duration_bars"] == opt.study.best.objective


def test_study_config_round_trips_to_json() -> None:
    config = StudyConfig("ma_cross", parse_grid(["fast=5:10:5"]),
                         objective=Objective("calmar", "maximize"), method="grid")
    assert json.loads(json.dumps(config.to_dict()))["objective"]["metric"] == "calmar"


def test_any_point_reruns_to_the_same_metrics_with_its_trades(daily: pd.DataFrame) -> None:
    study = optimize(daily.iloc[100:600], "ma_cross", constraint="fast < slow", **GRID)
    for point in study.points[:3]:
        result = study.result(point, daily)
        assert len(result.equity) == 500 and result.metrics == point.metrics["DATA"]
        assert result.params == study.params_of(point)
