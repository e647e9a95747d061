"""An interrupted IBKR history walk resumes from its last complete chunk: the re-run asks the
gateway only for what the killed run had not stored, not for every chunk again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from algotrader.db.engine import open_database
from algotrader.db.store import SqlBarStore
from algotrader.ibsim import SimConfig, SimulatorThread, start_in_thread

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)  # a Friday after the close
COMMAND = ["ingest", "-s", "AAPL", "-r", "1m", "-d", "6 W", "--end", "2024-06-14T20:30:00",
           "--source", "ibsim"]  # fmt: skip


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    handle = start_in_thread(SimConfig(clock=lambda: NOW, tick_interval=0.05))
    try:
        yield handle
    finally:
        handle.stop()


def _run(sim: SimulatorThread, url: str, tmp: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env.update(
        ALGOTRADER_DATABASE_URL=url,
        ALGOTRADER_DATA_DIR=str(tmp / "data"),
        ALGOTRADER_LOG_DIR=str(tmp / "logs"),
        ALGOTRADER_IB_HOST=sim.host,
        ALGOTRADER_IB_PORT=str(sim.port),
        **extra,
    )
    return subprocess.run([ALGOTRADER, *COMMAND], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def _requests_of(sim: SimulatorThread, run: object) -> int:
    before = sim.sim.historical_requests
    assert callable(run)
    run()
    return sim.sim.historical_requests - before


def _stored(url: str) -> pd.DataFrame:
    db = open_database(url)
    try:
        return SqlBarStore(db).load_bars("AAPL", "1m")
    finally:
        db.dispose()


def test_a_killed_walk_resumes_where_it_stopped(
    db_url: str, sim: SimulatorThread, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A clean walk into a separate database: how many requests the whole window takes.
    clean_url = f"sqlite:///{tmp_path_factory.mktemp('clean') / 'clean.db'}"
    full = _requests_of(sim, lambda: _run(sim, clean_url, tmp_path))
    assert full >= 5

    killed = {}
    first = _requests_of(
        sim,
        lambda: killed.update(
            run=_run(sim, db_url, tmp_path, ALGOTRADER_TEST_KILL_AFTER_CHUNKS="4")
        ),
    )
    assert killed["run"].returncode == -signal.SIGKILL, killed["run"].stderr
    assert first == 4  # the run died right after writing its fourth chunk
    # PostgreSQL has committed all four; SQLite the three before the one whose transaction died.
    week = 5 * 390
    stored_weeks = round(len(_stored(db_url)) / week)
    assert stored_weeks in (3, 4)

    done: dict[str, subprocess.CompletedProcess] = {}
    second = _requests_of(sim, lambda: done.update(run=_run(sim, db_url, tmp_path)))
    assert done["run"].returncode == 0, done["run"].stderr
    # The stored chunks are not asked for again; a week boundary and the tail after the last
    # stored bar may cost one request each.
    assert second <= full - stored_weeks + 2
    pd.testing.assert_frame_equal(_stored(db_url), _stored(clean_url), check_freq=False)
