"""Evaluating chunks of points: the compiled fast paths and the normal engine.

* ``ma_cross`` (the built-in): every window's SMA is computed once per chunk with the indicator
  the strategy itself uses, then :func:`~algotrader.research._kernels.ma_cross_grid` runs all
  points in one compiled call (split over threads when asked).
* other built-ins with a vectorised ``signals``: ``prepare`` + ``signals`` per point in Python,
  then one compiled call per point instead of building a full :class:`Result`.
* anything else (user strategies, ``engine_only``): :func:`run_backtest`, the reference.

All three give the same metrics and per-period returns to the last bit (tested).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.metrics import (
    _per_period_rate,
    _ratio,
    alpha,
    cagr,
    calmar_ratio,
    periods_per_year,
    profit_factor,
    win_rate,
    years_between,
)
from algotrader.errors import InvalidInputError, UserError
from algotrader.research import _kernels as K
from algotrader.research.returns import period_ends, period_returns
from algotrader.research.tasks import EvalSpec, Evaluation, error_text, make_strategy
from algotrader.timeframes import parse_resolution

_BUILTIN_PREFIX = "algotrader.strategies."


def fast_kind(cls: type, spec: EvalSpec) -> str:
    """``"ma_cross"``, ``"signals"`` or ``"engine"``: how points of ``cls`` are evaluated."""
    from algotrader.strategies.ma_cross import MACross

    if spec.engine_only or spec.path != "auto":
        return "engine"
    if cls is MACross:
        return "ma_cross"
    # Built-ins define on_bar and signals in one class and test that they agree, so the signals
    # path is what the engine's "auto" choice runs too. User classes always take the engine.
    if cls.__module__.startswith(_BUILTIN_PREFIX) and "signals" in vars(cls):
        return "signals"
    return "engine"


@dataclass(frozen=True)
class _Frame:
    """Per-chunk constants: price arrays, annualisation and the return periods."""

    frame: pd.DataFrame
    index: pd.DatetimeIndex
    open_: np.ndarray
    close: np.ndarray
    periods: float
    years: float
    rf: float
    ends: np.ndarray
    spec: EvalSpec

    @classmethod
    def of(cls, frame: pd.DataFrame, spec: EvalSpec) -> _Frame:
        index = pd.DatetimeIndex(frame.index)
        periods = periods_per_year(index, parse_resolution(spec.resolution))
        return cls(
            frame=frame,
            index=index,
            open_=np.ascontiguousarray(frame["open"].to_numpy(dtype=np.float64)),
            close=np.ascontiguousarray(frame["close"].to_numpy(dtype=np.float64)),
            periods=periods,
            years=years_between(index),
            rf=_per_period_rate(spec.config.risk_free_rate, periods),
            ends=period_ends(index, spec.returns_period),
            spec=spec,
        )

    @property
    def settings(self) -> tuple[Any, ...]:
        c = self.spec.config
        # All floats: an int (commission_min=0) would compile the kernels again for that type.
        costs = (c.cash, c.commission_per_share, c.commission_bps, c.commission_min,
                 c.slippage_bps)  # fmt: skip
        return (c.fill == "close", c.allow_short, c.whole_shares, *map(float, costs))


def evaluate_points(
    frame: pd.DataFrame,
    spec: EvalSpec,
    symbol: str,
    points: Sequence[tuple[int, Mapping[str, Any]]],
    threads: int = 1,
) -> list[Evaluation]:
    """Evaluate ``points`` (``(id, params)``) of ``spec.strategy`` on ``frame``."""
    _check_frame(frame)
    ctx = _Frame.of(frame, spec)
    out: list[Evaluation] = []
    valid: list[tuple[int, Any]] = []
    cls = spec.strategy.resolve()
    for pid, params in points:
        try:
            valid.append((pid, make_strategy(cls, spec.fixed, params)))
        except UserError as exc:
            out.append(Evaluation(pid, symbol, None, None, error_text(exc)))
    kind = fast_kind(cls, spec)
    if kind == "ma_cross":
        out.extend(_ma_cross(ctx, symbol, valid, threads))
    elif kind == "signals":
        out.extend(_guarded(_signals_point, ctx, symbol, pid, s) for pid, s in valid)
    else:
        out.extend(_guarded(_engine_point, ctx, symbol, pid, s) for pid, s in valid)
    order = {pid: k for k, (pid, _) in enumerate(points)}
    return sorted(out, key=lambda e: order[e.point])


def _check_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in ("open", "close") if c not in frame.columns]
    if missing or len(frame) < 2:
        raise InvalidInputError(
            f"cannot optimise on {len(frame)} bars" + (f" without {missing}" if missing else ""),
            "use a longer window of OHLCV bars",
        )


def _guarded(fn: Any, ctx: _Frame, symbol: str, pid: int, strategy: Any) -> Evaluation:
    try:
        metrics, returns = fn(ctx, strategy)
    except Exception as exc:  # a user strategy's bug fails its point, not the study
        return Evaluation(pid, symbol, None, None, error_text(exc))
    return Evaluation(pid, symbol, metrics, returns)


def _engine_point(ctx: _Frame, strategy: Any) -> tuple[dict[str, float], np.ndarray]:
    result = run_backtest(
        ctx.frame,
        strategy,
        ctx.spec.config,
        path=ctx.spec.path,  # type: ignore[arg-type]
        resolution=ctx.spec.resolution,
    )
    equity = result.equity.to_numpy(dtype=np.float64)
    return dict(result.metrics), period_returns(equity, ctx.ends)


def _signals_point(ctx: _Frame, strategy: Any) -> tuple[dict[str, float], np.ndarray]:
    if callable(getattr(strategy, "start", None)):
        strategy.start()
    prepared = strategy.prepare(ctx.frame)
    sig = np.ascontiguousarray(np.asarray(strategy.signals(prepared)).astype(np.int8))
    stats = np.empty(K.N_STATS)
    returns = np.empty(max(0, ctx.ends.size - 1), np.float32)
    pnl, _bars = K.evaluate_signals(  # type: ignore[call-arg]
        ctx.open_, ctx.close, sig, *ctx.settings, ctx.rf, ctx.ends, stats, returns
    )
    days = drawdown_days(ctx.index, stats[K.S_PEAK : K.S_PEAK + 1], stats[K.S_END : K.S_END + 1])
    return metrics_from_stats(ctx, stats.tolist(), pnl, days[0]), returns


def _ma_cross(
    ctx: _Frame, symbol: str, valid: list[tuple[int, Any]], threads: int
) -> list[Evaluation]:
    if not valid:
        return []
    from algotrader.indicators import sma

    windows = sorted({int(s.fast) for _, s in valid} | {int(s.slow) for _, s in valid})
    row = {w: k for k, w in enumerate(windows)}
    averages = np.empty((len(windows), ctx.close.size))
    for w, k in row.items():
        averages[k] = sma(ctx.close, w)
    fast_row = np.array([row[int(s.fast)] for _, s in valid], np.int64)
    slow_row = np.array([row[int(s.slow)] for _, s in valid], np.int64)
    stats = np.empty((len(valid), K.N_STATS))
    returns = np.empty((len(valid), max(0, ctx.ends.size - 1)), np.float32)

    def run(part: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return K.ma_cross_grid(  # type: ignore[no-any-return,call-arg]
            ctx.open_, ctx.close, averages, fast_row[part], slow_row[part], *ctx.settings,
            ctx.rf, ctx.ends, stats[part], returns[part],
        )

    # Threads pay off only when there is real work (~1M bar-evaluations per thread).
    threads = min(threads, max(1, len(valid) * ctx.close.size // 1_000_000))
    parts = _split(len(valid), threads)
    if len(parts) == 1:
        outputs = [run(parts[0])]
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            outputs = list(pool.map(run, parts))
    days = drawdown_days(ctx.index, stats[:, K.S_PEAK], stats[:, K.S_END])
    out = []
    for part, (pnl, _bars, offsets) in zip(parts, outputs, strict=True):
        for j, p in enumerate(range(part.start or 0, part.stop)):
            metrics = metrics_from_stats(
                ctx, stats[p].tolist(), pnl[offsets[j] : offsets[j + 1]], days[p]
            )
            out.append(Evaluation(valid[p][0], symbol, metrics, returns[p]))
    return out


def _split(count: int, parts: int) -> list[slice]:
    parts = max(1, min(parts, count))
    bounds = [round(k * count / parts) for k in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def drawdown_days(index: pd.DatetimeIndex, peak: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Calendar days from each drawdown's peak to its end, as ``compute_metrics`` divides them.

    pandas divides a Timedelta by ``Timedelta(days=1)`` as ``float(a) / float(b)`` in the finer
    of the two units, and so does the vectorised operation used here (checked by the fast-path
    tests on spans long enough for nanosecond counts to exceed 2**53).
    """
    idx = pd.DatetimeIndex(index)
    spans = idx[end.astype(np.int64)] - idx[peak.astype(np.int64)]
    return np.asarray(spans / pd.Timedelta(days=1), dtype=np.float64)


