"""Guards against fooling oneself: the deflated Sharpe ratio and the probability of backtest
overfitting.

**Deflated Sharpe ratio** (Bailey & Lopez de Prado, 2014). With ``SR`` the per-period Sharpe ratio
of the chosen configuration (mean / sample std of its per-period returns, not annualised), ``T`` its
number of returns, ``g3`` their skewness and ``g4`` their kurtosis (non-excess: 3 for a normal
distribution; both population moments), and ``Z`` the standard normal CDF::

    PSR(SR*) = Z[ (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3*SR + (g4 - 1)/4 * SR**2) ]
    SR0      = sqrt(V) * ((1 - gamma) * Z^-1[1 - 1/N] + gamma * Z^-1[1 - 1/(N*e)])
    DSR      = PSR(SR0)

where ``N`` is the number of configurations tried (every evaluated point, not only the kept ones),
``V`` the sample variance (ddof=1) of their per-period Sharpe ratios, ``gamma`` the
Euler-Mascheroni constant and ``e`` Euler's number. ``SR0`` is the Sharpe ratio the best of
``N`` skill-less trials would show by luck; DSR is the probability that the true Sharpe ratio of
the chosen configuration exceeds it. With one trial SR0 = 0 and DSR = PSR(0).

**Probability of backtest overfitting** (Bailey, Borwein, Lopez de Prado & Zhu, 2015), by
combinatorially symmetric cross-validation: the T x N matrix of per-period returns (one column per
configuration) loses its first ``T mod S`` rows and is cut into ``S`` (even) contiguous blocks. For
each of the C(S, S/2) ways to pick half of the blocks as the in-sample set (the rest, in time order,
is out of sample), the configuration with the best in-sample Sharpe ratio is found and its
out-of-sample Sharpe ratio ranked among all N (average ranks for ties, 1 = worst);
``w = rank / (N + 1)`` and ``logit = ln(w / (1 - w))``. PBO is the share of splits whose logit is
<= 0, i.e. where the in-sample winner is at or below the out-of-sample median.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numba
import numpy as np

from algotrader.errors import InvalidInputError

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class SharpeMoments:
    """Per-period statistics of one return series."""

    sharpe: float
    observations: int
    skewness: float
    kurtosis: float

    @classmethod
    def of(cls, returns: np.ndarray) -> SharpeMoments:
        """Sharpe = mean / std (ddof=1); skewness and non-excess kurtosis as population moments."""
        r = np.asarray(returns, dtype=np.float64)
        r = r[np.isfinite(r)]
        t = int(r.size)
        if t < 3:
            raise InvalidInputError(
                f"{t} returns are too few for Sharpe-ratio statistics", "use a longer history"
            )
        mean = float(r.mean())
        dev = r - mean
        m2 = float(np.mean(dev**2))
        std = float(r.std(ddof=1))
        if not m2 > 0:
            return cls(0.0, t, 0.0, 3.0)
        return cls(
            sharpe=mean / std,
            observations=t,
            skewness=float(np.mean(dev**3)) / m2**1.5,
            kurtosis=float(np.mean(dev**4)) / m2**2,
        )


def probabilistic_sharpe_ratio(m: SharpeMoments, benchmark: float = 0.0) -> float:
    """PSR: probability that the true per-period Sharpe ratio exceeds ``benchmark``."""
    var = 1.0 - m.skewness * m.sharpe + (m.kurtosis - 1.0) / 4.0 * m.sharpe**2
    if m.observations < 2 or not var > 0:
        return math.nan
    z = (m.sharpe - benchmark) * math.sqrt(m.observations - 1) / math.sqrt(var)
    return _NORMAL.cdf(z)


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR0: the expected maximum per-period Sharpe ratio of ``trials`` skill-less trials."""
    if trials < 1:
        raise InvalidInputError("no trials", "evaluate at least one configuration")
    if trials == 1 or not variance > 0:
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a study's best configuration and what went into it."""

    dsr: float
    psr: float
    sharpe: float
    benchmark_sharpe: float
    trials: int
    sharpe_variance: float
    observations: int
    skewness: float
    kurtosis: float

    def to_dict(self) -> dict[str, Any]:
        return {k: _json(v) for k, v in asdict(self).items()}


def deflated_sharpe_ratio(
    moments: SharpeMoments, trials: int, sharpe_variance: float
) -> DeflatedSharpe:
    """DSR from the chosen configuration's moments, the number of trials and V[SR]."""
    sr0 = expected_max_sharpe(trials, sharpe_variance)
    return DeflatedSharpe(
        dsr=probabilistic_sharpe_ratio(moments, sr0),
        psr=probabilistic_sharpe_ratio(moments, 0.0),
        sharpe=moments.sharpe,
        benchmark_sharpe=sr0,
        trials=trials,
        sharpe_variance=sharpe_variance,
        observations=moments.observations,
        skewness=moments.skewness,
        kurtosis=moments.kurtosis,
    )


