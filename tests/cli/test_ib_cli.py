"""``algotrader ib check``, ``python -m scripts.test_connection`` and ``ingest --source ibkr``
against the TWS simulator on an ephemeral port (and against a closed port)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from algotrader.cli.app import main
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import open_database
from algotrader.db.store import SqlBarStore
from algotrader.frames import OHLCV_COLUMNS
from algotrader.ibkr import history as ibkr
from algotrader.ibsim import SimConfig, SimulatorThread, start_in_thread

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)


def _now() -> datetime:
    return NOW


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    handle = start_in_thread(SimConfig(clock=_now, tick_interval=0.05))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean directory, no ALGOTRADER_* leaking in, and a fast process-wide pacer."""
    monkeypatch.setenv("ALGOTRADER_DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("ALGOTRADER_LOG_DIR", str(workdir / "logs"))
    monkeypatch.setenv("ALGOTRADER_IB_TIMEOUT", "2")
    fast = ibkr.HistoricalPacer(ibkr.PacingRules(identical_interval=0.05, per_contract_window=0.05))
    monkeypatch.setattr(ibkr, "_SHARED_PACER", fast)
    return workdir


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_one_error_line(code: int, out: str, err: str) -> None:
    assert code == 2
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err


def test_ib_check_reports_version_accounts_paper_mode_and_server_time(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ib", "check", "--port", str(sim.port), "--client-id", "11"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Connected to TWS/IB Gateway at 127.0.0.1:{sim.port} (clientId 11)." in out
    assert "Gateway: algotrader ib-sim (simulator: synthetic bars, paper fills)" in out
    assert "Server version: 178" in out
    assert "Accounts: DU1234567 (paper account prefix)" in out
    assert "Mode: PAPER trading" in out
    # The simulator runs on a fixed clock in 2024: the offset says how far off it is.
    assert "Server time: 2024-06-14 20:30:00 UTC (offset from local clock: -" in out


def test_ib_check_against_a_closed_port_is_one_line_and_exit_2(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    code = main(["ib", "check", "--port", str(port)])
    out, err = capsys.readouterr()
    _assert_one_error_line(code, out, err)
    assert f"127.0.0.1:{port}" in err and "algotrader ib-sim" in err


def test_ib_check_with_a_client_id_in_use_is_one_line(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    from algotrader.ibsim import Faults

    sim.sim.faults = Faults(client_ids_in_use=frozenset({3}))
    code = main(["ib", "check", "--port", str(sim.port), "--client-id", "3", "--timeout", "0.5"])
    out, err = capsys.readouterr()
    _assert_one_error_line(code, out, err)
    assert "clientId 3 may be in use" in err


def test_ib_check_against_a_silent_gateway_is_one_line(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    from algotrader.ibsim import Faults
    from algotrader.ibsim.protocol import In

    sim.sim.faults = Faults(silent_messages=frozenset({In.REQ_CURRENT_TIME}))
    code = main(["ib", "check", "--port", str(sim.port), "--timeout", "1.5"])
    out, err = capsys.readouterr()
    _assert_one_error_line(code, out, err)
    assert "did not answer the current-time request within 1.5 s" in err


def test_seed_script_test_connection_runs_ib_check(env: Path, sim: SimulatorThread) -> None:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    child_env.update(ALGOTRADER_IB_PORT=str(sim.port), ALGOTRADER_LOG_DIR=str(env / "logs"))
    done = subprocess.run(
        [sys.executable, "-m", "scripts.test_connection"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Server version: 178" in done.stdout and "PAPER" in done.stdout


def test_ingest_several_symbols_from_ibkr_stores_what_the_simulator_served(
    env: Path,
    db_url: str,
    sim: SimulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALGOTRADER_IB_PORT", str(sim.port))
    symbols = ["AAPL", "MSFT", "SPY", "JPM", "XOM"]
    code = main(
        [
            "--database-url",
            db_url,
            "ingest",
            "-s",
            ",".join(symbols),
            "-r",
            "1d",
            "-d",
            "5 Y",
            "--source",
            "ibkr",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sim.sim.historical_requests == len(symbols)
    for symbol in symbols:
        assert f"Running ingest pipeline: {symbol} / 1d / duration=5 Y" in out
        # --source ibkr, but the gateway is the simulator: its bars are labelled synthetic.
        assert f"rows from the IBKR simulator (synthetic data) for {symbol}." in out
    assert out.rstrip().endswith("Ingestion complete.")

    db = open_database(db_url)
    try:
        store = SqlBarStore(db)
        with db.engine.connect() as conn:
            con_ids: dict[str, int] = dict(
                conn.execute(text("SELECT symbol, con_id FROM instruments")).all()
            )
            sources = conn.execute(text("SELECT DISTINCT source FROM market_prices")).all()
        assert [tuple(row) for row in sources] == [("ibsim",)]
        assert con_ids == {
            "AAPL": 265598,
            "MSFT": 272093,
            "SPY": 756733,
            "JPM": 1520593,
            "XOM": 13977,
        }
        for symbol in symbols:
            stored = store.load_bars(symbol, "1d")
            # The window ends at the real "now"; the simulator's clock stops at NOW.
            served = SyntheticProvider(clock=_now).fetch_bars(symbol, "1d", stored.index[0], NOW)
            assert stored.index[-1] == pd.Timestamp("2024-06-14", tz=UTC)
            pd.testing.assert_frame_equal(stored[list(OHLCV_COLUMNS)], served, check_freq=False)
            assert stored["ma50"].notna().any()
    finally:
        db.dispose()


def test_ingest_from_the_default_source_without_a_gateway_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("ALGOTRADER_IB_PORT", str(port))
    code = main(["ingest", "-s", "AAPL", "-r", "1d", "-d", "1 Y"])  # no --source: ibkr
    out, err = capsys.readouterr()
    _assert_one_error_line(code, out, err)
    assert f"no TWS/IB Gateway answers at 127.0.0.1:{port}" in err
    assert "--source synthetic" in err


def test_a_concurrent_ingest_stores_the_good_symbols_and_reports_the_bad_one_in_one_line(
    env: Path,
    db_url: str,
    sim: SimulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALGOTRADER_IB_PORT", str(sim.port))
    code = main(["--database-url", db_url, "ingest", "-s", "AAPL,NOPE,MSFT", "-r", "1d",
                 "-d", "5 Y", "--source", "ibkr"])
    out, err = capsys.readouterr()
    _assert_one_error_line(code, out, err)
    assert "IBKR has no contract for 'NOPE'" in err
    db = open_database(db_url)
    try:
        store = SqlBarStore(db)
        assert len(store.load_bars("AAPL", "1d")) > 200
        assert len(store.load_bars("MSFT", "1d")) > 200
    finally:
        db.dispose()


def test_the_ingest_log_reports_what_an_ibkr_ingest_fetched_and_inserted(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALGOTRADER_IB_PORT", str(sim.port))
    url = f"sqlite:///{env / 'bars.db'}"
    code = main(["--database-url", url, "ingest", "-s", "KO", "-r", "1d", "-d", "5 Y"])
    out, err = capsys.readouterr()
    assert code == 0, err
    fetched = re.search(r"Fetched (\d+) rows from .* for KO\.", out)
    assert fetched is not None and int(fetched.group(1)) > 500
    n = fetched.group(1)
    log = (env / "logs" / "app.log").read_text()  # the ingest use case's log
    assert f"KO 1d from ibsim: {n} fetched, {n} inserted, 0 updated, 0 unchanged" in log
    assert " 0 fetched" not in log
