"""Walk-forward optimisation: optimise on a training window, trade the next test window, move on.

Folds, for ``train="2 Y"``, ``test="6 M"`` (calendar offsets from the first bar):

* rolling: train ``[s + k*test, s + k*test + train)``, test ``[that end, that end + test)``;
* anchored: the training window always starts at the first bar and grows by ``test`` per fold.

Windows are half-open, so a test window never shares a bar with its training window, and test
windows follow each other without overlap. Folds stop when no full test window remains (the data
must reach within :data:`END_TOLERANCE` of the window's end: weekends and holidays).

On each test window the chosen parameters run as a fresh backtest (flat at the start, all cash);
the strategy's ``prepare`` sees the bars *before* the test window too (indicator warm-up), never a
bar after it. Fold equity curves are chained into one out-of-sample curve (each fold starts with
the previous fold's final equity), whose metrics are the headline. Walk-forward efficiency (Pardo)
= out-of-sample CAGR / in-sample CAGR, reported only when the in-sample CAGR is positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.metrics import compute_metrics
from algotrader.backtest.result import Result
from algotrader.errors import InvalidInputError
from algotrader.research.optimize import Progress, run_study, shared_bars
from algotrader.research.study import Study, StudyConfig
from algotrader.research.tasks import StrategyRef, TaskRunner, make_strategy
from algotrader.timeframes import Duration, parse_duration

END_TOLERANCE = pd.Timedelta(days=4)
"""How far before a test window's end the data may stop and the window still count as full."""