def deflated_sharpe_from_returns(best: np.ndarray, trials_returns: np.ndarray) -> DeflatedSharpe:
    """DSR of ``best`` given all trials' returns (T x N, one column per trial, best included)."""
    matrix = np.asarray(trials_returns, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise InvalidInputError("no trial returns", "evaluate at least one configuration")
    srs = sharpe_ratios(matrix)
    variance = float(np.var(srs, ddof=1)) if srs.size > 1 else 0.0
    return deflated_sharpe_ratio(SharpeMoments.of(best), int(matrix.shape[1]), variance)


def sharpe_ratios(matrix: np.ndarray) -> np.ndarray:
    """Per-period Sharpe ratio of every column (mean / std ddof=1; 0 for a flat column)."""
    m = np.asarray(matrix, dtype=np.float64)
    mean = m.mean(axis=0)
    std = m.std(axis=0, ddof=1) if m.shape[0] > 1 else np.zeros(m.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / np.where(std > 0, std, 1.0), 0.0)


@dataclass(frozen=True, slots=True)
class PBOResult:
    """Probability of backtest overfitting and its by-products.

    Attributes:
        pbo: share of splits whose in-sample winner ranks at or below the out-of-sample median.
        prob_oos_loss: share of splits where that winner's out-of-sample Sharpe ratio is < 0.
        slope, intercept: least-squares fit of OOS Sharpe on IS Sharpe of the winners (a slope
            well below 1 is performance degradation).
        splits: C(S, S/2) combinations evaluated; blocks: S; observations: rows used (T);
        configurations: N.
        logits: one per split (for a histogram).
    """

    pbo: float
    prob_oos_loss: float
    slope: float
    intercept: float
    splits: int
    blocks: int
    observations: int
    configurations: int
    logits: np.ndarray

    def to_dict(self, *, include_logits: bool = False) -> dict[str, Any]:
        out = {k: _json(getattr(self, k)) for k in self.__dataclass_fields__ if k != "logits"}
        if include_logits:
            out["logits"] = [_json(v) for v in self.logits.tolist()]
        return out


def probability_of_backtest_overfitting(returns: np.ndarray, blocks: int = 16) -> PBOResult:
    """PBO of the configurations whose per-period returns are the columns of ``returns``."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise InvalidInputError("PBO needs a T x N matrix of returns", "one column per trial")
    t, n = m.shape
    if blocks < 2 or blocks % 2:
        raise InvalidInputError(f"invalid number of blocks {blocks}", "use an even number >= 2")
    if n < 2:
        raise InvalidInputError("PBO needs at least 2 configurations", "evaluate more points")
    if t < 2 * blocks:
        raise InvalidInputError(
            f"PBO with {blocks} blocks needs at least {2 * blocks} returns, got {t}",
            "use fewer blocks or a longer history",
        )
    m = m[t % blocks :]
    size = m.shape[0] // blocks
    stacked = m.reshape(blocks, size, n)
    sums = stacked.sum(axis=1)
    squares = (stacked**2).sum(axis=1)
    combos = _combinations(blocks, blocks // 2)
    is_sr, oos_sr, logits = _cscv(sums, squares, size, combos)
    winners = np.isfinite(is_sr) & np.isfinite(oos_sr)
    varied = winners.sum() > 1 and np.ptp(is_sr[winners]) > 0
    slope, intercept = (
        np.polyfit(is_sr[winners], oos_sr[winners], 1) if varied else (math.nan, math.nan)
    )
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        prob_oos_loss=float(np.mean(oos_sr < 0.0)),
        slope=float(slope),
        intercept=float(intercept),
        splits=int(combos.shape[0]),
        blocks=blocks,
        observations=int(m.shape[0]),
        configurations=n,
        logits=logits,
    )


def _combinations(s: int, k: int) -> np.ndarray:
    import itertools

    return np.array(list(itertools.combinations(range(s), k)), dtype=np.int64)


@numba.njit(cache=True, error_model="numpy")
def _cscv(
    sums: np.ndarray, squares: np.ndarray, size: int, combos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, n = sums.shape
    c = combos.shape[0]
    half = combos.shape[1]
    count = half * size
    is_best = np.empty(c)
    oos_best = np.empty(c)
    logits = np.empty(c)
    chosen = np.zeros(s, np.bool_)
    total_sum = sums.sum(axis=0)
    total_sq = squares.sum(axis=0)
    r_is = np.empty(n)
    r_oos = np.empty(n)
    for j in range(c):
        chosen[:] = False
        for b in range(half):
            chosen[combos[j, b]] = True
        for col in range(n):
            a = 0.0
            q = 0.0
            for b in range(s):
                if chosen[b]:
                    a += sums[b, col]
                    q += squares[b, col]
            r_is[col] = _sharpe(a, q, count)
            r_oos[col] = _sharpe(total_sum[col] - a, total_sq[col] - q, count)
        star = np.argmax(r_is)
        below = 0.0
        ties = 0.0
        for col in range(n):
            if r_oos[col] < r_oos[star]:
                below += 1.0
            elif r_oos[col] == r_oos[star]:
                ties += 1.0
        rank = below + (ties + 1.0) / 2.0  # average rank, 1 = worst
        w = rank / (n + 1.0)
        is_best[j] = r_is[star]
        oos_best[j] = r_oos[star]
        logits[j] = math.log(w / (1.0 - w))
    return is_best, oos_best, logits


@numba.njit(cache=True, error_model="numpy")
def _sharpe(total: float, squares: float, count: int) -> float:
    mean = total / count
    var = (squares - count * mean * mean) / (count - 1)
    if var <= 1e-300:
        return 0.0
    return mean / math.sqrt(var)


def _json(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
