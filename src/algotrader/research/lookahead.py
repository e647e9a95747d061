"""Look-ahead check: does a strategy use bars it could not have seen yet?

In the spirit of Freqtrade's lookahead-analysis, the strategy runs on the full bars and then on
prefixes cut at chosen bars ``t``: every column ``prepare`` adds or changes and every signal up to
``t`` must be identical (bit for bit, NaN equal to NaN) whether or not the bars after ``t`` exist.
A second probe keeps the length but perturbs every bar after ``t`` (prices scaled by random
factors): nothing up to ``t`` may move either, which also catches centred windows that a cut
would merely turn into NaN. Finally the ``on_bar`` and ``signals`` paths must agree on the full
bars. Cut points are the bars where the strategy signals (up to ``max_cuts // 2``, the likeliest
places for a leak) plus evenly spaced ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest.engine import signals_from_on_bar
from algotrader.errors import InvalidInputError
from algotrader.strategies.registry import get_strategy, strategy_name

_PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of evidence of look-ahead.

    Attributes:
        kind: ``"column"`` (a derived column changed), ``"signal"`` (a signal changed) or
            ``"paths"`` (``on_bar`` and ``signals`` disagree).
        name: the column, or ``"signals"``/the path pair.
        probe: ``"cut"``, ``"perturb"`` or ``"paths"``.
        cut: the bar after which data was removed or perturbed (``None`` for ``"paths"``).
        bar: the first bar (<= cut) whose value changed.
        at: that bar's timestamp.
        full / changed: the value on the full data and on the probed data.
    """

    kind: str
    name: str
    probe: str
    cut: int | None
    bar: int
    at: pd.Timestamp
    full: Any
    changed: Any

    def describe(self) -> str:
        full, changed = _show(self.full), _show(self.changed)
        if self.kind == "paths":
            return (f"on_bar and signals disagree first at bar {self.bar} ({self.at}): "
                    f"signals={full}, on_bar={changed}")
        how = "removed" if self.probe == "cut" else "perturbed"
        return (f"{self.kind} {self.name!r} at bar {self.bar} ({self.at}) changes from "
                f"{full} to {changed} when the bars after {self.cut} are {how}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "probe": self.probe, "cut": self.cut,
            "bar": self.bar, "at": self.at.isoformat(), "full": _json(self.full),
            "changed": _json(self.changed),
        }


@dataclass(frozen=True)
class LookaheadReport:
    """The verdict of :func:`check_lookahead`.

    Attributes:
        strategy: the strategy's name; params: its parameters.
        biased: True when any finding was made.
        findings: the evidence (at most one per column/signal per probe kind).
        cuts: the bars probed; columns: the derived columns compared; paths_compared: whether
            both an ``on_bar`` and a ``signals`` path existed to compare.
    """

    strategy: str
    params: dict[str, Any]
    biased: bool
    findings: tuple[Finding, ...]
    cuts: tuple[int, ...]
    columns: tuple[str, ...]
    paths_compared: bool
    bars: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> str:
        """One line: ``ma_cross: no look-ahead found (...)`` or ``X: LOOK-AHEAD: ...``."""
        if self.biased:
            first = self.findings[0].describe()
            more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            return f"{self.strategy}: LOOK-AHEAD BIAS: {first}{more}"
        paths = ", on_bar == signals" if self.paths_compared else ""
        return (f"{self.strategy}: no look-ahead found ({len(self.cuts)} cuts x 2 probes, "
                f"{len(self.columns)} derived columns{paths}, {self.bars} bars)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "params": dict(self.params), "biased": self.biased,
            "verdict": self.verdict, "cuts": list(self.cuts), "columns": list(self.columns),
            "paths_compared": self.paths_compared, "bars": self.bars,
            "findings": [f.to_dict() for f in self.findings], "notes": list(self.notes),
        }