_OFFSET_UNITS = {"S": "seconds", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


@dataclass(frozen=True, slots=True)
class FoldWindow:
    """The bars of one fold: ``[train_start, train_end)`` then ``[test_start, test_end)``."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_rows: tuple[int, int]
    test_rows: tuple[int, int]


@dataclass(frozen=True)
class Fold:
    """One fold's outcome.

    Attributes:
        window: the fold's time windows and row ranges.
        params: parameters chosen on the training window (all strategy parameters).
        in_sample: metrics of the chosen point on the training window.
        out_of_sample: metrics of the test-window backtest.
        efficiency: OOS CAGR / IS CAGR, or ``None`` when the IS CAGR is not positive.
        study: the training-window study; result: the test-window backtest.
    """

    window: FoldWindow
    params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    efficiency: float | None
    study: Study
    result: Result

    def to_dict(self) -> dict[str, Any]:
        w = self.window
        return {
            "fold": w.number,
            "train": [w.train_start.isoformat(), w.train_end.isoformat()],
            "test": [w.test_start.isoformat(), w.test_end.isoformat()],
            "train_bars": w.train_rows[1] - w.train_rows[0],
            "test_bars": w.test_rows[1] - w.test_rows[0],
            "params": dict(self.params),
            "trials": self.study.n_trials,
            "in_sample": _jsonable(self.in_sample),
            "out_of_sample": _jsonable(self.out_of_sample),
            "efficiency": _json(self.efficiency),
        }


@dataclass(frozen=True)
class WalkForwardResult:
    """Every fold plus the stitched out-of-sample curve.

    Attributes:
        config: the study run on every training window.
        train, test, anchored: the fold geometry.
        folds: in time order.
        equity / buy_hold / position: stitched over the test windows.
        out_of_sample: metrics of the stitched curve (the headline numbers).
        in_sample: the folds' in-sample metrics, averaged.
        efficiency: stitched OOS CAGR / mean IS CAGR (``None`` unless the latter is > 0).
        oos_t_stat: per-period Sharpe ratio of the stitched curve x sqrt(number of returns).
    """

    config: StudyConfig
    train: Duration
    test: Duration
    anchored: bool
    folds: tuple[Fold, ...]
    equity: pd.Series
    buy_hold: pd.Series
    position: pd.Series
    out_of_sample: dict[str, float]
    in_sample: dict[str, float]
    efficiency: float | None
    oos_t_stat: float

    def table(self) -> pd.DataFrame:
        """One row per fold: windows, parameters, IS and OOS objective, efficiency."""
        metric = self.config.objective.metric
        rows = []
        for f in self.folds:
            w = f.window
            rows.append({
                "fold": w.number, "train_start": w.train_start, "test_start": w.test_start,
                "test_end": w.test_end, **f.params,
                f"is_{metric}": f.in_sample.get(metric),
                f"oos_{metric}": f.out_of_sample.get(metric),
                "is_cagr": f.in_sample.get("cagr"), "oos_cagr": f.out_of_sample.get("cagr"),
                "efficiency": f.efficiency,
            })
        return pd.DataFrame(rows).set_index("fold")

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "train": str(self.train),
            "test": str(self.test),
            "anchored": self.anchored,
            "folds": [f.to_dict() for f in self.folds],
            "out_of_sample": _jsonable(self.out_of_sample),
            "in_sample": _jsonable(self.in_sample),
            "efficiency": _json(self.efficiency),
            "oos_t_stat": _json(self.oos_t_stat),
        }


def fold_windows(
    index: pd.DatetimeIndex, train: Duration | str, test: Duration | str, anchored: bool = False
) -> list[FoldWindow]:
    """The folds that fit in ``index`` (see the module docs)."""
    train_d = train if isinstance(train, Duration) else parse_duration(train)
    test_d = test if isinstance(test, Duration) else parse_duration(test)
    idx = pd.DatetimeIndex(index)
    if len(idx) < 4:
        raise InvalidInputError(f"{len(idx)} bars are too few for a walk-forward", "load more")
    first, last = idx[0], idx[-1]
    folds: list[FoldWindow] = []
    k = 0
    while True:
        train_start = first if anchored else _shift(first, test_d, k)
        train_end = _shift(_shift(first, train_d, 1), test_d, k) if anchored else _shift(
            train_start, train_d, 1
        )
        test_end = _shift(train_end, test_d, 1)
        if test_end > last + END_TOLERANCE:
            break
        train_rows = (int(idx.searchsorted(train_start)), int(idx.searchsorted(train_end)))
        test_rows = (train_rows[1], int(idx.searchsorted(test_end)))
        if train_rows[1] - train_rows[0] >= 2 and test_rows[1] - test_rows[0] >= 2:
            folds.append(FoldWindow(len(folds) + 1, train_start, train_end, train_end, test_end,
                                    train_rows, test_rows))
        k += 1
    if not folds:
        raise InvalidInputError(
            f"no walk-forward fold fits: {train_d} of training plus {test_d} of testing needs "
            f"more than the {first.date()} .. {last.date()} of bars",
            "load a longer history or shorten --train/--test",
        )
    return folds


def walk_forward(
    frame: pd.DataFrame,
    config: StudyConfig,
    *,
    train: Duration | str,
    test: Duration | str,
    anchored: bool = False,
    executor: TaskRunner | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    symbol: str = "DATA",
) -> WalkForwardResult:
    """Walk-forward ``config`` over ``frame`` (one symbol; bars shipped to workers once)."""
    train_d = train if isinstance(train, Duration) else parse_duration(train)
    test_d = test if isinstance(test, Duration) else parse_duration(test)
    if config.objective.pool is not None:
        raise InvalidInputError("walk-forward runs on one symbol", "drop the pooled objective")
    windows = fold_windows(pd.DatetimeIndex(frame.index), train_d, test_d, anchored)
    shared = shared_bars({symbol: frame}, config, executor)
    folds = []
    for w in windows:
        study = run_study(
            {symbol: frame}, config, executor=executor, threads=threads,
            rows={symbol: w.train_rows}, shared=shared,
            progress=_fold_progress(progress, w.number, len(windows)),
        )
        folds.append(_run_fold(frame, w, study, symbol))
    return _stitch(config, train_d, test_d, anchored, folds)


def _fold_progress(progress: Progress | None, fold: int, folds: int) -> Progress | None:
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        progress((fold - 1) * total + done, folds * total)

    return report


def _run_fold(frame: pd.DataFrame, w: FoldWindow, study: Study, symbol: str) -> Fold:
    best = study.best
    params = study.params_of(best)
    ref = StrategyRef.of(study.config.strategy)
    strategy = make_strategy(ref.resolve(), {}, params)
    lo, hi = w.test_rows
    warm = warm_started(strategy, frame.iloc[:lo], frame.iloc[lo:hi])
    result = run_backtest(
        frame.iloc[lo:hi], warm, study.config.backtest,
        path=study.config.path,  # type: ignore[arg-type]
        resolution=study.config.resolution,
    )
    in_sample = dict(best.metrics[symbol])
    out = dict(result.metrics)
    return Fold(w, params, in_sample, out, _efficiency(out["cagr"], in_sample["cagr"]), study,
                result)


def warm_started(strategy: Any, history: pd.DataFrame, window: pd.DataFrame) -> Any:
    """``strategy`` whose ``prepare`` of ``window`` also sees ``history`` (the bars before it).

    The derived columns are computed once over history + window and cut to the window's rows,
    so indicators are warm on the window's first bar without any bar after it being used. The
    returned object is a copy whose class is a slot-less subclass overriding only ``prepare``:
    ``signals``/``on_bar`` and the engine's path choice are unchanged.
    """
    full = pd.concat([history, window]) if len(history) else window
    prepare = getattr(strategy, "prepare", None)
    prepared = prepare(full).iloc[len(history):] if callable(prepare) else window
    cls = type(strategy)

    def _prepare(self: Any, frame: pd.DataFrame) -> pd.DataFrame:
        return prepared

    sub = type(cls.__name__, (cls,), {"prepare": _prepare, "__slots__": (),
                                      "__module__": cls.__module__})
    import copy

    clone = copy.copy(strategy)
    clone.__class__ = sub
    return clone


def _efficiency(oos_cagr: float, is_cagr: float) -> float | None:
    if not (math.isfinite(is_cagr) and is_cagr > 0 and math.isfinite(oos_cagr)):
        return None
    return oos_cagr / is_cagr


def _stitch(
    config: StudyConfig, train: Duration, test: Duration, anchored: bool, folds: list[Fold]
) -> WalkForwardResult:
    cash = float(config.backtest.cash)
    parts, bh_parts, pos_parts, pnl_parts = [], [], [], []
    scale = bh_scale = 1.0
    for f in folds:
        r = f.result
        parts.append(r.equity * scale)
        bh_parts.append(r.buy_hold * bh_scale)
        pos_parts.append(r.position)
        pnl_parts.append(r.trades["pnl"].to_numpy() * scale)
        scale = float(parts[-1].iloc[-1]) / cash
        bh_scale = float(bh_parts[-1].iloc[-1]) / cash
    equity = pd.concat(parts).rename("equity")
    buy_hold = pd.concat(bh_parts).rename("buy_hold")
    position = pd.concat(pos_parts).rename("position")
    index = pd.DatetimeIndex(equity.index)
    oos = compute_metrics(
        index, equity.to_numpy(), buy_hold.to_numpy(), position.to_numpy(),
        np.concatenate(pnl_parts) if pnl_parts else np.empty(0), cash=cash,
        resolution=str(config.resolution or folds[0].study.config.resolution),
        risk_free_rate=config.backtest.risk_free_rate,
    )
    in_sample = _mean_metrics([f.in_sample for f in folds])
    returns = equity.to_numpy()[1:] / equity.to_numpy()[:-1] - 1.0
    sd = float(np.std(returns, ddof=1)) if returns.size > 1 else math.nan
    t_stat = float(np.mean(returns) / sd * math.sqrt(returns.size)) if sd > 0 else math.nan
    return WalkForwardResult(
        config=folds[0].study.config, train=train, test=test, anchored=anchored,
        folds=tuple(folds), equity=equity, buy_hold=buy_hold, position=position,
        out_of_sample=oos, in_sample=in_sample,
        efficiency=_efficiency(oos["cagr"], in_sample.get("cagr", math.nan)), oos_t_stat=t_stat,
    )


def _mean_metrics(rows: list[Mapping[str, float]]) -> dict[str, float]:
    out = {}
    for key in rows[0]:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        finite = [v for v in values if math.isfinite(v)]
        out[key] = math.fsum(finite) / len(finite) if finite else math.nan
    return out


def _shift(ts: pd.Timestamp, d: Duration, times: int) -> pd.Timestamp:
    if times == 0:
        return ts
    return ts + pd.DateOffset(**{_OFFSET_UNITS[d.unit]: d.count * times})  # type: ignore[arg-type]


def _json(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _jsonable(metrics: Mapping[str, float]) -> dict[str, Any]:
    return {k: _json(v) for k, v in metrics.items()}
