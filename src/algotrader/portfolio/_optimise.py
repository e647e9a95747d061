"""Covariance-based weights through :mod:`scipy.optimize`.

Why scipy: both problems are small (one weight per symbol) and have exact, deterministic solvers
there: long-only minimum variance is a least-distance problem that the Lawson-Hanson active-set
NNLS solves exactly in finitely many steps (about 100x faster than SLSQP at 100 symbols, and more
accurate), and risk parity is a smooth convex problem (L-BFGS-B) whose optimality condition is a
root a Powell hybrid step polishes to machine precision. scipy is well-kept, has wheels
everywhere and no solver binaries to install, unlike cvxpy-based PyPortfolioOpt or
riskfolio-lib, whose extra power (many risk measures, conic solvers) these allocators do not need.
"""

from __future__ import annotations

import numpy as np

SINGULAR_RCOND = 1e-10
"""A covariance whose smallest eigenvalue is below this fraction of its largest is singular."""


def is_singular(cov: np.ndarray) -> bool:
    """True when ``cov`` cannot be inverted reliably (rank-deficient or near it)."""
    if cov.shape[0] == 0 or not np.isfinite(cov).all():
        return True
    eig = np.linalg.eigvalsh(cov)
    return bool(eig[0] <= SINGULAR_RCOND * max(eig[-1], 0.0))


def inverse_vol(sigma: np.ndarray) -> np.ndarray:
    """w_i = (1 / sigma_i) / sum_j (1 / sigma_j)."""
    inv = 1.0 / sigma
    return np.asarray(inv / inv.sum(), dtype=np.float64)


def min_variance(returns: np.ndarray) -> np.ndarray:
    """Long-only minimum variance of the sample covariance of ``returns`` (bars x symbols):
    argmin w'Cw subject to sum(w) = 1, w >= 0.

    With A the centred returns, w'Cw = |A w|^2 / (T - 1): the answer is the point of the convex
    hull of A's columns nearest the origin. Its dual is a least-distance program, which
    ``scipy.optimize.nnls`` solves as min |[A; 1'] u - [0; 1]| over u >= 0; the optimal u,
    normalised, are the weights (Lawson & Hanson, *Solving Least Squares Problems*, ch. 23).
    """
    from scipy.optimize import nnls

    centred = returns - returns.mean(axis=0)
    scaled = centred / np.sqrt(np.mean(centred * centred))
    system = np.vstack([scaled, np.ones((1, scaled.shape[1]))])
    target = np.zeros(system.shape[0])
    target[-1] = 1.0
    u, _ = nnls(system, target, maxiter=50 * system.shape[1])
    return _normalised(u)


def risk_parity(cov: np.ndarray) -> np.ndarray:
    """Equal risk contributions: w_i (Cw)_i the same for every i, long-only.

    Spinu's convex problem argmin_x 0.5 x'Cx - (1/n) sum log x_i over x > 0 (L-BFGS-B) has the
    answer (normalised to sum 1); its optimality condition Cx = (1/n) / x is then solved from
    there with MINPACK's hybrid method, which converges quadratically, so the contributions agree
    to ~1e-12 rather than the ~1e-6 a first-order stop gives.
    """
    from scipy.optimize import minimize, root

    scaled = cov / np.mean(np.diag(cov))
    n = cov.shape[0]
    budget = np.full(n, 1.0 / n)
    first = minimize(
        lambda x: float(0.5 * x @ scaled @ x - budget @ np.log(x)),
        inverse_vol(np.sqrt(np.diag(scaled))),
        jac=lambda x: scaled @ x - budget / x,
        method="L-BFGS-B",
        bounds=[(1e-12, None)] * n,
        options={"ftol": 0.0, "gtol": 1e-12, "maxiter": 10_000},
    )
    polished = root(
        lambda x: scaled @ x - budget / x,
        first.x,
        jac=lambda x: scaled + np.diag(budget / (x * x)),
        method="hybr",
    )
    best = polished.x if polished.success and (polished.x > 0).all() else first.x
    return _normalised(best)


def _normalised(w: np.ndarray) -> np.ndarray:
    w = np.clip(np.asarray(w, dtype=np.float64), 0.0, None)
    return w / w.sum()
