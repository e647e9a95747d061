"""Reliability: 3 workers run 200 jobs while 5 of them are SIGKILLed at random moments.

Every kill hits a worker that the database shows running a job; a replacement starts so that 3
keep working. The killed worker's job is delivered again (its heartbeat stopped) and its result
is stored exactly once: 200 results, 0 duplicates, 0 lost.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.services.conftest import service_settings

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.jobs import submit_jobs
from algotrader.config import Settings
from algotrader.timeframes import RESOLUTIONS, Duration

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
JOBS, WORKERS, KILLS = 200, 3, 5
HANG_GUARD_SECONDS = 900  # only against a hang; nothing here is timed


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def queue_settings(pg_server_url: str, workdir: Path) -> Iterator[Settings]:
    from algotrader.db.engine import open_database

    open_database(pg_server_url).dispose()
    with psycopg.connect(_pg(pg_server_url), autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, backtest_runs, market_prices, series_state, instruments")
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0]:  # type: ignore[index]
            conn.execute("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE")
    settings = service_settings(pg_server_url, workdir)
    ingest(settings, IngestRequest(("SPY",), (RESOLUTIONS["1d"],), IngestWindow(Duration(3, "M"))))
    yield settings


def _start_worker(settings: Settings, workdir: Path, n: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ALGOTRADER_DATABASE_URL": settings.db_url,
           "ALGOTRADER_LOG_DIR": str(workdir / "logs"),
           "ALGOTRADER_LOG_FORMAT": "json"}  # fmt: skip
    args = [ALGOTRADER, "serve", "worker", "--port", "0", "--name", f"w{n}", "--heartbeat",
            "0.5", "--stalled-after", "2", "--stalled-check", "1"]  # fmt: skip
    log = (workdir / f"worker{n}.log").open("wb")
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_started(log: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while b"started" not in log.read_bytes() and process.poll() is None:
        assert time.monotonic() < deadline, f"{log.name}: the worker never started"
        time.sleep(0.05)


def _states(conn: psycopg.Connection) -> tuple[int, list[int]]:
    done = conn.execute("SELECT count(*) FROM jobs WHERE state = 'succeeded'").fetchone()
    running = conn.execute("SELECT worker FROM jobs WHERE state = 'running'").fetchall()
    pids = [int(worker.rsplit(":", 1)[1]) for (worker,) in running if worker]
    return int(done[0]), pids  # type: ignore[index]


def test_three_workers_200_jobs_5_random_sigkills(queue_settings: Settings, workdir: Path) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    payload = {"symbol": "SPY", "strategy": "ma_cross", "params": {"fast": 5, "slow": 20}}
    submit_jobs(queue_settings, "backtest", [payload] * JOBS)
    workers = {n: _start_worker(queue_settings, workdir, n) for n in range(WORKERS)}
    kill_after = sorted(rng.sample(range(10, JOBS - 20), KILLS))  # kill once this many are done
    killed: list[int] = []
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    with psycopg.connect(_pg(queue_settings.db_url), autocommit=True) as conn:
        while (state := _states(conn))[0] < JOBS:
            assert time.monotonic() < deadline, f"hang: {state[0]} of {JOBS} done (seed {seed})"
            done, busy = state
            ours = {p.pid: n for n, p in workers.items() if p.poll() is None}
            targets = [pid for pid in busy if pid in ours]
            if len(killed) < KILLS and done >= kill_after[len(killed)] and targets:
                victim = rng.choice(targets)
                os.kill(victim, signal.SIGKILL)
                workers[ours[victim]].wait()
                killed.append(victim)
                workers[len(workers)] = _start_worker(queue_settings, workdir, len(workers))
            time.sleep(0.02)
        for n, process in workers.items():
            if process.poll() is None:
                _wait_started(workdir / f"worker{n}.log", process)  # SIGTERM a started service
                process.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=120) for p in workers.values()]
        rows = conn.execute("SELECT state, attempts, result FROM jobs").fetchall()
        stored = conn.execute("SELECT count(*), count(DISTINCT id) FROM backtest_runs").fetchone()

    run_ids = [r[2]["run_id"] for r in rows if r[0] == "succeeded"]
    redelivered = sum(1 for r in rows if r[1] > 1)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"\nworker kills (seed {seed}): {len(rows)} jobs, {len(run_ids)} results, "
          f"{len(run_ids) - len(set(run_ids))} duplicates, {JOBS - len(set(run_ids))} lost, "
          f"{len(killed)} SIGKILLs, {redelivered} jobs run again after a kill, "
          f"worker CPU {cpu.ru_utime + cpu.ru_stime:.1f}s")  # fmt: skip
    assert len(killed) == KILLS
    assert sorted(code for code in codes if code != -signal.SIGKILL) == [0] * WORKERS, codes
    assert len(rows) == JOBS and {r[0] for r in rows} == {"succeeded"}
    assert len(set(run_ids)) == len(run_ids) == JOBS  # 0 lost, 0 duplicates
    assert stored == (JOBS, JOBS)  # and no stray run of a killed attempt
    assert redelivered >= 1  # at least one kill landed mid-job and that job ran again
