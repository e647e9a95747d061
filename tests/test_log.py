"""Log files: an unwritable log folder costs one warning line, never a block per record."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from algotrader.log import setup_logging


def test_records_go_to_one_file_per_module(tmp_path: Path) -> None:
    setup_logging(tmp_path / "logs", "INFO")
    logging.getLogger("algotrader.data.ingest").info("fetched %d bars", 3)
    logging.getLogger("algotrader.ibkr.client").warning("slow gateway")
    assert "fetched 3 bars" in (tmp_path / "logs" / "data.log").read_text(encoding="utf-8")
    assert "slow gateway" in (tmp_path / "logs" / "ibkr.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("blocker", ["file", "read-only file"])
def test_an_unwritable_log_dir_warns_once_and_logging_carries_on(
    tmp_path: Path, blocker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in_the_way").write_text("a file, not a folder", encoding="utf-8")
    if blocker == "file":
        log_dir = tmp_path / "in_the_way" / "logs"  # mkdir fails: Not a directory
    else:
        log_dir = tmp_path / "logs"
        log_dir.mkdir()
        (log_dir / "data.log").mkdir()  # the log file cannot be opened: Is a directory
    setup_logging(log_dir, "INFO")
    for i in range(5):
        logging.getLogger("algotrader.data.ingest").info("record %d", i)
        logging.getLogger("ib_async.client").info("record %d", i)
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"warning: cannot write log files in {log_dir}")
    assert "ALGOTRADER_LOG_DIR" in lines[0]


def test_python_warnings_go_to_the_log_files_not_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        setup_logging(tmp_path / "logs", "INFO")
        warnings.warn("a library deprecation", FutureWarning, stacklevel=1)
        logging.captureWarnings(False)
    captured = capsys.readouterr()
    assert "deprecation" not in captured.err + captured.out
    assert "a library deprecation" in (tmp_path / "logs" / "py.log").read_text(encoding="utf-8")
