"""One-shot commands export their metrics: to a textfile (node_exporter's textfile collector)
and to a real Pushgateway (Debian's prometheus-pushgateway)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.services.conftest import Programs, free_port, need_program, programs, wait_for

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
__all__ = ["programs"]  # the fixture


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _run(workdir: Path, args: list[str], **env: str) -> int:
    textfile = str(workdir / "textfiles" / "{command}.prom")
    settings = {"ALGOTRADER_DATA_DIR": str(workdir / "data"), "ALGOTRADER_LOG_DIR": str(workdir),
                "ALGOTRADER_METRICS_TEXTFILE": textfile}  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    done = subprocess.run([ALGOTRADER, *args], env={**clean, **settings, **env}, cwd=workdir,
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode


def test_an_ingest_s_metrics_reach_the_textfile_and_the_pushgateway(
    tmp_path: Path, programs: Programs
) -> None:
    port = free_port()
    programs.start("pushgateway", [need_program("prometheus-pushgateway"),
                                   f"--web.listen-address=127.0.0.1:{port}"])  # fmt: skip
    gateway = f"http://127.0.0.1:{port}/metrics"
    wait_for(lambda: _reachable(gateway), "the Pushgateway to start")

    args = ["ingest", "-s", "SPY", "-r", "1d", "-d", "3 M", "--source", "synthetic"]
    code = _run(tmp_path, args, ALGOTRADER_METRICS_PUSHGATEWAY=f"127.0.0.1:{port}")

    assert code == 0
    with sqlite3.connect(tmp_path / "data" / "algotrader.db") as db:
        (bars,) = db.execute("SELECT count(*) FROM market_prices").fetchone()
    stored = ("algotrader_bars_stored_total", (("resolution", "1d"), ("source", "synthetic")))
    textfile = (tmp_path / "textfiles" / "ingest.prom").read_text()
    assert _samples(textfile)[stored] == bars > 0
    assert _samples(textfile)[("algotrader_command_success", (("command", "ingest"),))] == 1
    lint = subprocess.run([need_program("promtool"), "check", "metrics"], input=textfile,
                          capture_output=True, text=True)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
    with urllib.request.urlopen(gateway, timeout=10) as response:
        pushed = _samples(response.read().decode())
    key = (stored[0], (("command", "ingest"), ("instance", ""), ("job", "algotrader"),
                       *stored[1]))  # fmt: skip
    assert pushed[key] == bars


def test_a_failed_command_records_that_it_failed(tmp_path: Path) -> None:
    assert _run(tmp_path, ["ingest", "-s", "SPY", "-r", "1x", "--source", "synthetic"]) == 2
    textfile = (tmp_path / "textfiles" / "ingest.prom").read_text()
    assert _samples(textfile)[("algotrader_command_success", (("command", "ingest"),))] == 0


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def test_a_textfile_named_only_in_dot_env_still_receives_the_metrics(tmp_path: Path) -> None:
    textfile = tmp_path / "textfiles" / "{command}.prom"
    (tmp_path / ".env").write_text(f"algotrader_metrics_textfile={textfile}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env = {**clean, "ALGOTRADER_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([ALGOTRADER, "ingest", "-s", "SPY", "-r", "1x", "--source", "synthetic"],
                          env=env, cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    written = (tmp_path / "textfiles" / "ingest.prom").read_text()
    assert _samples(written)[("algotrader_command_success", (("command", "ingest"),))] == 0
