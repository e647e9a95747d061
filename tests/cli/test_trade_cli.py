"""``algotrader trade`` end to end with the paper broker (no account), ``trade status`` and
``trade stop``, and bad input: one line, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.cli.app import main


@pytest.fixture
def env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALGOTRADER_DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("ALGOTRADER_LOG_DIR", str(workdir / "logs"))
    return workdir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, out: str, err: str) -> str:
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


TRADE = ("trade", "--strategy", "ma_cross", "-s", "AAPL,MSFT", "-r", "1m", "--param", "fast=5",
         "--param", "slow=20", "--bars", "150")  # fmt: skip


def test_trade_runs_on_the_paper_broker_and_resumes(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *TRADE)
    assert code == 0, err
    summary = next(line for line in out.splitlines() if line.startswith("Session "))
    assert "(paper, account PAPER) end of feed: bars=298 " in summary
    assert "SELL" in out or "BUY" in out  # the orders and fills as they happen
    session = summary.split()[1]

    code, out, _ = run(capsys, "trade", "status")
    assert code == 0 and session in out and "ma_cross" in out

    code, out, _ = run(capsys, *TRADE, "--quiet")  # the same command resumes the session
    assert code == 0 and f"Session {session} " in out
    assert " orders=0 " in out or "not_resent=0" in out

    code, out, _ = run(capsys, "trade", "stop")
    assert code == 0 and "No running trading session." in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("trade", "--strategy", "nope", "-s", "AAPL"), "unknown strategy"),
        (("trade", "-s", "AAPL"), "--strategy"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--speed", "-1"), "--speed"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--paper", "--live"), "--paper"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--param", "fast"), "--param"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--stop-loss", "0.1"), "No such"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--max-position", "0"), "--max-pos"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--replay", "csv"), "--replay"),
        (("trade", "--strategy", "ma_cross", "-s", "AAPL", "--replay", "stored"), "ingest"),
        (
            ("trade", "--strategy", "ma_cross", "-s", "AAPL", "--broker", "ib", "--port", "7496"),
            "--live",
        ),
        (("trade", "stop", "--session", "nope"), "no trading session"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    env: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str
) -> None:
    line = one_line(*run(capsys, *args))
    assert needle in line
