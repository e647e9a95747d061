"""Helpers of the command-line tests: a clean data folder, running a command in-process, and the
one-line error every refused command gives."""

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
    """The error line of a refused command (exit 2, one short line, no traceback)."""
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert len(lines[0]) < 400, lines[0]
    return lines[0]
