"""What travels to a worker: a strategy reference, the evaluation settings and chunks of points.

An executor ships the bars (``{symbol: frame}``) once per worker and then many small
:class:`EvalTask` objects; :func:`evaluate_task` is the function it runs on them. Everything here is
picklable by reference to importable code, so it works under ``spawn`` and on Dask workers.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd

from algotrader.backtest.result import BacktestConfig
from algotrader.errors import InvalidInputError, UserError
from algotrader.strategies.base import Strategy
from algotrader.strategies.registry import get_strategy, strategy_class

ReturnsPeriod = Literal["bar", "1d"]
T = TypeVar("T")
R = TypeVar("R")

_USER_MODULE_PREFIX = "_algotrader_user_strategy_"


class TaskRunner(Protocol):
    """The part of :class:`algotrader.ports.executor.Executor` the research code uses.

    ``map_unordered(fn, shared, tasks)`` runs ``fn(shared, task)`` for every task (``shared`` is
    shipped to each worker once) and yields ``(task_index, result)`` as results arrive, each index
    exactly once. Declared here because the domain may not import ``ports``.
    """

    @property
    def workers(self) -> int: ...

    def map_unordered(
        self, fn: Callable[[Any, T], R], shared: Any, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]: ...


class InlineRunner:
    """Runs tasks one after the other in this process (the default for small work)."""

    workers = 1
    in_process = True

    def map_unordered(
        self, fn: Callable[[Any, T], R], shared: Any, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]:
        for i, task in enumerate(tasks):
            yield i, fn(shared, task)


@dataclass(frozen=True, slots=True)
class StrategyRef:
    """How any process finds a strategy class again.

    ``spec`` is a registry name, an entry point or an absolute ``path/file.py:Class`` (the file
    must be readable at that path on every worker); ``cls`` is an importable class sent by
    reference. ``local_only`` marks a class defined interactively (``__main__`` without a file),
    which only this process can run.
    """

    spec: str | None = None
    cls: type | None = None
    local_only: bool = False

    @classmethod
    def of(cls, strategy: Any) -> StrategyRef:
        if isinstance(strategy, str):
            text = strategy.strip()
            klass = strategy_class(text)
            if klass.__module__.startswith(_USER_MODULE_PREFIX):
                return cls.of(klass)
            return cls(spec=text)
        klass = strategy if inspect.isclass(strategy) else type(strategy)
        klass = strategy_class(klass)
        module = sys.modules.get(klass.__module__)
        if klass.__module__.startswith(_USER_MODULE_PREFIX) and module is not None:
            path = getattr(module, "__file__", None)
            if path:
                return cls(spec=f"{path}:{klass.__qualname__}")
        if klass.__module__ == "__main__" and not getattr(module, "__file__", None):
            return cls(cls=klass, local_only=True)
        return cls(cls=klass)

    def resolve(self) -> type:
        if self.cls is not None:
            return self.cls
        assert self.spec is not None
        return strategy_class(self.spec)

    @property
    def label(self) -> str:
        if self.spec is not None:
            return self.spec
        assert self.cls is not None
        return self.cls.__qualname__


@dataclass(frozen=True, slots=True)
class EvalSpec:
    """Settings shared by every point of a study (small: sent with each task)."""

    strategy: StrategyRef
    config: BacktestConfig
    resolution: str
    returns_period: ReturnsPeriod
    fixed: Mapping[str, Any] = field(default_factory=dict)
    engine_only: bool = False
    path: str = "auto"


@dataclass(frozen=True, slots=True)
class EvalTask:
    """A chunk of points to evaluate on rows ``[rows[0], rows[1])`` of one symbol's frame."""

    spec: EvalSpec
    symbol: str
    rows: tuple[int, int]
    points: tuple[tuple[int, Mapping[str, Any]], ...]
    threads: int = 1


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One point on one symbol: its metrics and float32 per-period returns, or why it failed.

    ``seconds`` is the compute time of the chunk it came in, divided evenly (for benchmarks).
    """

    point: int
    symbol: str
    metrics: dict[str, float] | None
    returns: np.ndarray | None
    error: str | None = None
    seconds: float = 0.0


def make_strategy(cls: type, fixed: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """An instance of ``cls`` with ``fixed`` then ``params`` applied (raises :class:`UserError`)."""
    merged = {**fixed, **params} if fixed else params
    if issubclass(cls, Strategy):
        return cls(**merged)  # what get_strategy does, minus its per-call class checks
    return get_strategy(cls, **merged)


def evaluate_task(shared: Mapping[str, pd.DataFrame], task: EvalTask) -> list[Evaluation]:
    """Evaluate a chunk of points (the function executors run)."""
    from algotrader.research import _fastpath

    started = time.perf_counter()
    frame = shared[task.symbol]
    lo, hi = task.rows
    if lo != 0 or hi != len(frame):
        frame = frame.iloc[lo:hi]
    out = _fastpath.evaluate_points(frame, task.spec, task.symbol, task.points, task.threads)
    per_point = (time.perf_counter() - started) / max(1, len(out))
    return [_with_seconds(e, per_point) for e in out]


def _with_seconds(e: Evaluation, seconds: float) -> Evaluation:
    return Evaluation(e.point, e.symbol, e.metrics, e.returns, e.error, seconds)


def error_text(exc: BaseException) -> str:
    """One line describing why a point failed."""
    if isinstance(exc, UserError):
        return exc.message
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return (
            f"the strategy reads column {exc.args[0]!r}, which the bars lack: "
            "compute indicators first (Backtest does) or check the name"
        )
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def chunked(items: Sequence[T], size: int) -> list[tuple[T, ...]]:
    """``items`` in consecutive chunks of at most ``size``."""
    size = max(1, size)
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def chunk_size(points: int, workers: int, fast: bool) -> int:
    """Chunks per worker: 2 on the fast path (one compiled pass each), 4 otherwise (balance)."""
    per_worker = 2 if fast else 4
    return max(1, math.ceil(points / max(1, workers * per_worker)))


def in_process(runner: TaskRunner) -> bool:
    """True for runners that execute tasks in this very process (no pickling, all threads)."""
    return bool(getattr(runner, "in_process", False))


def check_shippable(ref: StrategyRef, runner: TaskRunner) -> None:
    if ref.local_only and not in_process(runner):
        raise InvalidInputError(
            f"strategy {ref.label} is defined interactively and cannot run in worker processes",
            "move it to a .py file (path/file.py:Class) or run with jobs=1",
        )
