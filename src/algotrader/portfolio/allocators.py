"""Built-in allocators: how much of the equity each symbol gets on a decision bar.

Each is a :class:`~algotrader.portfolio.PortfolioStrategy` whose weights depend on the bars up to
the decision bar only (never on the book), so the engine can compute them ahead in one pass
(:meth:`Allocator.target_weights`); :meth:`Allocator.rebalance` gives the same numbers through the
per-bar view, which the tests check.

Statistics use *prices* (the close carried forward over missing bars, i.e. how holdings are
valued): their bar returns over the ``lookback`` bars ending at the decision bar. A symbol needs a
price ``lookback`` bars before the decision bar to qualify; a missing bar counts as a 0 return.

* ``equal``: 1/n for each listed symbol.
* ``inverse_vol``: w ~ 1 / std(returns) (sample std); zero or undefined volatility is left out.
* ``min_variance``: long-only minimum variance of the sample covariance (scipy NNLS, exact).
* ``risk_parity``: equal risk contributions (scipy L-BFGS-B on Spinu's formulation, polished
  with scipy's hybrid root finder).
  Both fall back to ``inverse_vol`` when the covariance is singular (e.g. fewer bars than symbols).
* ``momentum``: equal weight in the ``top_n`` symbols with the highest return over ``lookback``
  bars, ending ``skip`` bars before the decision bar (ties: symbol order).
* ``signals``: equal weight among the symbols where a single-symbol strategy is long on the
  decision bar; its signals come from the single-symbol engine on each symbol's own bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.portfolio import _optimise
from algotrader.portfolio.panel import Panel
from algotrader.portfolio.strategy import PanelView, PortfolioState, PortfolioStrategy


class Allocator(PortfolioStrategy):
    """A :class:`PortfolioStrategy` whose targets depend only on the bars (not on the book)."""

    def weights(self, panel: Panel) -> np.ndarray:
        """Targets on the panel's last bar (the panel ends at the decision bar)."""
        raise NotImplementedError

    def rebalance(
        self, date: pd.Timestamp, view: PanelView, portfolio: PortfolioState
    ) -> np.ndarray:
        return self.weights(view.panel)

    def target_weights(self, panel: Panel, bars: np.ndarray) -> np.ndarray:
        out = np.zeros((len(bars), panel.n_symbols))
        for k, t in enumerate(bars):
            out[k] = self.weights(panel.upto(int(t)))
        return out

    def selection(self, panel: Panel) -> np.ndarray:
        return panel.live_matrix() & _has_history(panel, getattr(self, "lookback", 0))


def _has_history(panel: Panel, lookback: int) -> np.ndarray:
    bars = np.arange(panel.n_bars)[:, None]
    return bars >= panel.first[None, :] + lookback


def _equal(mask: np.ndarray) -> np.ndarray:
    count = mask.sum(axis=-1, keepdims=True)
    return np.divide(mask, count, out=np.zeros(mask.shape), where=count > 0)


def _qualified(panel: Panel, lookback: int) -> np.ndarray:
    t = panel.n_bars - 1
    return np.asarray(panel.live & (panel.first <= t - lookback))


def _window_returns(panel: Panel, lookback: int, columns: np.ndarray) -> np.ndarray:
    window = panel.prices[panel.n_bars - 1 - lookback :, columns]
    return np.asarray(window[1:] / window[:-1] - 1.0)


class EqualWeight(Allocator):
    name = "equal"
    rule = "1/n of the equity in each listed symbol"

    def weights(self, panel: Panel) -> np.ndarray:
        return _equal(np.asarray(panel.live))

    def target_weights(self, panel: Panel, bars: np.ndarray) -> np.ndarray:
        rows = np.asarray(bars)[:, None]
        return _equal((rows >= panel.first[None, :]) & (rows <= panel.last[None, :]))


