"""Running a service: logging, the ``/metrics`` + ``/healthz`` endpoint, signals, clean stop.

Both services stop on SIGTERM or SIGINT: the scheduler lets the refresh in hand finish its
current series (what was stored stays stored; the run is marked ``interrupted``), the worker lets
the job in hand finish (a job is committed whole or not at all, so even a SIGKILL leaves nothing
half-written: the job runs again elsewhere). A second signal ends the process at once.
SIGUSR1 writes every thread's stack to the log, to show where a service that does not stop is.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from algotrader.app.jobs import JobOutcome, serve_jobs
from algotrader.app.monitoring import StatusReader
from algotrader.config import Settings
from algotrader.ports.jobs import WorkerOptions
from algotrader.services.calendar import check_calendar
from algotrader.services.collectors import StatusCollector
from algotrader.services.endpoint import ServiceEndpoint, service_registry
from algotrader.services.logs import configure_logging
from algotrader.services.scheduler import RefreshScheduler, SchedulerConfig

log = logging.getLogger("algotrader.services")


@dataclass(frozen=True)
class ServiceOptions:
    """Where the endpoint listens, and whether every INFO line is shown."""

    host: str = "127.0.0.1"
    port: int = 9101
    verbose: bool = False


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM/SIGINT call ``stop``; a second one restores the default (and so kills)."""

    def stopping(signum: int) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop()

    def handler(signum: int, _frame: Any) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        # Not here: the handler runs on the main thread between two of its bytecodes, possibly
        # while it holds the very lock ``stop`` needs (setting the Event it is waiting on), which
        # would deadlock. Another thread waits for that lock instead.
        threading.Thread(target=stopping, args=(signum,), name="stop").start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    try:
        yield
    finally:
        faulthandler.unregister(signal.SIGUSR1)
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _endpoint(
    options: ServiceOptions, reader: StatusReader, health: Callable[[], tuple[bool, dict[str, Any]]]
) -> Iterator[ServiceEndpoint]:
    endpoint = ServiceEndpoint(
        options.host, options.port, health, service_registry([StatusCollector(reader)])
    ).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def serve_scheduler(settings: Settings, config: SchedulerConfig, options: ServiceOptions) -> None:
    """``algotrader serve scheduler`` until SIGTERM/SIGINT."""
    check_calendar(config.calendar)
    configure_logging(settings, "scheduler", verbose=options.verbose)
    reader = StatusReader(settings)
    scheduler = RefreshScheduler(settings, config)

    def health() -> tuple[bool, dict[str, Any]]:
        db_ok, db = reader.healthy()
        planned = {k: v.isoformat() if v else None for k, v in scheduler.planned_jobs().items()}
        state = "running" if scheduler.running else "stopped"
        return db_ok and scheduler.running, {
            "service": "scheduler", "database": db, "scheduler": state, "jobs": planned,
        }  # fmt: skip

    try:
        with _endpoint(options, reader, health) as endpoint, _stop_on_signals(scheduler.stop):
            log.info("scheduler started (calendar %s); /metrics and /healthz on %s:%d",
                     config.calendar, options.host, endpoint.port)  # fmt: skip
            scheduler.run()
    finally:
        reader.close()
    log.info("scheduler stopped")


def serve_worker(settings: Settings, worker: WorkerOptions, options: ServiceOptions) -> None:
    """``algotrader serve worker`` until SIGTERM/SIGINT."""
    configure_logging(settings, "worker", verbose=options.verbose)
    reader = StatusReader(settings)
    serving, stop = threading.Event(), threading.Event()

    def health() -> tuple[bool, dict[str, Any]]:
        db_ok, db = reader.healthy()
        state = "running" if serving.is_set() else "stopped"
        return db_ok and serving.is_set(), {"service": "worker", "database": db, "worker": state}

    try:
        with _endpoint(options, reader, health) as endpoint, _stop_on_signals(stop.set):
            log.info("worker %s started; /metrics and /healthz on %s:%d", worker.name,
                     options.host, endpoint.port)  # fmt: skip
            serving.set()
            serve_jobs(settings, worker, stop, on_job=_log_job)
            serving.clear()
    finally:
        reader.close()
    log.info("worker %s stopped", worker.name)


def _log_job(outcome: JobOutcome) -> None:
    """The one line a job logs."""
    what = f"job {outcome.job_id} {outcome.kind}".rstrip()
    if outcome.outcome == "succeeded":
        log.info("%s succeeded in %.2fs (attempt %d): %s", what, outcome.seconds,
                 outcome.attempt, _summary(outcome.result or {}))  # fmt: skip
    elif outcome.outcome == "already_done":
        log.info("%s was already finished: nothing to do", what)
    elif outcome.outcome == "cancelled":
        log.info("%s cancelled after %.2fs", what, outcome.seconds)
    else:
        log.warning("%s failed after %.2fs (attempt %d): %s", what, outcome.seconds,
                    outcome.attempt, outcome.error)  # fmt: skip


def _summary(result: dict[str, Any]) -> str:
    if "summary" in result:
        return f"run {result.get('run_id')}: {result['summary']}"
    if "studies" in result:
        return "; ".join(
            f"study {s['study_id']} ({','.join(s['symbols'])}): {s['points']} points, "
            f"best {s['best_params']} (run {s['best_run_id']})"
            for s in result["studies"]
        )
    runs, failed = result.get("runs", []), result.get("failed", [])
    return f"{len(runs)} runs stored, {len(failed)} symbols failed"
