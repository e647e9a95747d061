"""``algotrader serve scheduler``: keeps the watchlist fresh, on the exchange calendar.

One APScheduler 3 job per watched resolution: daily and weekly bars are refreshed after each
session's close, intraday bars every N minutes during the session (:mod:`.calendar`). Each run
is one use case call (:func:`algotrader.app.watchlist.refresh_watchlist`) and one log line.

* **Once.** A run is claimed in the database by (resolution, planned time, attempt) before it
  starts, so a planned run never happens twice, even with two schedulers.
* **Missed runs.** On start, each resolution's last planned run is read back from the database;
  runs missed while the service was down are coalesced into one catch-up run. A resolution never
  refreshed gets a first run at once, and so does a series newly added to the watchlist.
* **Failures** are retried with exponential back-off (only the series that failed), then
  reported as given up until the next planned run: on the log, on the watchlist entry, in the
  run's record and in ``algotrader_scheduler_runs_total{outcome="failed"}``.
* **Stopping.** :meth:`RefreshScheduler.stop` (SIGTERM) lets the running refresh finish the
  series in hand, marks the run ``interrupted``, and returns.

The scheduler waits on a :class:`~.clock.Clock`: give it a fake one and 24 hours pass in a
test without a single sleep.
"""

from __future__ import annotations

import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED, BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from algotrader.app.watchlist import (
    RefreshRequest,
    RefreshResult,
    last_scheduled_refresh,
    list_watchlist,
    refresh_watchlist,
)
from algotrader.config import Settings
from algotrader.observability.metrics import record_refresh, record_refresh_retry
from algotrader.services.calendar import AfterCloseTrigger, InSessionTrigger
from algotrader.services.clock import Clock, SystemClock
from algotrader.timeframes import Resolution, parse_resolution

if TYPE_CHECKING:
    from algotrader.app.stream import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerConfig:
    """When refreshes run (calendar, delays, intraday period) and how failures are retried."""

    calendar: str = "XNYS"
    after_close: timedelta = timedelta(minutes=15)
    every: timedelta = timedelta(minutes=15)
    bar_delay: timedelta = timedelta(minutes=1)
    retry_base: timedelta = timedelta(minutes=1)
    retry_max: timedelta = timedelta(minutes=30)
    max_retries: int = 4
    sync_every: timedelta = timedelta(minutes=1)
    publish_to: KafkaSettings | None = None
    """Publish refreshed bars to this price stream instead of storing them (``--to kafka``)."""

    def trigger(self, resolution: Resolution) -> BaseTrigger:
        """After the close for daily and weekly bars; every max(``every``, bar size) in session
        for intraday bars."""
        if not resolution.is_intraday:
            return AfterCloseTrigger(self.calendar, self.after_close)
        period = max(self.every, resolution.timedelta)
        return InSessionTrigger(self.calendar, period, self.bar_delay)

    def retry_delay(self, attempt: int) -> timedelta:
        """The wait before retry ``attempt`` (1, 2, ...): doubling from ``retry_base``."""
        return min(self.retry_max, self.retry_base * 2 ** (attempt - 1))


class _PlannedRunExecutor(BaseExecutor):  # type: ignore[misc]
    """Calls a job's function with ``scheduled_for`` = the planned time of its (coalesced) run:
    in one worker thread (refreshes never overlap), or in the scheduler's own thread."""

    def __init__(self, synchronous: bool) -> None:
        super().__init__()
        self._pool = None if synchronous else ThreadPoolExecutor(1, "refresh")

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        if self._pool is None:
            self._run(job, run_times[-1])
        else:
            self._pool.submit(self._run, job, run_times[-1])

    def _run(self, job: Job, planned: datetime) -> None:
        try:
            job.func(*job.args, scheduled_for=planned, **job.kwargs)
        except BaseException:
            self._run_job_error(job.id, *sys.exc_info()[1:])
        else:
            self._run_job_success(job.id, [])

    def shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait)


class _ClockedScheduler(BaseScheduler):  # type: ignore[misc]
    """APScheduler's blocking scheduler, except that it waits on a :class:`Clock`.

    (APScheduler reads the time with ``datetime.now``; a fake clock therefore moves that time,
    as time-machine does in the tests.)
    """

    def __init__(self, clock: Clock, **options: Any) -> None:
        super().__init__(**options)
        self._clock = clock
        self._wakeup = threading.Event()

    def run_loop(self, stopping: threading.Event, until: datetime | None) -> None:
        """Run due jobs until ``stopping`` is set (or the clock passes ``until``)."""
        wait: float | None = 0.0
        while not stopping.is_set() and self.state != STATE_STOPPED:
            self._clock.wait(self._wakeup, wait)
            self._wakeup.clear()
            if stopping.is_set():
                break
            wait = self._process_jobs()
            due = self._clock.now() + timedelta(seconds=wait or 0.0)
            if until is not None and (wait is None or due > until):
                break

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            # APScheduler waits for the running jobs while it holds its job store lock, which a
            # running job needs to read or add jobs (the watchlist sync does): that deadlocked a
            # SIGTERM. The jobs finish first, outside that lock.
            for executor in self._executors.values():
                executor.shutdown(wait=True)
        super().shutdown(wait)
        self._wakeup.set()

    def wakeup(self) -> None:
        self._wakeup.set()


