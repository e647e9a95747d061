"""Port: somewhere to run many independent tasks (this process, local processes, a Dask cluster).

The research use cases (optimisation, walk-forward) hand an :class:`Executor` a module-level
function, one *shared* object (the bars, possibly large) and a sequence of small tasks. Contract:

* ``shared`` reaches each worker once per executor lifetime (not once per task); passing the same
  object again reuses what the workers already hold.
* ``fn(shared, task)`` runs once per task, somewhere; results are yielded as ``(task_index,
  result)`` in completion order, every index exactly once, even when a worker dies mid-task (the
  task is re-run elsewhere; tasks must therefore be deterministic and side-effect free).
* An exception raised by ``fn`` is re-raised to the caller (remaining tasks are cancelled).
* ``fn`` must be importable by reference (a module-level function of an installed package) and
  ``shared``/tasks picklable, since workers are fresh ``spawn`` processes or remote machines.
* An executor that runs tasks in the caller's own process says so with ``in_process = True``
  (callers may then skip copies and use threads inside tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn(shared, task)`` for many tasks; see the module docs for the contract."""

    @property
    def workers(self) -> int:
        """How many tasks can run at once (1 for in-process execution)."""
        ...

    def map_unordered(
        self, fn: Callable[[Any, T], R], shared: Any, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]:
        """Run every task; yield ``(index, result)`` as results arrive."""
        ...

    def close(self) -> None:
        """Release workers, clusters and temporary files (idempotent)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