class _Lookback(Allocator):
    lookback: int

    def validate(self) -> None:
        if self.lookback < 2:
            raise InvalidInputError(
                f"invalid lookback {self.lookback} for {self.name}", "use at least 2 bars"
            )


class InverseVolatility(_Lookback):
    name = "inverse_vol"
    rule = "w ~ 1 / volatility of the last `lookback` bar returns"
    params: ClassVar[Mapping[str, Any]] = {"lookback": 63}

    def weights(self, panel: Panel) -> np.ndarray:
        out = np.zeros(panel.n_symbols)
        if panel.n_bars <= self.lookback:
            return out
        cols = np.flatnonzero(_qualified(panel, self.lookback))
        sigma = np.std(_window_returns(panel, self.lookback, cols), axis=0, ddof=1)
        ok = np.isfinite(sigma) & (sigma > 0)
        if ok.any():
            out[cols[ok]] = _optimise.inverse_vol(sigma[ok])
        return out


class _Covariance(_Lookback):
    params: ClassVar[Mapping[str, Any]] = {"lookback": 126}
    blas_threads: ClassVar[int] = 1  # one small solve per decision: threads only add waiting

    def _solve(self, returns: np.ndarray, cov: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weights(self, panel: Panel) -> np.ndarray:
        out = np.zeros(panel.n_symbols)
        if panel.n_bars <= self.lookback:
            return out
        cols = np.flatnonzero(_qualified(panel, self.lookback))
        returns = _window_returns(panel, self.lookback, cols)
        sigma = np.std(returns, axis=0, ddof=1)
        ok = np.isfinite(sigma) & (sigma > 0)
        cols, returns, sigma = cols[ok], returns[:, ok], sigma[ok]
        if cols.size == 0:
            return out
        cov = np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))
        if cols.size == 1:
            out[cols] = 1.0
        elif _optimise.is_singular(cov):
            out[cols] = _optimise.inverse_vol(sigma)
        else:
            out[cols] = self._solve(returns, cov)
        return out


class MinimumVariance(_Covariance):
    name = "min_variance"
    rule = "long-only minimum variance of the last `lookback` bar returns"

    def _solve(self, returns: np.ndarray, cov: np.ndarray) -> np.ndarray:
        return _optimise.min_variance(returns)


class RiskParity(_Covariance):
    name = "risk_parity"
    rule = "equal risk contributions over the last `lookback` bar returns"

    def _solve(self, returns: np.ndarray, cov: np.ndarray) -> np.ndarray:
        return _optimise.risk_parity(cov)


class Momentum(_Lookback):
    name = "momentum"
    rule = "equal weight in the top_n returns over `lookback` bars, `skip` bars ago"
    params: ClassVar[Mapping[str, Any]] = {"lookback": 126, "skip": 0, "top_n": 5}

    top_n: int
    skip: int

    def validate(self) -> None:
        super().validate()
        if self.top_n < 1 or self.skip < 0:
            raise InvalidInputError(
                f"invalid momentum top_n={self.top_n} skip={self.skip}", "use top_n >= 1, skip >= 0"
            )

    def _scores(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        # rows: decision bars; score = price[t - skip] / price[t - skip - lookback] - 1
        end = rows - self.skip
        start = end - self.lookback
        scores = np.full((rows.size, panel.n_symbols), -np.inf)
        ok = start >= 0
        if ok.any():
            prices = panel.prices
            raw = prices[end[ok]] / prices[start[ok]] - 1.0
            listed = (rows[ok, None] >= panel.first[None, :] + self.lookback + self.skip) & (
                rows[ok, None] <= panel.last[None, :]
            )
            scores[ok] = np.where(listed & np.isfinite(raw), raw, -np.inf)
        return scores

    def _top(self, scores: np.ndarray) -> np.ndarray:
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.top_n]
        chosen = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(chosen, order, True, axis=1)
        return chosen & np.isfinite(scores)

    def weights(self, panel: Panel) -> np.ndarray:
        rows = np.array([panel.n_bars - 1])
        return _equal(self._top(self._scores(panel, rows)))[0]

    def target_weights(self, panel: Panel, bars: np.ndarray) -> np.ndarray:
        return _equal(self._top(self._scores(panel, np.asarray(bars, dtype=np.int64))))

    def selection(self, panel: Panel) -> np.ndarray:
        return self._top(self._scores(panel, np.arange(panel.n_bars)))


