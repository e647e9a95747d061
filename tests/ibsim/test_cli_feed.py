"""``algotrader ib-sim --feed synthetic ...``: an accelerated replay server for humans, and its
one-line errors for bad input."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ib_async import IB, Stock
from tests.ibsim.conftest import until

from algotrader.cli.app import main


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--feed", "csv"], "unknown --feed 'csv'"),
        (["--feed", "synthetic", "--symbols", "AAPL,NOPE"], "does not list NOPE"),
        (["--feed", "synthetic", "--bar-size", "1d"], "not an intraday bar size"),
        (["--feed", "synthetic", "--bar-size", "7m"], "7m"),
        (["--feed", "synthetic", "--speed", "0"], "invalid speed"),
        (["--feed", "synthetic", "--history-bars", "0"], "history_bars"),
        (["--feed", "synthetic", "--start", "2024-13-01"], "invalid --start"),
        (["--max-fill-size", "0"], "invalid --max-fill-size"),
    ],
)
def test_bad_feed_options_are_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code = main(["ib-sim", "--port", "0", *args])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err


def test_the_replay_server_streams_bars_to_a_client(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    command = [
        sys.executable, "-c", "from algotrader.cli.app import main; raise SystemExit(main())",
        "ib-sim", "--port", "0", "--feed", "synthetic", "--symbols", "AAPL,MSFT",
        "--bar-size", "1m", "--speed", "600", "--history-bars", "60", "--start", "2024-06-10",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()  # blocks until it listens (or exits)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner + (server.stderr.read() if server.stderr else "")
        assert "Replaying synthetic 1m bars of AAPL, MSFT at 600x" in server.stdout.readline()
        asyncio.run(_watch(int(match.group(1))))
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0


async def _watch(port: int) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=7, timeout=10)
    try:
        bars = await ib.reqHistoricalDataAsync(
            Stock("MSFT", "SMART", "USD"), "", "1 D", "1 min", "TRADES", True,
            formatDate=2, keepUpToDate=True,
        )  # fmt: skip
        assert len(bars) >= 61  # the 60 history bars of the session, and the forming one
        completed: list[object] = []
        bars.updateEvent += lambda b, new: new and completed.append(b[-2])
        await until(lambda: len(completed) >= 2, timeout=60)
    finally:
        ib.disconnect()
        await asyncio.sleep(0.01)
