"""Dashboard response times with many stored runs (prints figures; never pass/fail).

    .venv/bin/python benchmarks/dashboard.py [--runs 10000] [--repeat 20] [--postgres]

Fills a throw-away database (SQLite, or with ``--postgres`` a new database on the local server)
with real backtests of synthetic bars, copied with varied parameters and metrics up to ``--runs``
rows, plus a real optimisation study whose points are stored as runs (hidden from the default
runs list), starts ``algotrader dashboard`` (uvicorn) on it and requests the runs page and the
API list with different filters, kinds and sorts, the studies, then a few report pages. Server
time is the ``Server-Timing`` header (the request inside the app); client time includes HTTP.
Targets (issue 11) at 10,000 runs: page <= 200 ms, API <= 100 ms server time.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from algotrader.app.backtests import BacktestRequest, run_backtest
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.research import ResearchRequest, run_optimization
from algotrader.config import load_settings
from algotrader.db.engine import open_database
from algotrader.db.models import BacktestRun
from algotrader.timeframes import parse_duration, parse_resolution

REQUESTS = (
    ("page", "/runs"),
    ("page", "/runs?sort=-sharpe"),
    ("page", "/runs?strategy=macd&metric=sharpe>0.2&sort=-total_return"),
    ("page", "/runs?param=fast>=20&sort=-cagr&page=10"),
    ("page", "/runs?kind=all&sort=-sharpe"),
    ("page", "/studies"),
    ("api", "/api/runs"),
    ("api", "/api/runs?sort=-sharpe"),
    ("api", "/api/runs?strategy=macd&metric=sharpe>0.2&sort=-total_return"),
    ("api", "/api/runs?param=fast>=20&sort=-cagr&page=10"),
    ("api", "/api/runs?study_id=1&sort=-sharpe"),
    ("api", "/api/studies"),
)
REPORT_PAGES = ("/runs/1", "/studies/1")
SEEDS = (
    ("ma_cross", {"fast": 10, "slow": 30}), ("ma_cross", {"fast": 20, "slow": 50}),
    ("ma_cross", {"fast": 5, "slow": 100}), ("rsi", {}), ("rsi", {"lower": 25, "upper": 75}),
    ("macd", {}), ("bollinger", {}), ("supertrend", {}), ("ath_breakout", {}), ("streak", {}),
)
STUDY_GRID = ("fast=5:50:1", "slow=20:200:10")


def _fill(url: str, total: int, workdir: Path) -> int:
    """Seed backtests through the application layer, copies of them up to ``total`` runs, and
    one study; returns the number of study points stored."""
    daily = parse_resolution("1d")
    settings = load_settings(database_url=url, data_dir=str(workdir / "data"),
                             log_dir=str(workdir / "logs"))
    window = IngestWindow(parse_duration("5 Y"))
    ingest(settings, IngestRequest(("SPY", "QQQ", "IWM"), (daily,), window, source="synthetic"))
    for symbol in ("SPY", "QQQ", "IWM"):
        for name, params in SEEDS:
            run_backtest(settings, BacktestRequest(symbol, daily, name,
                                                   {k: str(v) for k, v in params.items()}))
    db = open_database(url)
    with db.engine.connect() as conn:
        seeds = [dict(r._mapping) for r in conn.execute(select(BacktestRun))]
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    for k in range(total - len(seeds)):
        row = dict(seeds[k % len(seeds)])
        row.pop("id")
        if "fast" in row["params"]:
            fast = rng.randint(3, 60)
            row["params"] = {"fast": fast, "slow": fast + rng.randint(5, 150)}
        row["metrics"] = {key: (value * rng.uniform(0.5, 1.5) if isinstance(value, float)
                                else value) for key, value in row["metrics"].items()}
        rows.append(row)
    with db.engine.begin() as conn:
        for lo in range(0, len(rows), 1000):
            conn.execute(insert(BacktestRun), rows[lo:lo + 1000])
    db.dispose()
    (study,) = run_optimization(settings, ResearchRequest(
        symbols=("SPY",), resolution=daily, strategy="ma_cross", grid=STUDY_GRID,
        constraint="fast < slow"))
    return len(study.run_ids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from algotrader.cli.app import main; main()", "--database-url",
         url, "dashboard", "--port", str(port)], cwd=workdir, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the dashboard did not start")


def _measure(base: str, repeat: int, requests: tuple[tuple[str, str], ...],
             warm: int = 3) -> None:
    print(f"{'':6} {'request':62} {'server median':>13} {'p95':>7} {'client median':>14}")
    with httpx.Client(base_url=base, timeout=300) as client:
        for kind, path in requests:
            for _ in range(warm):
                client.get(path).raise_for_status()
            server, wall = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                response = client.get(path)
                wall.append((time.perf_counter() - t0) * 1e3)
                response.raise_for_status()
                server.append(float(response.headers["server-timing"].split("=")[1]))
            p95 = sorted(server)[max(0, int(len(server) * 0.95) - 1)]
            print(f"{kind:6} {path:62} {statistics.median(server):10.1f} ms {p95:5.1f} ms "
                  f"{statistics.median(wall):11.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="use the local PostgreSQL")
    args = parser.parse_args()
    admin = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"algotrader_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + (
                f"/{name}")
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            started = time.perf_counter()
            points = _fill(url, args.runs, Path(tmp))
            print(f"{args.runs:,} runs and a study of {points:,} points stored on "
                  f"{url.split(':')[0]} ({time.perf_counter() - started:.1f} s, not counted)")
            process, base = _serve(url, Path(tmp))
            try:
                _measure(base, args.repeat, REQUESTS)
                print("report pages (recomputed on the stored bars), median of 3:")
                _measure(base, 3, tuple(("report", p) for p in REPORT_PAGES), warm=1)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        finally:
            if args.postgres:
                import psycopg

                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("targets at 10,000 runs: page <= 200 ms, API <= 100 ms (server time)")


if __name__ == "__main__":
    main()
