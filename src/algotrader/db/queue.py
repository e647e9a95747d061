"""The job queue: procrastinate on the platform's PostgreSQL database.

Why procrastinate: the queue lives in the database the jobs read and write, so no broker has to
run, a job is put on the queue in the same transaction that records it (``jobs`` row and
procrastinate job commit together or not at all), workers take jobs with ``SELECT ... FOR UPDATE
SKIP LOCKED``, and a worker that dies (SIGKILL, lost machine) stops its heartbeat, so its job is
found by :func:`retry_stalled` and delivered again. procrastinate only delivers; what a job did
is recorded in our ``jobs`` table, exactly once (see :mod:`algotrader.db.jobs`).

The queue's tables (``procrastinate_*``) are created here on first use, with the schema of the
installed procrastinate (pinned ``<4``), under the same lock as the Alembic migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from algotrader.db._dialect import lock_key
from algotrader.db.engine import Database
from algotrader.errors import InvalidInputError, UserError
from algotrader.ports.jobs import JobHandler, WorkerOptions

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger(__name__)

TASK_NAME = "algotrader.run_job"
_STALLED_TASK = "algotrader.retry_stalled_jobs"
_RESCUE_PRIORITY = 1000
_SCHEMA_LOCK_KEY = lock_key("algotrader", "migrations")


def require_postgresql(db: Database) -> None:
    """One clear line when the database cannot hold the job queue."""
    if not db.dialect.holds_job_queue:
        raise InvalidInputError(
            f"the job queue needs PostgreSQL, but the database is {db.display_url}",
            "set ALGOTRADER_DATABASE_URL (or --database-url) to "
            "postgresql+psycopg://USER@HOST:5432/DB",
        )


def _procrastinate() -> Any:
    try:
        import procrastinate
    except ImportError:
        raise UserError(
            "the job queue needs procrastinate, which is not installed",
            "install the services extra: pip install 'algotrader[services]'",
        ) from None
    return procrastinate


def conninfo(db: Database) -> str:
    """A libpq connection string for the database (procrastinate connects with psycopg)."""
    url = db.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_schema(db: Database) -> None:
    """Create procrastinate's tables unless they exist (once, whoever gets there first)."""
    require_postgresql(db)
    schema = _procrastinate().schema.SchemaManager.get_schema()
    with db.dialect.exclusive(db.engine, _SCHEMA_LOCK_KEY, "create the job queue") as conn:
        exists = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if exists is None:
            _driver_connection(conn).execute(schema)  # no parameters: many statements at once
            log.info("created the job queue's tables in %s", db.display_url)
        conn.commit()


def _driver_connection(connection: Connection) -> Any:
    return connection.connection.driver_connection


class ProcrastinateQueue:
    """Deferring and cancelling jobs inside our transactions, and running workers."""

    def __init__(self, db: Database) -> None:
        ensure_schema(db)
        self._db = db
        module = _procrastinate()
        self._sync_app = module.App(connector=module.SyncPsycopgConnector(conninfo=conninfo(db)))

    def enqueue(self, job_id: int, connection: Connection) -> int:
        """Put job ``job_id`` on the queue within ``connection``'s transaction; the queue id."""
        deferrer = self._sync_app.configure_task(
            TASK_NAME, connection=_driver_connection(connection)
        )
        return int(deferrer.defer(job_id=job_id))

    def cancel(self, queue_id: int, connection: Connection) -> bool:
        """Take a waiting job off the queue (True), or ask the worker running it to stop."""
        manager = self._sync_app.job_manager
        raw = _driver_connection(connection)
        if manager.cancel_job_by_id(queue_id, connection=raw):
            return True
        manager.cancel_job_by_id(queue_id, abort=True, connection=raw)
        return False

    def run_worker(
        self, handler: JobHandler, options: WorkerOptions, stop: threading.Event
    ) -> None:
        """Run jobs until ``stop`` is set; the jobs in hand finish first."""
        app = _worker_app(self._db, handler, options)
        asyncio.run(_serve(app, options, stop))


async def _serve(app: procrastinate.App, options: WorkerOptions, stop: threading.Event) -> None:
    async with app.open_async():
        worker = asyncio.ensure_future(
            app.run_worker_async(
                name=options.name,
                concurrency=options.concurrency,
                wait=True,
                fetch_job_polling_interval=options.poll_seconds,
                update_heartbeat_interval=options.heartbeat_seconds,
                stalled_worker_timeout=options.stalled_after_seconds,
                delete_jobs="successful",
                install_signal_handlers=False,  # the service's own handlers set `stop`
            )
        )
        stopping = asyncio.ensure_future(_wait_for(stop))
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            worker.cancel()  # procrastinate then stops fetching and waits for running jobs
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        else:
            stopping.cancel()
            worker.result()


async def _wait_for(stop: threading.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.2)


def _stalled_cron(seconds: int) -> str:
    """procrastinate's cron (a 6th field is seconds) for "every ``seconds``"."""
    if seconds < 60:
        return f"* * * * * */{max(1, seconds)}"
    return f"*/{max(1, seconds // 60)} * * * *"


def _worker_app(db: Database, handler: JobHandler, options: WorkerOptions) -> procrastinate.App:
    module = _procrastinate()
    connector = module.PsycopgConnector(conninfo=conninfo(db), min_size=1, max_size=4)
    app = module.App(connector=connector)

    @app.task(name=TASK_NAME, pass_context=True)
    def run_job(context: Any, job_id: int) -> None:
        handler(job_id, context.should_abort)

    # Ahead of every queued job (higher priority): a backlog must not delay the rescue of a dead
    # worker's job until the queue has drained.
    @app.periodic(cron=_stalled_cron(options.stalled_check_seconds), periodic_id="stalled")
    @app.task(name=_STALLED_TASK, queueing_lock=_STALLED_TASK, priority=_RESCUE_PRIORITY)
    async def retry_stalled(timestamp: int) -> None:
        await retry_stalled_jobs(app, options.stalled_after_seconds)

    return app


async def retry_stalled_jobs(app: procrastinate.App, stalled_after_seconds: float) -> int:
    """Queue again the jobs of workers silent for ``stalled_after_seconds`` (dead)."""
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_seconds)
    count = 0
    for job in stalled:
        await manager.retry_job(job)
        log.warning("queue job %s of a dead worker queued again", job.id)
        count += 1
    return count