def metrics_from_stats(
    ctx: _Frame, row: list[float], pnl: np.ndarray, dd_days: float
) -> dict[str, float]:
    """``compute_metrics`` from a kernel's statistics row: same formulas, same operand order."""
    cash = float(ctx.spec.config.cash)
    total = float(row[K.S_FINAL] / cash - 1.0)
    bh = float(row[K.S_BH_FINAL] / cash - 1.0)
    growth = cagr(total, ctx.years)
    mean, std, down = row[K.S_MEAN], row[K.S_STD], row[K.S_DOWN]
    dd, peak, end = float(row[K.S_DD]), int(row[K.S_PEAK]), int(row[K.S_END])
    n = ctx.close.size
    return {
        "total_return": total,
        "buy_hold_return": bh,
        "alpha": alpha(total, bh),
        "cagr": growth,
        "volatility": float(std * math.sqrt(ctx.periods)),
        "sharpe": _ratio(mean - ctx.rf, std, ctx.periods),
        "sortino": _ratio(mean - ctx.rf, down, ctx.periods),
        "max_drawdown": dd,
        "max_drawdown_duration_bars": end - peak,
        "max_drawdown_duration_days": float(dd_days),
        "calmar": calmar_ratio(growth, dd),
        "num_trades": int(pnl.size),
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "exposure": float(int(row[K.S_EXPOSED]) / n),
        "periods_per_year": ctx.periods,
        "years": ctx.years,
    }