class RefreshScheduler:
    """The scheduler service (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        config: SchedulerConfig | None = None,
        clock: Clock | None = None,
        *,
        synchronous: bool = False,
    ) -> None:
        self.settings = settings
        self.config = config or SchedulerConfig()
        self.clock = clock or SystemClock()
        self._stopping = threading.Event()
        self._started_at: datetime | None = None
        self._scheduler = _ClockedScheduler(
            self.clock,
            timezone=ZoneInfo("UTC"),
            executors={"default": _PlannedRunExecutor(synchronous)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return self._scheduler.state == STATE_RUNNING and not self._stopping.is_set()

    def planned_jobs(self) -> dict[str, datetime | None]:
        """Each job's id and next planned run (for ``/healthz``)."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def run(self, until: datetime | None = None) -> None:
        """Schedule the watchlist's refreshes and run them until :meth:`stop` (or, with a fake
        clock, until ``until``)."""
        self._started_at = self.clock.now()
        self._scheduler.start(paused=True)
        try:
            self._sync()
            self._scheduler.add_job(
                self._sync,
                IntervalTrigger(seconds=self.config.sync_every.total_seconds()),
                id="watchlist",
                name="watchlist changes",
            )
            self._scheduler.resume()
            self._scheduler.run_loop(self._stopping, until)
        finally:
            self._stopping.set()
            self._scheduler.shutdown(wait=True)

    def stop(self) -> None:
        """Stop after the series in hand (safe to call from a signal handler)."""
        self._stopping.set()
        self._scheduler.wakeup()

    # -- jobs --------------------------------------------------------------------------------

    def _sync(self, scheduled_for: datetime | None = None) -> None:
        """Give every watched resolution its job; refresh series never refreshed at once."""
        entries = list_watchlist(self.settings)
        scheduled = {job.id for job in self._scheduler.get_jobs()}
        now = self.clock.now()
        for resolution in sorted({e.resolution for e in entries}):
            new_job = f"refresh:{resolution}" not in scheduled
            if new_job and self._add_refresh_job(resolution, now) <= now:
                continue  # its first run is now, and covers every series
            new = tuple(e.symbol for e in entries if e.resolution == resolution
                        and e.last_attempt_at is None)  # fmt: skip
            if new:
                self._scheduler.add_job(
                    self._refresh,
                    DateTrigger(now),
                    args=[resolution],
                    kwargs={"symbols": new},
                    id=f"first:{resolution}",
                    replace_existing=True,
                )

    def _add_refresh_job(self, resolution: str, now: datetime) -> datetime:
        trigger = self.config.trigger(parse_resolution(resolution))
        last = last_scheduled_refresh(self.settings, resolution)
        # Never refreshed: now. Else the first planned run after the last one: when that is in
        # the past, the runs missed since are coalesced into one run straight away.
        first = now if last is None else trigger.get_next_fire_time(last, now)
        self._scheduler.add_job(
            self._refresh,
            trigger,
            args=[resolution],
            id=f"refresh:{resolution}",
            name=f"refresh {resolution}",
            next_run_time=first,
        )
        return first  # type: ignore[no-any-return]

    def _refresh(
        self,
        resolution: str,
        *,
        scheduled_for: datetime | None = None,
        attempt: int = 0,
        planned: datetime | None = None,
        symbols: tuple[str, ...] | None = None,
    ) -> None:
        # scheduled_for: the planned time of this run (given by the executor); planned: that of
        # the run a retry repeats.
        assert scheduled_for is not None and self._started_at is not None
        planned = planned or scheduled_for
        request = RefreshRequest(
            resolution=parse_resolution(resolution),
            scheduled_for=planned,
            attempt=attempt,
            catch_up=attempt == 0 and planned < self._started_at,
            symbols=symbols,
            publish_to=self.config.publish_to,
        )
        lag = (self.clock.now() - scheduled_for).total_seconds()
        result = refresh_watchlist(
            self.settings, request, now=self.clock.now, should_stop=self._stopping.is_set
        )
        if result.nothing_watched:
            return
        if result.record is None:
            log.info("refresh %s planned %s: already run elsewhere, skipped", resolution,
                     _iso(planned))  # fmt: skip
            return
        record_refresh(resolution, result.record.outcome, lag if attempt == 0 else None)
        retry = self._plan_retry(request, result)
        _log_run(result, lag, retry, self.config.max_retries)

    def _plan_retry(self, request: RefreshRequest, result: RefreshResult) -> datetime | None:
        attempt = request.attempt + 1
        if not result.failed_symbols or attempt > self.config.max_retries:
            return None
        if self._stopping.is_set():
            return None
        when = self.clock.now() + self.config.retry_delay(attempt)
        resolution = request.resolution.name
        self._scheduler.add_job(
            self._refresh,
            DateTrigger(when),
            args=[resolution],
            kwargs={
                "attempt": attempt,
                "planned": request.scheduled_for,
                "symbols": result.failed_symbols,
            },
            id=f"retry:{resolution}:{_iso(request.scheduled_for)}:{attempt}",
        )
        record_refresh_retry(resolution)
        return when


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _log_run(result: RefreshResult, lag: float, retry: datetime | None, max_retries: int) -> None:
    """The one line a refresh run logs."""
    run = result.record
    assert run is not None
    what = f"refresh {run.resolution} planned {_iso(run.scheduled_for)}"
    if run.attempt:
        what += f" (retry {run.attempt}/{max_retries})"
    elif run.catch_up:
        what += " (catch-up)"
    counts = (
        f"{run.series} series, {run.bars_fetched} bars fetched, {run.bars_stored} stored, "
        f"lag {lag:.1f}s"
    )
    if run.outcome == "ok":
        log.info("%s: ok, %s", what, counts)
    elif run.outcome == "interrupted":
        log.warning("%s: interrupted by shutdown, %s", what, counts)
    elif retry is not None:
        log.warning("%s: %d of %d series failed (%s); retry at %s", what, run.failed,
                    run.series, run.error, _iso(retry))  # fmt: skip
    else:
        log.error("%s: %d of %d series failed (%s); giving up until the next planned run",
                  what, run.failed, run.series, run.error)  # fmt: skip
