"""Regime detection: a Gaussian HMM (hmmlearn) fitted on a training window, read causally.

hmmlearn's ``predict`` / ``predict_proba`` run forward-backward or Viterbi over the whole series,
so the state they give at t depends on later bars. Here the fitted parameters are only used in
the *forward filter*: the regime at bar t is the most likely state given bars ``<= t``. States
are numbered by volatility (the variance of the first feature, a return): 0 is the calmest, so
labels mean the same thing in every retraining (HMM state ids otherwise permute between fits).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from algotrader.errors import DataNotFoundError, InvalidInputError

REGIME_FEATURES: tuple[str, ...] = ("ret_1", "vol_20")
_LOG_2PI = math.log(2.0 * math.pi)


class RegimeModel:
    """Fit on some sequences; label any sequence with its filtered, volatility-sorted state."""

    sequence_length = 0

    def __init__(self, *, states: int, n_iter: int, covariance: str, seed: int) -> None:
        if states < 2:
            raise InvalidInputError(f"invalid number of states {states}", "use 2 or more")
        if covariance not in ("diag", "full", "spherical"):
            raise InvalidInputError(
                f"invalid covariance {covariance!r}", 'use "diag", "full" or "spherical"'
            )
        self.states = int(states)
        self.n_iter = int(n_iter)
        self.covariance = covariance
        self.seed = seed
        self.converged = False
        self._mean = np.zeros(0)
        self._std = np.ones(0)
        self._log_start = np.zeros(0)
        self._log_trans = np.zeros((0, 0))
        self._means = np.zeros((0, 0))
        self._covars = np.zeros((0, 0, 0))

    def fit(self, sequences: list[np.ndarray]) -> None:
        """Fit on finite rows of each sequence (one per symbol, in time order)."""
        from hmmlearn.hmm import GaussianHMM

        parts = [s[np.isfinite(s).all(axis=1)] for s in sequences]
        parts = [p for p in parts if len(p)]
        rows = sum(len(p) for p in parts)
        if rows < 10 * self.states:
            raise DataNotFoundError(
                f"too little data: {rows} rows to fit a {self.states}-state regime model",
                "use a longer --train window",
            )
        X = np.concatenate(parts)
        self._mean = X.mean(axis=0)
        std = X.std(axis=0)
        self._std = np.where(std > 0, std, 1.0)
        hmm = GaussianHMM(
            n_components=self.states,
            covariance_type=self.covariance,
            n_iter=self.n_iter,
            random_state=self.seed,
            tol=1e-4,
        )
        hmm.fit((X - self._mean) / self._std, [len(p) for p in parts])
        self.converged = bool(hmm.monitor_.converged)
        order = np.argsort(np.asarray(hmm.covars_)[:, 0, 0], kind="stable")
        with np.errstate(divide="ignore"):
            self._log_start = np.log(hmm.startprob_[order])
            self._log_trans = np.log(hmm.transmat_[np.ix_(order, order)])
        self._means = np.asarray(hmm.means_)[order]
        self._covars = np.asarray(hmm.covars_)[order]

    def filter(self, X: np.ndarray) -> np.ndarray:
        """The filtered regime of every row (NaN where the row has a missing feature)."""
        finite = np.isfinite(X).all(axis=1)
        log_b = np.zeros((X.shape[0], self.states))
        if finite.any():
            log_b[finite] = self._log_emission((X[finite] - self._mean) / self._std)
        labels = _forward_filter(log_b, self._log_start, self._log_trans).astype(np.float64)
        labels[~finite] = np.nan
        return labels

    def state_volatility(self) -> list[float]:
        """Standard deviation of the first feature in each state (original units)."""
        return [float(math.sqrt(c[0, 0]) * self._std[0]) for c in self._covars]

    def _log_emission(self, Z: np.ndarray) -> np.ndarray:
        out = np.empty((Z.shape[0], self.states))
        for k in range(self.states):
            chol = np.linalg.cholesky(self._covars[k])
            solved = np.linalg.solve(chol, (Z - self._means[k]).T)
            log_det = 2.0 * np.log(np.diag(chol)).sum()
            out[:, k] = -0.5 * (Z.shape[1] * _LOG_2PI + log_det + (solved**2).sum(axis=0))
        return out


@numba.njit(cache=True)
def _forward_filter(log_b: np.ndarray, log_start: np.ndarray, log_trans: np.ndarray) -> np.ndarray:
    """argmax_k P(state_t = k | x_0..x_t) for every t (normalised forward recursion in logs)."""
    n, k = log_b.shape
    out = np.zeros(n, np.int64)
    if n == 0:
        return out
    alpha = log_start + log_b[0]
    alpha -= _logsumexp(alpha)
    out[0] = np.argmax(alpha)
    nxt = np.empty(k)
    for t in range(1, n):
        for j in range(k):
            nxt[j] = _logsumexp(alpha + log_trans[:, j]) + log_b[t, j]
        alpha = nxt - _logsumexp(nxt)
        out[t] = np.argmax(alpha)
    return out


@numba.njit(cache=True)
def _logsumexp(values: np.ndarray) -> float:
    top = values.max()
    if not np.isfinite(top):
        return top
    return top + np.log(np.exp(values - top).sum())


__all__ = ["REGIME_FEATURES", "RegimeModel"]
