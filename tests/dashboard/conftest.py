"""A database filled by real ingests (synthetic source), backtests and orders through the TWS
simulator; the dashboard serving it from a real ``algotrader dashboard`` process; a headless
Chromium that fails a test on console errors or any request leaving the machine."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
from psycopg import sql

CHROMIUM = Path(os.environ.get("ALGOTRADER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
BACKTESTS = (
    ("SPY", "1d", "ma_cross", ("--param", "fast=10", "--param", "slow=30")),
    ("SPY", "1d", "ma_cross", ()),
    ("SPY", "1d", "rsi", ()),
    ("QQQ", "1d", "macd", ()),
    ("QQQ", "1d", "bollinger", ()),
    ("SPY", "1h", "supertrend", ()),
)


@dataclass
class Filled:
    """A database with known content: backtests (``run_ids`` per strategy), a portfolio run, a
    study (its points are runs) and a walk-forward run."""

    url: str
    backend: str
    run_ids: dict[str, list[int]] = field(default_factory=dict)
    portfolio: int = 0
    walkforward: int = 0
    study: int = 0
    best_point: int = 0
    points: int = 0

    @property
    def backtests(self) -> int:
        return sum(len(v) for v in self.run_ids.values())

    @property
    def runs(self) -> int:
        """The runs listed by default (every kind but study points)."""
        return self.backtests + 2


def _cli(workdir: Path, *args: str) -> str:
    """Run ``algotrader ARGS`` (in this process, from ``workdir``); its stdout."""
    from algotrader.cli.app import main

    out = io.StringIO()
    with contextlib.chdir(workdir), contextlib.redirect_stdout(out):
        code = main(list(args))
    assert code == 0, out.getvalue()
    return out.getvalue()


def _orders(url: str) -> None:
    """One filled market order and one cancelled limit order, through the simulator."""
    from algotrader.app.orders import OrderRequest, cancel_order, place_order
    from algotrader.config import Settings
    from algotrader.db.engine import open_database
    from algotrader.ibsim import IBSimulator, SimConfig

    fixed = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)

    async def main() -> None:
        config = replace(SimConfig(clock=lambda: fixed, tick_interval=0.02))
        async with IBSimulator(config) as sim:
            settings = Settings(ib_port=sim.port, database_url=url, ib_timeout=10.0)
            db = open_database(settings)
            try:
                await place_order(settings, OrderRequest("AAPL", "BUY", 3))
                limit = round(sim.price("MSFT") * 0.5, 2)
                request = OrderRequest("MSFT", "BUY", 2, "LMT", limit_price=limit, tif="GTC")
                placed = (await place_order(settings, request)).order
                await cancel_order(settings, placed.id)
            finally:
                db.dispose()

    # Its own thread: Playwright's sync API may already run an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result(timeout=300)


def _fill(url: str, backend: str, workdir: Path) -> Filled:
    base = ("--database-url", url)
    _cli(workdir, *base, "ingest", "-s", "SPY,QQQ", "-r", "1d", "-d", "2 Y", "--source",
         "synthetic")
    _cli(workdir, *base, "ingest", "-s", "SPY", "-r", "1h", "-d", "30 D", "--source",
         "synthetic")
    filled = Filled(url, backend)
    for symbol, res, strategy, params in BACKTESTS:
        out = _cli(workdir, *base, "backtest", "-s", symbol, "-r", res, "--strategy", strategy,
                   *params)
        filled.run_ids.setdefault(strategy, []).append(_run_id(out))
    filled.portfolio = _run_id(_cli(workdir, *base, "portfolio", "-s", "SPY,QQQ", "--allocator",
                                    "inverse_vol", "--param", "lookback=40"))
    (study,) = json.loads(_cli(workdir, *base, "optimize", "-s", "SPY", "--grid", "fast=5,10,20",
                               "--grid", "slow=30,50", "--json"))
    filled.study, filled.best_point, filled.points = (
        study["study_id"], study["best_run_id"], study["trials"])
    filled.walkforward = _run_id(_cli(workdir, *base, "walkforward", "-s", "SPY", "--grid",
                                      "fast=5,10", "--grid", "slow=30,50", "--train", "1 Y",
                                      "--test", "6 M"))
    _orders(url)
    return filled


def _run_id(out: str) -> int:
    match = re.search(r"Run id: (\d+)", out)
    assert match is not None, out
    return int(match.group(1))


PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def filled(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """A dedicated database (never shared with the ``db_url`` tests, which empty theirs)."""
    workdir = tmp_path_factory.mktemp(f"dash-{request.param}")
    if request.param == "sqlite":
        yield _fill(f"sqlite:///{workdir / 'dash.db'}", "sqlite", workdir)
        return
    request.getfixturevalue("pg_server_url")  # skips, or fails in CI, like the other PG tests
    name = f"algotrader_dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield _fill(f"{url}/{name}", "postgresql", workdir)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``algotrader dashboard`` process."""

    url: str
    process: subprocess.Popen[str]
    log: Path

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=60)


def start_dashboard(database_url: str, workdir: Path, *extra: str,
                    host: str = "127.0.0.1", headers: dict[str, str] | None = None) -> Server:
    """Start the dashboard on a free port and wait (generously) until it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    log = workdir / f"dashboard-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-c", "from algotrader.cli.app import main; main()", "--database-url",
         database_url, "dashboard", "--host", host, "--port", str(port), *extra],
        cwd=workdir, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a guard against a hang, not a speed requirement
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/api/health", headers=headers, timeout=5).status_code in (200, 401):
                return Server(url, process, log)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"dashboard did not answer: {log.read_text()}")


@pytest.fixture(scope="session")
def server(filled: Filled, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_dashboard(filled.url, tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (CI: required; elsewhere skipped when absent).

    Module scope: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break other modules' ``asyncio.run`` on the same worker.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page whose console errors, page errors and non-local requests are recorded."""

    page: Any
    errors: list[str]
    outside: list[str]

    def clean(self) -> bool:
        return not self.errors and not self.outside

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    watched = Watched(context.new_page(), [], [])

    def guard(route: Any) -> None:
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "about:")) or host in ("127.0.0.1",
                                                                          "localhost"):
            route.continue_()
        else:
            watched.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    watched.page.on("console", lambda m: watched.errors.append(m.text)
                    if m.type == "error" else None)
    watched.page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    yield watched
    context.close()
