from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.engine import run_backtest
from algotrader.errors import InvalidInputError
from algotrader.research import StudyConfig, parse_grid
from algotrader.research.plots import walk_forward_png
from algotrader.research.walkforward import fold_windows, walk_forward, warm_started
from algotrader.strategies import get_strategy

CONFIG = StudyConfig("ma_cross", parse_grid(["fast=3:15:4", "slow=20:40:10"]))


@pytest.fixture(scope="module")
def years(walk: Any) -> pd.DataFrame:
    return walk(5 * 261, seed=8, start="2015-01-01")


def test_rolling_test_windows_never_overlap_training_or_each_other(years: pd.DataFrame) -> None:
    folds = fold_windows(pd.DatetimeIndex(years.index), "2 Y", "6 M")
    assert len(folds) == 6
    for f in folds:
        assert f.train_end <= f.test_start
        assert f.train_rows[1] <= f.test_rows[0]
        train = set(range(*f.train_rows))
        assert not train & set(range(*f.test_rows))
        assert (years.index[f.train_rows[1] - 1] < f.test_start <= years.index[f.test_rows[0]])
    for a, b in itertools.pairwise(folds):
        assert a.test_rows[1] == b.test_rows[0] and a.test_end == b.test_start
        assert b.train_start == a.train_start + pd.DateOffset(months=6)


def test_anchored_windows_keep_the_start_and_grow(years: pd.DataFrame) -> None:
    folds = fold_windows(pd.DatetimeIndex(years.index), "2 Y", "1 Y", anchored=True)
    assert [f.train_start for f in folds] == [years.index[0]] * len(folds) and len(folds) == 3
    assert [f.train_rows[1] - f.train_rows[0] for f in folds] == sorted(
        f.train_rows[1] - f.train_rows[0] for f in folds
    )
    for f in folds:
        assert not set(range(*f.train_rows)) & set(range(*f.test_rows))


def test_too_little_data_is_a_user_error(years: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="no walk-forward fold fits"):
        fold_windows(pd.DatetimeIndex(years.index), "5 Y", "1 Y")


def test_warm_up_uses_bars_before_the_window_and_none_after(years: pd.DataFrame) -> None:
    lo, hi = 600, 700
    strategy = get_strategy("ma_cross", fast=5, slow=30)
    warm = warm_started(strategy, years.iloc[:lo], years.iloc[lo:hi])
    prepared = warm.prepare(years.iloc[lo:hi])
    assert not prepared["sma_slow"].isna().any()
    full = strategy.prepare(years)
    assert np.array_equal(prepared["sma_slow"].to_numpy(), full["sma_slow"].to_numpy()[lo:hi])
    # Changing every bar after the window changes nothing in it.
    altered = years.copy()
    altered.iloc[hi:, :4] *= 1.5
    again = warm_started(strategy, altered.iloc[:lo], altered.iloc[lo:hi])
    a = run_backtest(years.iloc[lo:hi], warm, resolution="1d")
    b = run_backtest(altered.iloc[lo:hi], again, resolution="1d")
    assert a.metrics == b.metrics


def test_walk_forward_stitches_the_out_of_sample_folds(years: pd.DataFrame) -> None:
    result = walk_forward(years, CONFIG, train="2 Y", test="1 Y")
    assert len(result.folds) == 3
    assert len(result.equity) == sum(f.window.test_rows[1] - f.window.test_rows[0]
                                     for f in result.folds)
    assert result.equity.index.is_monotonic_increasing
    first = result.folds[0].result.equity
    assert np.array_equal(result.equity.iloc[: len(first)].to_numpy(), first.to_numpy())
    # Each later fold starts from the previous fold's final equity.
    scale = first.iloc[-1] / CONFIG.backtest.cash
    second = result.folds[1].result.equity * scale
    assert np.allclose(result.equity.iloc[len(first): len(first) + len(second)], second)
    assert result.out_of_sample["total_return"] == pytest.approx(
        result.equity.iloc[-1] / CONFIG.backtest.cash - 1
    )
    for f in result.folds:
        assert f.params == {**f.study.params_of(f.study.best)}
        assert f.in_sample == f.study.best.metrics["DATA"]
        if f.in_sample["cagr"] > 0:
            assert f.efficiency == pytest.approx(f.out_of_sample["cagr"] / f.in_sample["cagr"])
        else:
            assert f.efficiency is None


def test_walk_forward_report_and_plot(years: pd.DataFrame, tmp_path: Path) -> None:
    result = walk_forward(years, CONFIG, train="2 Y", test="1 Y", anchored=True)
    doc = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert len(doc["folds"]) == 3 and doc["anchored"] is True
    assert list(result.table().index) == [1, 2, 3]
    png = walk_forward_png(result, tmp_path / "wf.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
