"""Jobs run by workers: their records, the store that keeps them and the queue that delivers
them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from algotrader.ports.runs import RunStore

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class JobRecord:
    """A submitted job: its kind and payload, its state, the attempts made, its result."""

    id: int
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    queue_id: int | None = None

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES


class JobAttempt(Protocol):
    """One attempt at a job, inside one database transaction: runs stored through ``runs`` and
    the result given to :meth:`succeed` are committed together when the attempt ends without an
    error, or not at all."""

    runs: RunStore

    def succeed(self, result: dict[str, Any]) -> None: ...


class JobStore(Protocol):
    def submit(self, kind: str, payload: dict[str, Any]) -> JobRecord:
        """Store a new job and put it on the queue, atomically."""
        ...

    def get(self, job_id: int) -> JobRecord: ...

    def latest(self, limit: int = 50, state: str | None = None) -> list[JobRecord]: ...

    def start(self, job_id: int, worker: str) -> JobRecord | None:
        """Mark the job running (one more attempt, by ``worker``); None when it is already
        finished."""
        ...

    def attempt(self, job_id: int) -> AbstractContextManager[JobAttempt | None]:
        """A transaction holding the job's row; None inside when the job is already finished."""
        ...

    def finish(self, job_id: int, state: JobState, error: str | None) -> None:
        """End an unfinished job as failed or cancelled (or put it back to ``queued`` for a
        retry)."""
        ...

    def cancel(self, job_id: int) -> JobRecord:
        """Cancel a queued job, or ask a running one to stop; the record afterwards."""
        ...


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs: its name, jobs at a time, and how it finds jobs of dead workers
    (heartbeat every ``heartbeat_seconds``; a worker silent for ``stalled_after_seconds`` is
    dead and its job is queued again; checked every ``stalled_check_seconds``)."""

    name: str
    concurrency: int = 1
    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 30.0
    stalled_check_seconds: int = 60
    poll_seconds: float = 5.0


JobHandler = Callable[[int, Callable[[], bool]], None]
"""What a worker calls for each delivered job: ``handler(job_id, should_stop)``."""


class JobQueue(Protocol):
    def run_worker(
        self, handler: JobHandler, options: WorkerOptions, stop: threading.Event
    ) -> None:
        """Run jobs until ``stop`` is set (running jobs finish first)."""
        ...
