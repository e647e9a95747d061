"""The services' commands: watchlist, jobs and serve (their lines and their mistakes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.cli.app import main


def test_watchlist_add_list_remove(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watchlist", "add", "spy,qqq", "-r", "1d,1h", "--source", "synthetic"]) == 0
    assert main(["watchlist", "remove", "QQQ", "-r", "1h"]) == 0
    assert main(["watchlist", "list"]) == 0
    out = capsys.readouterr().out
    assert "Watching SPY 1d." in out and "Watching QQQ 1h." in out
    assert "Removed 1 series from the watchlist." in out
    table = out.split("Removed", 1)[1]
    assert table.count("SPY") == 2 and table.count("QQQ") == 1 and "never" in table


@pytest.mark.parametrize(
    "args,line",
    [
        (["jobs", "submit", "backtest", "-s", "SPY"], "error: the job queue needs PostgreSQL"),
        (["jobs", "submit", "backtest", "-s", "SPY,QQQ"], "takes one symbol, not 2"),
        (["jobs", "submit", "backtest", "--payload", "[1]"], "--payload must be a JSON object"),
        (["jobs", "list", "--state", "done"], "unknown job state 'done'"),
        (["watchlist", "add", "SPY", "-r", "1x"], "unknown resolution '1x'"),
        (["watchlist", "remove", "SPY"], "SPY is not on the watchlist"),
        (["watchlist", "add", "SPY", "--source", "csv"], "not a CSV file"),
        (["serve", "scheduler", "--calendar", "XNYZ"], "unknown exchange calendar 'XNYZ'"),
        (["serve", "worker", "--heartbeat", "30"], "--stalled-after must be longer"),
    ],
)
def test_a_mistake_is_one_line_and_exit_code_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and line in err