def check_lookahead(
    frame: pd.DataFrame,
    strategy: Any,
    params: dict[str, Any] | None = None,
    *,
    max_cuts: int = 12,
    seed: int = 0,
    indicators: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> LookaheadReport:
    """Probe ``strategy`` (name, class or instance) with ``params`` on ``frame``.

    ``indicators``, when given, derives the indicator columns from the bars (e.g. a function
    calling :func:`algotrader.indicators.compute_indicators`); it is applied to every probed
    frame too, so the indicators are checked along with the strategy's own columns.
    """
    if len(frame) < 10:
        raise InvalidInputError(f"{len(frame)} bars are too few to check", "use at least 10")
    raw = frame
    derive = indicators or (lambda f: f)
    frame = derive(raw)
    make = _factory(strategy, params or {})
    probe = make()
    full_prepared = _prepare(probe, frame)
    columns = _derived_columns(raw if indicators else frame, full_prepared)
    full_signals = _signals(make, frame, full_prepared)
    findings: list[Finding] = []
    notes: list[str] = []
    paths_compared = _compare_paths(make, frame, full_prepared, findings)
    if not paths_compared:
        notes.append("only one of on_bar / signals exists: paths not compared")
    cuts = _cut_points(full_signals, probe, full_prepared, max_cuts)
    rng = np.random.default_rng(seed)
    reported: set[tuple[str, str, str]] = set()
    for cut in cuts:
        probes = (("cut", raw.iloc[: cut + 1]), ("perturb", _perturb(raw, cut, rng)))
        for kind, probed_raw in probes:
            probed = derive(probed_raw)
            prepared = _prepare(make(), probed)
            signals = _signals(make, probed, prepared)
            _compare(full_prepared, prepared, columns, full_signals, signals, cut, kind, frame,
                     findings, reported)
    return LookaheadReport(
        strategy=strategy_name(probe), params=_params(probe), biased=bool(findings),
        findings=tuple(findings), cuts=tuple(cuts), columns=tuple(columns),
        paths_compared=paths_compared, bars=len(frame), notes=tuple(notes),
    )


def _factory(strategy: Any, params: dict[str, Any]) -> Any:
    if isinstance(strategy, (str, type)):
        get_strategy(strategy, **params)  # fail early on bad parameters
        return lambda: get_strategy(strategy, **params)
    import copy

    return lambda: copy.deepcopy(strategy)


def _params(strategy: Any) -> dict[str, Any]:
    from algotrader.strategies.registry import strategy_params

    return strategy_params(strategy)


def _prepare(strategy: Any, frame: pd.DataFrame) -> pd.DataFrame:
    prepare = getattr(strategy, "prepare", None)
    return prepare(frame) if callable(prepare) else frame


def _derived_columns(frame: pd.DataFrame, prepared: pd.DataFrame) -> list[str]:
    out = []
    for col in prepared.columns:
        if col not in frame.columns:
            out.append(str(col))
        elif not _same(frame[col].to_numpy(), prepared[col].to_numpy()):
            out.append(str(col))  # prepare rewrote an input column
    return out


def _signals(make: Any, frame: pd.DataFrame, prepared: pd.DataFrame) -> np.ndarray:
    strategy = make()
    if callable(getattr(strategy, "signals", None)):
        return np.asarray(strategy.signals(prepared)).astype(np.int8)
    return signals_from_on_bar(strategy, prepared)


def _compare_paths(
    make: Any, frame: pd.DataFrame, prepared: pd.DataFrame, findings: list[Finding]
) -> bool:
    strategy = make()
    if not (callable(getattr(strategy, "signals", None)) and _has_own_on_bar(strategy)):
        return False
    vectorised = np.asarray(strategy.signals(prepared)).astype(np.int8)
    per_bar = signals_from_on_bar(make(), prepared)
    diff = np.flatnonzero(vectorised != per_bar)
    if diff.size:
        bar = int(diff[0])
        findings.append(Finding("paths", "on_bar vs signals", "paths", None, bar,
                                pd.Timestamp(frame.index[bar]), int(vectorised[bar]),
                                int(per_bar[bar])))
    return True


def _has_own_on_bar(strategy: Any) -> bool:
    for klass in type(strategy).__mro__:
        if "on_bar" in vars(klass):
            return klass.__module__ != "algotrader.strategies.base"
    return False


def _cut_points(
    signals: np.ndarray, strategy: Any, prepared: pd.DataFrame, max_cuts: int
) -> list[int]:
    n = signals.size
    warm = getattr(strategy, "warmup_bars", None)
    start = min(int(warm(prepared)) if callable(warm) else 0, n - 2)
    start = max(start, 1)
    fired = [int(i) for i in np.flatnonzero(signals) if start <= i < n - 1]
    chosen: set[int] = set()
    if fired:
        picks = np.linspace(0, len(fired) - 1, num=min(len(fired), max(1, max_cuts // 2)))
        chosen.update(fired[round(k)] for k in picks)
    spaced = np.linspace(start, n - 2, num=max(2, max_cuts - len(chosen)))
    chosen.update(round(k) for k in spaced)
    return sorted(c for c in chosen if 0 <= c < n - 1)[:max_cuts]


def _perturb(frame: pd.DataFrame, cut: int, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    tail = len(frame) - cut - 1
    if tail <= 0:
        return out
    factor = np.exp(rng.normal(0.0, 0.05, tail))
    for col in _PRICE_COLUMNS:
        if col in out.columns:
            values = out[col].to_numpy(dtype=np.float64).copy()
            values[cut + 1 :] *= factor
            out[col] = values
    if "volume" in out.columns:
        values = out["volume"].to_numpy(dtype=np.float64).copy()
        values[cut + 1 :] *= rng.uniform(0.5, 1.5, tail)
        out["volume"] = values
    return out


def _compare(
    full: pd.DataFrame,
    probed: pd.DataFrame,
    columns: list[str],
    full_signals: np.ndarray,
    signals: np.ndarray,
    cut: int,
    kind: str,
    frame: pd.DataFrame,
    findings: list[Finding],
    reported: set[tuple[str, str, str]],
) -> None:
    upto = cut + 1
    for col in columns:
        if ("column", col, kind) in reported:
            continue
        if col not in probed.columns:
            continue
        a = full[col].to_numpy()[:upto]
        b = probed[col].to_numpy()[:upto]
        bar = _first_difference(a, b)
        if bar is not None:
            reported.add(("column", col, kind))
            findings.append(Finding("column", col, kind, cut, bar,
                                    pd.Timestamp(frame.index[bar]), a[bar], b[bar]))
    if ("signal", "signals", kind) not in reported:
        bar = _first_difference(full_signals[:upto], signals[:upto])
        if bar is not None:
            reported.add(("signal", "signals", kind))
            findings.append(Finding("signal", "signals", kind, cut, bar,
                                    pd.Timestamp(frame.index[bar]), int(full_signals[bar]),
                                    int(signals[bar])))


def _first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        same = [x == y or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b, strict=True)]
        diff = ~np.array(same, dtype=bool)
    elif a.dtype.kind in "fc" or b.dtype.kind in "fc":
        x, y = a.astype(np.float64), b.astype(np.float64)
        diff = ~((x == y) | (np.isnan(x) & np.isnan(y)))
    else:
        diff = a != b
    hits = np.flatnonzero(diff)
    return int(hits[0]) if hits.size else None


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return _first_difference(a, b) is None


def _show(value: Any) -> str:
    value = _json(value) if not isinstance(value, (float, np.floating)) else float(value)
    return repr(value)


def _json(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
