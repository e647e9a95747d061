"""The portfolio engine: panel + allocator + settings -> :class:`PortfolioResult`.

Decisions come from one of two paths that give the same targets:

* **fast**: an allocator with :meth:`~PortfolioStrategy.target_weights` computes the targets of
  every scheduled bar ahead (each from bars up to its own bar) and the numba kernel runs all bars
  in one call;
* **rebalance** (the reference, and the only path for user strategies): the kernel stops on each
  decision bar and :meth:`~PortfolioStrategy.rebalance` is called with a view cut at that bar and
  the book at its close.

Targets are checked (finite, >= 0 unless shorting is allowed, gross <= margin, only listed
symbols) and capped (:mod:`algotrader.portfolio.constraints`) on both paths.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.portfolio import _kernel
from algotrader.portfolio._assemble import (
    Book,
    benchmark_curve,
    fills_frame,
    per_symbol_frame,
    portfolio_metrics,
    trades_frame,
)
from algotrader.portfolio.config import PortfolioConfig
from algotrader.portfolio.constraints import apply_caps, caps_for
from algotrader.portfolio.panel import Panel, build_panel, frame_fingerprint
from algotrader.portfolio.result import PortfolioResult, iso
from algotrader.portfolio.schedules import period_starts, selection_changes
from algotrader.portfolio.strategy import PanelView, PortfolioState, PortfolioStrategy
from algotrader.timeframes import RESOLUTIONS, Resolution, parse_resolution

DecisionPath = Literal["auto", "rebalance"]

_CALENDAR = ("daily", "weekly", "monthly", "quarterly")
_WEIGHT_TOL = 1e-9


def run_portfolio(
    panel: Panel,
    strategy: PortfolioStrategy,
    config: PortfolioConfig | None = None,
    *,
    path: DecisionPath = "auto",
    resolution: str | Resolution | None = None,
    benchmark_bars: pd.DataFrame | None = None,
) -> PortfolioResult:
    """Backtest ``strategy`` over ``panel`` (see :func:`~algotrader.portfolio.build_panel`).

    Args:
        panel: the aligned bars.
        strategy: an allocator or user :class:`PortfolioStrategy` instance.
        config: the settings; defaults to :class:`PortfolioConfig()`.
        path: ``"auto"`` (precomputed targets when the strategy offers them) or ``"rebalance"``.
        resolution: bar size for annualising; inferred from the timestamps when omitted.
        benchmark_bars: the bars of ``config.benchmark`` when it is not one of the symbols.
    """
    cfg = config or PortfolioConfig()
    if path not in ("auto", "rebalance"):
        raise InvalidInputError(f"invalid path {path!r}", 'use "auto" or "rebalance"')
    _check_benchmark(panel, cfg, benchmark_bars)
    if benchmark_bars is not None and cfg.benchmark is not None:
        benchmark_bars = build_panel({cfg.benchmark: benchmark_bars}).frames[cfg.benchmark]
    res = infer_resolution(panel.index, resolution)
    with _blas_threads(getattr(strategy, "blas_threads", None)):
        strategy.prepare(panel)
        decisions = _Decisions(panel, strategy, cfg, fast=path == "auto")
        plan, weights = decisions.plan()
        book = _simulate(panel, plan, weights, decisions, cfg)
    return _result(panel, strategy, cfg, res, book, decisions, benchmark_bars)


def _blas_threads(limit: int | None) -> AbstractContextManager[object]:
    # Many tiny matrix problems (one per decision) run up to 20x slower when OpenBLAS spreads
    # each over threads that spin-wait on a busy machine: allocators may ask for a limit.
    if limit is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=limit, user_api="blas")


def infer_resolution(index: pd.DatetimeIndex, given: str | Resolution | None) -> Resolution:
    """``given`` parsed, or the bar size nearest (log scale) to the median bar spacing."""
    if given is not None:
        return given if isinstance(given, Resolution) else parse_resolution(given)
    if len(index) < 2:
        return RESOLUTIONS["1d"]
    step = float(np.median(np.diff(index[:10_001].as_unit("ns").asi8))) / 1e9
    return min(RESOLUTIONS.values(), key=lambda r: abs(math.log(max(step, 1.0) / r.seconds)))


def _check_benchmark(panel: Panel, cfg: PortfolioConfig, bars: pd.DataFrame | None) -> None:
    if cfg.benchmark is None:
        if bars is not None:
            raise InvalidInputError("benchmark bars given without a benchmark name",
                                    "set benchmark='SYMBOL'")
        return
    if bars is None and cfg.benchmark not in panel.symbols:
        close = difflib.get_close_matches(cfg.benchmark, panel.symbols, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"benchmark {cfg.benchmark!r} is not among the symbols",
            f"{hint}add its bars (benchmark_bars=...) or pick one of the symbols",
        )


class _Decisions:
    """Schedules decisions, asks the strategy, checks and caps its targets, logs them."""

    def __init__(
        self, panel: Panel, strategy: PortfolioStrategy, cfg: PortfolioConfig, *, fast: bool
    ) -> None:
        self.panel = panel
        self.strategy = strategy
        self.cfg = cfg
        self.fast = fast
        self.caps = caps_for(cfg, panel.symbols)
        self.bars: list[int] = []
        self.rows: list[np.ndarray] = []

    def plan(self) -> tuple[np.ndarray, np.ndarray]:
        """(plan per bar for the kernel, precomputed target rows)."""
        n_bars, n = self.panel.n_bars, self.panel.n_symbols
        plan = np.full(n_bars, _kernel.NOT_SCHEDULED, np.int64)
        bars = self._scheduled_bars()
        if self.fast and self.cfg.rebalance != "drift":
            rows = self.strategy.target_weights(self.panel, bars)
            if rows is not None:
                rows = self._checked(np.asarray(rows, dtype=np.float64), bars)
                plan[bars] = np.arange(bars.size)
                self.bars, self.rows = list(bars), list(rows)
                return plan, rows
        plan[bars] = _kernel.ASK
        return plan, np.zeros((0, n))

    def _scheduled_bars(self) -> np.ndarray:
        schedule = self.cfg.rebalance
        if schedule in _CALENDAR:
            return np.flatnonzero(period_starts(self.panel.index, schedule))
        selected = self.strategy.selection(self.panel)
        if selected is None:
            if schedule == "drift":
                return np.flatnonzero(selection_changes(self.panel.live_matrix()))
            return np.arange(self.panel.n_bars)
        return np.flatnonzero(selection_changes(np.asarray(selected, dtype=bool)))

    def decide(self, t: int, book: tuple[np.ndarray, ...]) -> np.ndarray | None:
        """The targets for bar ``t`` (``None``: leave the book as it is)."""
        answer: Any = None
        if self.fast:
            answer = self.strategy.target_weights(self.panel, np.array([t]))
        if answer is None:
            view = PanelView(self.panel.upto(t))
            answer = self.strategy.rebalance(view.date, view, _state(self.panel, t, book))
            if answer is None:
                return None
            answer = as_row(answer, self.panel.symbols, self.panel.index[t])
        row = self._checked(np.atleast_2d(np.asarray(answer, dtype=np.float64)), np.array([t]))[0]
        self.bars.append(t)
        self.rows.append(row)
        return row

    def _checked(self, rows: np.ndarray, bars: np.ndarray) -> np.ndarray:
        n = self.panel.n_symbols
        if rows.shape != (bars.size, n):
            raise InvalidInputError(
                f"{type(self.strategy).__name__} gave targets of shape {rows.shape}",
                f"give one weight per symbol ({n})",
            )
        live = (bars[:, None] >= self.panel.first[None, :]) & (
            bars[:, None] <= self.panel.last[None, :]
        )
        problems = [
            (~np.isfinite(rows), "is not a finite number", "return numbers"),
            (~live & (rows != 0), "is not listed then", "give it 0 before its first bar "
             "and after its last"),
        ]
        if not self.cfg.allow_short:
            problems.append((rows < 0, "is negative", "use weights >= 0 or allow_short=True"))
        for bad, what, fix in problems:
            if bad.any():
                k, j = np.argwhere(bad)[0]
                when = iso(self.panel.index[bars[k]])
                raise InvalidInputError(
                    f"the target for {self.panel.symbols[j]} on {when} {what} "
                    f"({float(rows[k, j]):g})", fix)
        gross = np.abs(rows).sum(axis=1)
        if (gross > self.cfg.margin + _WEIGHT_TOL).any():
            k = int(np.argmax(gross))
            raise InvalidInputError(
                f"the targets on {iso(self.panel.index[bars[k]])} add up to {gross[k]:.6g}",
                f"keep the total <= margin ({self.cfg.margin:g}); the rest is held as cash",
            )
        return apply_caps(rows, self.caps)


def as_row(answer: Any, symbols: tuple[str, ...], when: pd.Timestamp) -> np.ndarray:
    """A ``rebalance`` answer (mapping, Series, sequence) as one weight per symbol."""
    if isinstance(answer, (Mapping, pd.Series)):
        items = answer.items()
        position = {s: j for j, s in enumerate(symbols)}
        row = np.zeros(len(symbols))
        for symbol, weight in items:
            if symbol not in position:
                close = difflib.get_close_matches(str(symbol), symbols, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise InvalidInputError(
                    f"rebalance on {iso(when)} named unknown symbol {symbol!r}",
                    f"{hint}use the symbols of the run",
                )
            row[position[symbol]] = weight
        return row
    return np.asarray(answer, dtype=np.float64)


def _state(panel: Panel, t: int, book: tuple[np.ndarray, ...]) -> PortfolioState:
    acct, qty, last_px, _pending, target, _delta = book
    columns = pd.Index(panel.symbols, name="symbol")
    values = np.where(qty != 0.0, qty * np.nan_to_num(last_px), 0.0)
    equity = float(acct[0] + values.sum())
    weights = values / equity if equity else np.zeros_like(values)
    return PortfolioState(
        date=panel.index[t],
        cash=float(acct[0]),
        equity=equity,
        shares=pd.Series(qty.copy(), index=columns, name="shares"),
        values=pd.Series(values, index=columns, name="value"),
        weights=pd.Series(weights, index=columns, name="weight"),
        targets=pd.Series(target.copy(), index=columns, name="target"),
    )


def _simulate(
    panel: Panel, plan: np.ndarray, weights: np.ndarray, decisions: _Decisions,
    cfg: PortfolioConfig,
) -> Book:
    n_bars, n = panel.n_bars, panel.n_symbols
    book = (np.array([cfg.cash, 0.0]), np.zeros(n), np.full(n, np.nan), np.full(n, np.nan),
            np.zeros(n), np.zeros(n))
    costs = (bool(cfg.whole_shares), float(cfg.commission_per_share), float(cfg.commission_bps),
             float(cfg.commission_min), float(cfg.slippage_bps), float(cfg.margin))
    equity, cash, value = np.empty(n_bars), np.empty(n_bars), np.empty((n_bars, n))
    scheduled = int(np.count_nonzero(plan != _kernel.NOT_SCHEDULED))
    fills = _fill_buffers(n * (min(scheduled, 64) + 4))
    drift = float(cfg.drift_threshold) if cfg.rebalance == "drift" else 0.0
    answer = np.zeros(n)
    t, resume, nf = 0, _kernel.RESUME_NONE, 0
    while True:
        t, status, nf = _kernel.advance(
            t, resume, panel.open, panel.close, panel.last, plan, weights, answer, drift,
            cfg.fill == "close", costs, book, equity, cash, value, fills, nf,
        )
        resume = _kernel.RESUME_NONE
        if status == _kernel.DONE:
            break
        if status == _kernel.GROW:
            fills = _grown(fills, nf)
            continue
        row = decisions.decide(t, book)
        if row is None:
            resume = _kernel.RESUME_SKIP
        else:
            answer[:] = row
            resume = _kernel.RESUME_APPLY
    return Book(equity, cash, value, book[2].copy(), *(f[:nf].copy() for f in fills))


def _fill_buffers(size: int) -> tuple[np.ndarray, ...]:
    return (np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int8),
            np.empty(size), np.empty(size), np.empty(size))


def _grown(fills: tuple[np.ndarray, ...], used: int) -> tuple[np.ndarray, ...]:
    bigger = _fill_buffers(2 * fills[0].size)
    for old, new in zip(fills, bigger, strict=True):
        new[:used] = old[:used]
    return bigger


def _result(
    panel: Panel, strategy: PortfolioStrategy, cfg: PortfolioConfig, res: Resolution, book: Book,
    decisions: _Decisions, benchmark_bars: pd.DataFrame | None,
) -> PortfolioResult:
    index = panel.index
    columns = pd.Index(panel.symbols, name="symbol")
    fills = fills_frame(panel, book)
    trades = trades_frame(panel, book)
    bench = benchmark_curve(panel, cfg.benchmark, benchmark_bars, cfg.cash, cfg.fill == "close")
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = book.value / book.equity[:, None]
    targets = np.array(decisions.rows).reshape(-1, panel.n_symbols)
    return PortfolioResult(
        allocator=strategy.name or type(strategy).__name__,
        params=dict(strategy.parameters),
        config=cfg,
        resolution=res.name,
        symbols=panel.symbols,
        fingerprint=run_fingerprint(panel, cfg.benchmark, benchmark_bars),
        equity=pd.Series(book.equity, index=index, name="equity", copy=False),
        benchmark=pd.Series(bench, index=index, name="benchmark", copy=False),
        cash=pd.Series(book.cash, index=index, name="cash", copy=False),
        weights=pd.DataFrame(weights, index=index, columns=columns, copy=False),
        targets=pd.DataFrame(targets, index=index[np.array(decisions.bars, dtype=np.int64)],
                             columns=columns),
        fills=fills,
        trades=trades,
        per_symbol=per_symbol_frame(panel, book, trades, cfg.cash),
        metrics=portfolio_metrics(panel, book, bench, trades, cfg.cash, res, cfg.risk_free_rate),
    )


def run_fingerprint(panel: Panel, benchmark: str | None, bars: pd.DataFrame | None) -> str:
    """The fingerprint a run on ``panel`` records: the panel's, plus a separate benchmark's."""
    if bars is None:
        return panel.fingerprint
    import hashlib

    digest = hashlib.sha256(panel.fingerprint.encode())
    clean = build_panel({str(benchmark): bars}).frames[str(benchmark)]
    digest.update(f"benchmark:{benchmark}\0".encode() + frame_fingerprint(clean).encode())
    return digest.hexdigest()
