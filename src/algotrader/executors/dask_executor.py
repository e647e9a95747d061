"""A Dask cluster as an executor (``pip install -e ".[dask]"``).

``DaskExecutor("tcp://scheduler:8786")`` connects to a running cluster; ``DaskExecutor("local")``
starts a :class:`distributed.LocalCluster` of single-threaded worker processes (one per core) and
stops it on :meth:`close`. The shared object (the bars) is scattered once, broadcast to every
worker, so it survives the loss of any one worker; each task is submitted with a unique key
(``pure=False``) and ``retries``; a worker that dies mid-task has its tasks re-run elsewhere, and
results are collected by task index, so none is lost or counted twice. Workers run the same code
as this process: install the same algotrader version on them (and, for a strategy file, make it
readable at the same path).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from algotrader.errors import InvalidInputError
from algotrader.executors.local import THREAD_ENV, Closing

T = TypeVar("T")
R = TypeVar("R")

# Times a task cancelled because its input was lost is submitted again.
_RESUBMITS = 3


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InvalidInputError(
            "Dask execution needs the distributed package",
            'install it: pip install -e ".[dask]"',
        ) from None
    return distributed


class DaskExecutor(Closing):
    """Run tasks on a Dask cluster.

    Args:
        address: ``"tcp://host:8786"`` (or any scheduler address Dask accepts), or ``"local"`` to
            start a local cluster.
        workers: worker processes of a local cluster (default: one per core).
        retries: times a task that raised is retried (a worker dying does not use these up).
        client: an existing ``distributed.Client`` to use instead (not closed by :meth:`close`).
        connect_timeout: seconds to wait for the scheduler.
    """

    def __init__(
        self,
        address: str = "local",
        *,
        workers: int | None = None,
        retries: int = 1,
        client: Any = None,
        connect_timeout: float = 30.0,
    ) -> None:
        distributed = _import_distributed()
        self._cluster: Any = None
        self._owns_client = client is None
        self._retries = retries
        self._shared: Any = None
        self._shared_future: Any = None
        if client is not None:
            self._client = client
        elif address == "local":
            self._cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                env=dict(THREAD_ENV),
            )
            self._client = distributed.Client(self._cluster)
            # Every worker up before the first scatter, so that it reaches them all.
            self._client.wait_for_workers(len(self._cluster.workers), timeout=connect_timeout * 4)
        else:
            try:
                self._client = distributed.Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise InvalidInputError(
                    f"cannot reach the Dask scheduler at {address}: {exc}",
                    "start it (dask scheduler) or check --dask ADDRESS",
                ) from None
        self.address = self._client.scheduler.address

    @property
    def client(self) -> Any:
        return self._client

    @property
    def workers(self) -> int:
        info = self._client.scheduler_info()["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))

    def map_unordered(
        self, fn: Callable[[Any, T], R], shared: Any, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]:
        distributed = _import_distributed()
        data = self._scatter(shared)
        study = uuid.uuid4().hex[:12]

        def submit(i: int, attempt: int) -> Any:
            return self._client.submit(
                _call, fn, data, tasks[i], key=f"algotrader-{study}-{i}-{attempt}", pure=False,
                retries=self._retries,
            )  # fmt: skip

        futures = {submit(i, 0): i for i in range(len(tasks))}
        attempts = [0] * len(tasks)
        seen: set[int] = set()
        running = distributed.as_completed(futures, with_results=True, raise_errors=False)
        try:
            for future, result in running:
                index = futures[future]
                if index in seen:
                    continue
                if future.status == "cancelled" and attempts[index] < _RESUBMITS:
                    # The scheduler cancels the tasks whose input died with a worker (the
                    # shared data had no copy left): scatter it again and run them again.
                    attempts[index] += 1
                    data = self._scatter(shared, again=True)
                    again = submit(index, attempts[index])
                    futures[again] = index
                    running.add(again)
                    continue
                if isinstance(result, BaseException):
                    raise result
                seen.add(index)
                yield index, result
        finally:
            pending = [f for f, i in futures.items() if i not in seen]
            if pending:
                self._client.cancel(pending)

    def _scatter(self, shared: Any, *, again: bool = False) -> Any:
        # One scatter per shared object, copied to every worker: a worker's death loses no data
        # (``again``: it did, the copies were not all there yet).
        if again or self._shared_future is None or shared is not self._shared:
            [future] = self._client.scatter([shared], broadcast=True, hash=False)
            self._shared, self._shared_future = shared, future
        return self._shared_future

    def close(self) -> None:
        self._shared = self._shared_future = None
        if self._owns_client and self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _call(fn: Callable[[Any, T], R], shared: Any, task: T) -> R:
    return fn(shared, task)