class Signals(Allocator):
    """Equal weight among the symbols where a single-symbol strategy is long.

    Extra keyword parameters go to the strategy: ``Signals(strategy="ma_cross", fast=10)``.
    """

    name = "signals"
    rule = "equal weight among the symbols where `strategy` is long"
    params: ClassVar[Mapping[str, Any]] = {"strategy": "ma_cross"}

    strategy: Any

    def __init__(self, strategy: Any = "ma_cross", **strategy_params: Any) -> None:
        from algotrader.strategies.registry import get_strategy

        self.strategy = strategy
        self.strategy_params = dict(strategy_params)
        get_strategy(strategy, **strategy_params)  # unknown names fail now, not mid-run
        self._long: np.ndarray | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        from algotrader.strategies.registry import get_strategy, strategy_name

        name = self.strategy if isinstance(self.strategy, str) else strategy_name(
            get_strategy(self.strategy)
        )
        return {"strategy": name, **self.strategy_params}

    def prepare(self, panel: Panel) -> None:
        self._long = long_matrix(panel, self.strategy, self.strategy_params)

    def _held(self, rows: np.ndarray, panel: Panel) -> np.ndarray:
        if self._long is None or self._long.shape[0] < int(rows.max(initial=0)) + 1:
            raise RuntimeError("Signals.prepare(panel) must run before its weights")
        live = (rows[:, None] >= panel.first[None, :]) & (rows[:, None] <= panel.last[None, :])
        return np.asarray(self._long[rows] & live)

    def weights(self, panel: Panel) -> np.ndarray:
        return _equal(self._held(np.array([panel.n_bars - 1]), panel))[0]

    def target_weights(self, panel: Panel, bars: np.ndarray) -> np.ndarray:
        return _equal(self._held(np.asarray(bars, dtype=np.int64), panel))

    def selection(self, panel: Panel) -> np.ndarray:
        return self._held(np.arange(panel.n_bars), panel)


def long_matrix(panel: Panel, strategy: Any, params: Mapping[str, Any]) -> np.ndarray:
    """(bars, symbols) bool: the single-symbol strategy is long after each bar's signal.

    Each symbol's own bars go through the single-symbol engine with fills at the close, so the
    position it reports on bar t is the one its signal on bar t asked for (no later bar used); a
    missing bar keeps the previous state.
    """
    from algotrader.backtest.api import Backtest

    out = np.zeros((panel.n_bars, panel.n_symbols), dtype=bool)
    for j, symbol in enumerate(panel.symbols):
        frame = panel.frames[symbol]
        position = Backtest(frame, strategy, fill="close").run(**params).position.to_numpy()
        rows = panel.index.get_indexer(frame.index)
        state = np.full(panel.n_bars, -1, dtype=np.int64)
        state[rows] = np.arange(rows.size)
        np.maximum.accumulate(state, out=state)
        seen = state >= 0
        out[seen, j] = position[state[seen]] > 0
    return out


ALLOCATORS: dict[str, type[PortfolioStrategy]] = {
    cls.name: cls
    for cls in (EqualWeight, InverseVolatility, MinimumVariance, RiskParity, Momentum, Signals)
}

_ALIASES = {
    "equal_weight": "equal",
    "ew": "equal",
    "inverse_volatility": "inverse_vol",
    "inv_vol": "inverse_vol",
    "minimum_variance": "min_variance",
    "min_var": "min_variance",
    "erc": "risk_parity",
    "equal_risk": "risk_parity",
    "signal": "signals",
}
