"""Throughput of the job queue (figures only, no verdict).

Into a PostgreSQL database created for the run: ingest 1 year of synthetic SPY daily bars, then

* submit ``--jobs`` backtest jobs (``algotrader.app.jobs.submit_jobs``, one transaction each:
  the ``jobs`` row and the procrastinate job): jobs submitted per second;
* for 1 and for ``--workers`` workers (``algotrader serve worker`` processes) on that full queue:
  jobs finished per second, from the first job started to the last one finished (worker start-up
  excluded), read from the ``jobs`` table;
* one job at a time to an idle worker: the median time from submission to its start.

Everything is dropped at the end. Run: .venv/bin/python benchmarks/jobs.py [--jobs N] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))


def _submit(settings: object, count: int) -> float:
    from algotrader.app.jobs import submit_jobs

    started = time.perf_counter()
    submit_jobs(settings, "backtest", [{"symbol": "SPY", "strategy": "ma_cross"}] * count)  # type: ignore[arg-type]
    return count / (time.perf_counter() - started)


def _workers(url: str, count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "ALGOTRADER_DATABASE_URL": url, "ALGOTRADER_LOG_DIR": str(logs)}
    args = [ALGOTRADER, "serve", "worker", "--port", "0"]
    return [subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for _ in range(count)]  # fmt: skip


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait()


def _wait_done(conn: psycopg.Connection, count: int) -> None:
    query = "SELECT count(*) FROM jobs WHERE state = 'succeeded'"
    while conn.execute(query).fetchone()[0] < count:  # type: ignore[index]
        time.sleep(0.1)


def _drain(url: str, workers: int, count: int, logs: Path) -> float:
    """Jobs per second, first start to last finish, of ``workers`` on a full queue."""
    processes = _workers(url, workers, logs)
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        _wait_done(conn, count)
        first, last = conn.execute("SELECT min(started_at), max(finished_at) FROM jobs").fetchone()  # type: ignore[misc]
        conn.execute("DELETE FROM jobs")
    _stop(processes)
    return float(count / (last - first).total_seconds())


def _pickup(url: str, settings: object, logs: Path, count: int = 20) -> float:
    """Median seconds from submission to start, one job at a time, to an idle worker."""
    from algotrader.app.jobs import submit_job

    processes = _workers(url, 1, logs)
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        submit_job(settings, "backtest", {"symbol": "SPY"})  # type: ignore[arg-type]
        _wait_done(conn, 1)  # the worker is up
        for n in range(count):
            submit_job(settings, "backtest", {"symbol": "SPY"})  # type: ignore[arg-type]
            _wait_done(conn, n + 2)
        query = "SELECT extract(epoch FROM started_at - created_at) FROM jobs ORDER BY id OFFSET 1"
        waits = [row[0] for row in conn.execute(query)]
        conn.execute("DELETE FROM jobs")
    _stop(processes)
    return float(statistics.median(waits))


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    name = f"algotrader_bench_{uuid.uuid4().hex[:8]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _run(url, args.jobs, args.workers)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(url: str, jobs: int, workers: int) -> None:
    from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
    from algotrader.config import load_settings
    from algotrader.timeframes import RESOLUTIONS, Duration

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=url, data_dir=tmp, log_dir=tmp)
        window = IngestWindow(duration=Duration(1, "Y"))
        ingest(settings, IngestRequest(("SPY",), (RESOLUTIONS["1d"],), window, source="synthetic"))
        print("job queue: backtest jobs on 1 Y of daily bars, PostgreSQL (busy shared machine)")
        for count in (1, workers):
            rate = _submit(settings, jobs)
            done = _drain(url, count, jobs, Path(tmp))
            print(f"  {jobs} jobs, {count} worker(s): submitted {rate:6.1f} jobs/s (one "
                  f"transaction each), ran {done:6.1f} jobs/s")  # fmt: skip
        wait = _pickup(url, settings, Path(tmp))
        print(f"  one job to an idle worker: median {wait * 1000:.0f} ms from submit to start "
              "(LISTEN/NOTIFY)")


if __name__ == "__main__":
    main()
