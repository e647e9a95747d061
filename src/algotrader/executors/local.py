"""Executors on this machine: :class:`InlineExecutor` (this process) and :class:`LocalExecutor`
(a pool of ``spawn``-ed worker processes, one per core by default).

The pool's workers are started with numba, OpenMP and BLAS limited to one thread each (the
parallelism is the processes; nested threads would only fight over the cores). The shared object
(the bars) is pickled once into a private temporary file; each worker loads it the first time a
task needs it and keeps it until a different shared object arrives, so bars cross the process
boundary once per worker, not once per task. A worker that dies (killed, out of memory) breaks the
pool: it is rebuilt and the unfinished tasks are submitted again, at most twice.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from types import TracebackType
from typing import Any, Self, TypeVar

from algotrader.errors import InvalidInputError
from algotrader.research.tasks import InlineRunner

T = TypeVar("T")
R = TypeVar("R")

THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ALGOTRADER_WORKER": "1",
}
"""Environment of every worker process: one thread per library, marked as a worker."""

_ENV_LOCK = threading.Lock()
_RESTARTS = 2

# Worker-side state: the shared object currently held and how many times one was loaded.
_held: tuple[str, Any] | None = None
_loads = 0


class Closing:
    """``with executor:`` closes it at the end."""

    def close(self) -> None:
        """Release the workers (nothing to release by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InlineExecutor(InlineRunner, Closing):
    """Runs every task in this process, in order (``workers == 1``)."""


class LocalExecutor(Closing):
    """A pool of ``jobs`` worker processes (default: one per core), started on first use."""

    def __init__(self, jobs: int | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise InvalidInputError(f"invalid number of jobs {jobs}", "use --jobs N with N >= 1")
        self._jobs = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._dir: str | None = None
        self._shared: Any = None
        self._shared_file: tuple[str, str] | None = None
        self._closed = False

    @property
    def workers(self) -> int:
        return self._jobs

    def start(self) -> None:
        """Start every worker now and wait until each has imported the research code."""
        pool = self._ensure_pool()
        futures = [pool.submit(_warm_up) for _ in range(self._jobs)]
        try:
            for f in futures:
                f.result()
        except BrokenProcessPool as exc:
            self._discard_pool()
            raise _bootstrap_error() from exc

    def map_unordered(
        self, fn: Callable[[Any, T], R], shared: Any, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]:
        if self._closed:
            raise RuntimeError("this LocalExecutor is closed")
        token, path = self._publish(shared)
        pending = set(range(len(tasks)))
        for attempt in range(_RESTARTS + 1):
            pool = self._ensure_pool()
            futures: dict[Future[R], int] = {
                pool.submit(_run_task, fn, token, path, tasks[i]): i for i in sorted(pending)
            }
            try:
                yield from self._drain(futures, pending)
                return
            except BrokenProcessPool as exc:
                self._discard_pool()
                if attempt == _RESTARTS:
                    if len(pending) == len(tasks):  # not one task ever finished
                        raise _bootstrap_error() from exc
                    raise RuntimeError(
                        f"worker processes died {attempt + 1} times (out of memory?); "
                        f"{len(pending)} of {len(tasks)} tasks unfinished"
                    ) from exc
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _drain(self, futures: dict[Future[R], int], pending: set[int]) -> Iterator[tuple[int, R]]:
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=lambda f: futures[f]):
                index = futures[f]
                result = f.result()  # re-raises the task's exception (or BrokenProcessPool)
                if index in pending:
                    pending.discard(index)
                    yield index, result

    def _publish(self, shared: Any) -> tuple[str, str]:
        if self._shared_file is not None and shared is self._shared:
            return self._shared_file
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="algotrader-exec-")
        if self._shared_file is not None:
            os.unlink(self._shared_file[1])
        token = uuid.uuid4().hex
        path = os.path.join(self._dir, f"{token}.pkl")
        with open(path, "wb") as fh:
            pickle.dump(shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared, self._shared_file = shared, (token, path)
        return self._shared_file

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = _spawn_pool(self._jobs)
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self._closed = True
        self._discard_pool()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._shared = self._shared_file = None

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


def _spawn_pool(jobs: int) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=_init_worker
    )
    # Workers are spawned by submit(), with the environment current at that moment: submit one
    # no-op per worker under the pinned environment so every worker starts single-threaded.
    with _pinned_env():
        for _ in range(jobs):
            pool.submit(_noop)
    return pool


@contextmanager
def _pinned_env() -> Iterator[None]:
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update(THREAD_ENV)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _bootstrap_error() -> InvalidInputError:
    return InvalidInputError(
        "the worker processes could not start",
        "in a script, run the study under `if __name__ == \"__main__\":` (workers are spawned "
        "and re-import the script), or use jobs=1",
    )


def _init_worker() -> None:
    # Belt and braces for a worker spawned outside _pinned_env (e.g. a replacement).
    os.environ.update(THREAD_ENV)
    import numba

    numba.set_num_threads(1)


def _noop() -> None:
    return None


def _warm_up() -> int:
    # Load the compiled kernels from numba's cache now (a second or so per fresh process) by
    # evaluating two tiny points: one on the fast path, one through the engine.
    import numpy as np
    import pandas as pd

    from algotrader.backtest.result import BacktestConfig
    from algotrader.research._fastpath import evaluate_points
    from algotrader.research.tasks import EvalSpec, StrategyRef

    close = np.linspace(10.0, 12.0, 60) + np.sin(np.arange(60.0))
    index = pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC")
    frame = pd.DataFrame({"open": close, "close": close}, index=index)
    for engine_only in (False, True):
        spec = EvalSpec(StrategyRef.of("ma_cross"), BacktestConfig(), "1d", "bar",
                        engine_only=engine_only)
        evaluate_points(frame, spec, "warm-up", [(0, {"fast": 3, "slow": 7})])
    return os.getpid()


def _run_task(fn: Callable[[Any, T], R], token: str, path: str, task: T) -> R:
    global _held, _loads
    if _held is None or _held[0] != token:
        _held = None  # let the previous bars go before loading the next ones
        with open(path, "rb") as fh:
            _held = (token, pickle.load(fh))
        _loads += 1
    return fn(_held[1], task)


def probe(shared: Any, task: Any) -> dict[str, Any]:
    """A diagnostic task: which process ran it and how often that process loaded shared data."""
    return {"pid": os.getpid(), "loads": _loads, "task": task,
            "numba_threads": os.environ.get("NUMBA_NUM_THREADS")}
