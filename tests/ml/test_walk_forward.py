"""Honesty of the walk-forward pipeline: it finds a planted signal, not one in noise."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tests.ml.conftest import ar_bars

from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.pipeline import TrainConfig, train_walk_forward
from algotrader.timeframes import Duration

FAST = {"lightgbm": {"n_estimators": 60}, "ridge": {}}


def _frames(beta: float, seed: int) -> dict[str, pd.DataFrame]:
    return {"AAA": ar_bars(1500, beta, seed), "BBB": ar_bars(1500, beta, seed + 100)}


def _config(model: str, **overrides: object) -> TrainConfig:
    base: dict[str, object] = {
        "model": model,
        "params": FAST.get(model, {}),
        "target": "next_return",
        "horizon": 1,
        "train": Duration(2, "Y"),
        "retrain_every": Duration(1, "Y"),
    }
    return TrainConfig(**{**base, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["ridge", "lightgbm"])
def test_a_planted_predictable_component_is_found_out_of_sample(model: str) -> None:
    result = train_walk_forward(_frames(0.3, seed=11), _config(model))
    overall = result.metrics["overall"]
    # next return = 0.3 x last return + noise: the best forecast has IC 0.3.
    assert overall["n"] > 1900
    assert overall["ic"] > 0.15 and overall["rank_ic"] > 0.15
    assert overall["ic_t_stat"] > 6
    assert all(p["ic"] > 0 for p in result.metrics["periods"])
    if model == "ridge":
        assert next(iter(result.metrics["importance"]["values"])) in ("ret_1", "gap_1")


@pytest.mark.parametrize("model", ["ridge", "lightgbm"])
def test_pure_noise_gives_an_ic_within_noise_of_zero(model: str) -> None:
    result = train_walk_forward(_frames(0.0, seed=12), _config(model))
    overall = result.metrics["overall"]
    # Under no signal the IC of n independent rows has a standard error of 1 / sqrt(n).
    assert abs(overall["ic"]) < 4 / math.sqrt(overall["n"])
    assert abs(overall["ic_t_stat"]) < 4


def test_each_period_is_forecast_only_by_the_model_trained_before_it() -> None:
    result = train_walk_forward(_frames(0.3, seed=13), _config("ridge", horizon=1))
    periods = {p.number: p for p in result.trained.periods}
    ts = result.predictions["ts"].astype("int64").to_numpy() * (
        1 if result.predictions["ts"].dt.unit == "ns" else 1000
    )
    for number, when in zip(result.predictions["period"], ts, strict=True):
        period = periods[number]
        assert period.train_end <= period.test_start <= when
        assert period.test_end is None or when < period.test_end
    # No forecast before the first period: those bars trained the first model.
    assert result.predictions["ts"].min() >= pd.Timestamp(periods[1].test_start, tz="UTC")


def test_training_twice_gives_the_same_forecasts_to_the_last_bit() -> None:
    frames = _frames(0.3, seed=14)
    config = _config("lightgbm", params={"n_estimators": 40})
    first = train_walk_forward(frames, config).predictions
    second = train_walk_forward(frames, config).predictions
    pd.testing.assert_frame_equal(first, second, check_exact=True)


@pytest.mark.parametrize("model", ["ridge", "lightgbm"])
def test_forecasting_again_with_the_trained_models_reproduces_the_out_of_sample_forecasts(
    model: str,
) -> None:
    longer = {s: ar_bars(1600, 0.3, seed) for s, seed in (("AAA", 15), ("BBB", 115))}
    result = train_walk_forward({s: f.iloc[:1500] for s, f in longer.items()}, _config(model))
    # Later bars appended to the history change nothing already forecast (causal features).
    again = result.trained.predict(longer)
    merged = result.predictions.merge(again, on=["symbol", "ts"], suffixes=("", "_again"))
    assert len(merged) == len(result.predictions)
    assert (merged["forecast"] == merged["forecast_again"]).all()
    assert len(again) > len(result.predictions)


def test_the_direction_target_forecasts_the_sign_of_the_move() -> None:
    result = train_walk_forward(_frames(0.3, seed=16), _config("ridge", target="direction"))
    overall = result.metrics["overall"]
    assert result.predictions["forecast"].between(-1, 1).all()
    assert overall["hit_rate"] > 0.55 and overall["rank_ic"] > 0.1


@pytest.mark.parametrize("model", ["gbr", "xgboost"])
def test_other_tree_models_find_the_planted_component(model: str) -> None:
    params = {"gbr": {"max_iter": 60}, "xgboost": {"n_estimators": 60}}[model]
    result = train_walk_forward(_frames(0.3, seed=17), _config(model, params=params))
    assert result.metrics["overall"]["ic"] > 0.1


def test_the_lstm_finds_the_planted_component_and_is_deterministic() -> None:
    longer = ar_bars(1400, 0.3, seed=18)
    frames = {"AAA": longer.iloc[:1300]}
    config = _config(
        "lstm",
        params={"lookback": 5, "hidden": 8, "epochs": 15},
        features=("ret_1", "vol_20"),
        retrain_every=None,
    )
    first = train_walk_forward(frames, config)
    second = train_walk_forward(frames, config)
    assert first.metrics["overall"]["ic"] > 0.15
    assert first.metrics["importance"]["method"].startswith("permutation")
    pd.testing.assert_frame_equal(first.predictions, second.predictions, check_exact=True)
    again = first.trained.predict({"AAA": longer}).iloc[: len(first.predictions)]
    pd.testing.assert_frame_equal(
        first.predictions[["ts", "forecast"]], again[["ts", "forecast"]], check_exact=True
    )


def test_too_little_training_data_is_one_clear_error() -> None:
    frames = {"AAA": ar_bars(600, 0.0, seed=19)}
    with pytest.raises(DataNotFoundError, match=r"too little data: period 1 .* usable training"):
        train_walk_forward(frames, _config("ridge", train=Duration(3, "M")))


def test_unknown_model_and_parameter_names_are_refused_with_suggestions() -> None:
    frames = {"AAA": ar_bars(600, 0.0, seed=20)}
    with pytest.raises(InvalidInputError, match=r"'lightgmb'.*did you mean 'lightgbm'"):
        train_walk_forward(frames, _config("lightgmb"))
    with pytest.raises(InvalidInputError, match=r"unknown parameter 'n_estimator'.*n_estimators"):
        train_walk_forward(frames, _config("lightgbm", params={"n_estimator": 5}))


def test_regimes_are_sorted_by_volatility_and_filtered_without_look_ahead() -> None:
    rng = np.random.default_rng(21)
    calm, wild = rng.normal(0, 0.004, 250), rng.normal(0, 0.03, 250)
    ret = np.concatenate([calm, wild] * 4)
    frame = ar_bars(ret.size, 0.0, seed=21)
    frame["close"] = 50 * np.exp(np.cumsum(ret))
    frame["open"] = np.r_[frame["close"].iloc[0], frame["close"].to_numpy()[:-1]]
    frame["high"] = frame[["open", "close"]].max(axis=1) * 1.001
    frame["low"] = frame[["open", "close"]].min(axis=1) * 0.999
    config = TrainConfig(
        model="hmm",
        params={"states": 2},
        horizon=1,
        target="next_return",
        train=Duration(4, "Y"),
        features=("ret_1",),
    )
    result = train_walk_forward({"AAA": frame}, config)
    labels = result.predictions.set_index("ts")["forecast"]
    calm_days = frame.index[np.arange(ret.size) % 500 < 250]
    inside = labels.index.isin(calm_days)
    assert (labels[inside] == 0).mean() > 0.9 and (labels[~inside] == 1).mean() > 0.9
    # The filtered label at t is the same when every later bar is removed.
    model = result.trained.models[0]
    features = result.trained.predict({"AAA": frame})["forecast"].to_numpy()
    cut = frame.iloc[: len(frame) - 200]
    shorter = result.trained.predict({"AAA": cut})["forecast"].to_numpy()
    assert np.array_equal(shorter, features[: shorter.size])
    assert model.state_volatility()[0] < model.state_volatility()[1]
