"""Golden cases for the deflated Sharpe ratio and the probability of backtest overfitting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algotrader.errors import InvalidInputError
from algotrader.research.overfitting import (
    SharpeMoments,
    deflated_sharpe_from_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)


def test_dsr_reproduces_the_papers_numerical_example() -> None:
    # Bailey & Lopez de Prado (2014), section 5: annualised SR 2.5 over 1,250 daily returns,
    # skewness -3, kurtosis 10, 100 trials with V[annualised SR] = 0.5
    # -> SR0 = 0.1132, DSR = 0.9004.
    moments = SharpeMoments(2.5 / math.sqrt(250), 1250, -3.0, 10.0)
    result = deflated_sharpe_ratio(moments, trials=100, sharpe_variance=0.5 / 250)
    assert result.benchmark_sharpe == pytest.approx(0.1132, abs=5e-5)
    assert result.dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_of_a_normal_series_by_hand() -> None:
    # z = 0.1 * sqrt(100) / sqrt(1 + (3 - 1)/4 * 0.01) = 0.997509..., Z(z) = 0.840741...
    m = SharpeMoments(0.1, 101, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(m) == pytest.approx(0.8407413, abs=1e-7)


def test_moments_by_hand() -> None:
    # mean 0.01, deviations (1, -2, 2, -1)e-2: sample std sqrt(10e-4 / 3), m3 = 0,
    # m2 = 2.5e-4, m4 = 8.5e-8 -> kurtosis 1.36 (non-excess).
    m = SharpeMoments.of(np.array([0.02, -0.01, 0.03, 0.0]))
    assert m.sharpe == pytest.approx(math.sqrt(0.3))
    assert m.skewness == pytest.approx(0.0, abs=1e-12)
    assert m.kurtosis == pytest.approx(1.36)
    assert m.observations == 4


def test_one_trial_is_not_deflated() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0
    m = SharpeMoments(0.1, 101, 0.0, 3.0)
    assert deflated_sharpe_ratio(m, 1, 0.0).dsr == probabilistic_sharpe_ratio(m)


def test_more_trials_deflate_more() -> None:
    rng = np.random.default_rng(1)
    trials = rng.normal(0.0003, 0.01, (500, 200))
    best = trials[:, int(np.argmax(trials.mean(axis=0) / trials.std(axis=0)))]
    few = deflated_sharpe_from_returns(best, trials[:, :5])
    many = deflated_sharpe_from_returns(best, trials)
    assert many.trials == 200 and many.benchmark_sharpe > few.benchmark_sharpe
    assert many.dsr < few.dsr


def test_pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample() -> None:
    # Two blocks of two rows. Config 0: (1, 3 | 1, 2), config 1: (1, 2 | 1, 3) in %.
    # In-sample first block: SR0 = 2/sqrt(2), SR1 = 1.5/sqrt(0.5) -> pick 1; out of sample its
    # SR is 2/sqrt(2) < 1.5/sqrt(0.5): rank 1 of 2, w = 1/3, logit ln(1/2). Symmetric the other way.
    m = np.array([[1, 1], [3, 2], [1, 1], [2, 3]], dtype=float) / 100
    result = probability_of_backtest_overfitting(m, blocks=2)
    assert result.pbo == 1.0
    assert result.splits == 2
    assert np.allclose(result.logits, math.log(0.5))
    assert result.prob_oos_loss == 0.0


def test_pbo_is_zero_when_the_winner_stays_best() -> None:
    m = np.array([[1, 1], [3, 2], [-1, 2], [-3, 1]], dtype=float) / 100
    result = probability_of_backtest_overfitting(m, blocks=2)
    assert result.pbo == 0.0
    assert np.allclose(result.logits, math.log(2.0))


def test_ties_take_the_average_rank_and_count_as_overfit() -> None:
    m = np.array([[1, 1], [3, 3], [1, 1], [3, 3]], dtype=float) / 100
    result = probability_of_backtest_overfitting(m, blocks=2)
    assert np.allclose(result.logits, 0.0) and result.pbo == 1.0


def test_pbo_of_noise_is_near_a_half_and_of_a_real_edge_near_zero() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, (1600, 40))
    result = probability_of_backtest_overfitting(noise)
    assert result.splits == 12_870 and result.blocks == 16
    assert 0.25 < result.pbo < 0.75
    noise[:, 7] += 0.004
    assert probability_of_backtest_overfitting(noise).pbo < 0.02


def test_leading_rows_are_trimmed_to_whole_blocks() -> None:
    rng = np.random.default_rng(0)
    assert probability_of_backtest_overfitting(rng.normal(size=(35, 3)), 4).observations == 32


@pytest.mark.parametrize(("rows", "cols", "blocks"), [(40, 3, 5), (10, 3, 16), (40, 1, 4)])
def test_invalid_pbo_inputs_are_user_errors(rows: int, cols: int, blocks: int) -> None:
    with pytest.raises(InvalidInputError):
        probability_of_backtest_overfitting(np.ones((rows, cols)), blocks)
