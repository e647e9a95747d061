"""A real Prometheus (Debian's package) scrapes a running scheduler and worker on loopback.

After a known ingest (the scheduler's first refresh of a watched series), three backtest jobs
and one order, Prometheus' HTTP API returns the series with the values the database holds, and
every PromQL expression of the Grafana dashboards (and every SQL query of their PostgreSQL
panels) returns data. The configuration is docker/prometheus/prometheus.yml with its targets
pointed at the services. Both services log JSON lines and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from tests.services.conftest import Programs, free_port, need_program, service_settings, wait_for

from algotrader.app.jobs import submit_job
from algotrader.app.watchlist import WatchRequest, add_to_watchlist
from algotrader.config import Settings
from algotrader.timeframes import RESOLUTIONS, Duration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "docker" / "grafana" / "dashboards").glob("*.json"))
ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
TABLES = "jobs, backtest_runs, market_prices, series_state, instruments, watchlist, " \
         "refresh_runs, orders"  # fmt: skip


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def stack_settings(pg_server_url: str, workdir: Path) -> Iterator[Settings]:
    from algotrader.db.engine import open_database

    open_database(pg_server_url).dispose()
    with psycopg.connect(_pg(pg_server_url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES}")
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0]:  # type: ignore[index]
            conn.execute("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE")
    yield service_settings(pg_server_url, workdir)


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "ALGOTRADER_DATABASE_URL": settings.db_url,
            "ALGOTRADER_DATA_SOURCE": "synthetic", "ALGOTRADER_LOG_FORMAT": "json",
            "ALGOTRADER_LOG_DIR": str(settings.log_dir)}  # fmt: skip


def _port(programs: Programs, name: str) -> int:
    def started() -> int | None:
        found = re.search(r"/healthz on 127\.0\.0\.1:(\d+)", programs.log(name))
        return int(found.group(1)) if found else None

    return wait_for(started, f"{name} to start")


def _prometheus_config(scheduler: int, worker: int, prometheus: int) -> dict[str, Any]:
    """docker/prometheus/prometheus.yml, scraping the test's services every second."""
    config = yaml.safe_load((ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    targets = {"algotrader-scheduler": scheduler, "algotrader-worker": worker,
               "prometheus": prometheus}  # fmt: skip
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets)
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
    return config


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5) as response:
            return response.status == 200  # type: ignore[no-any-return]
    except OSError:
        return False


def _query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def _value(port: int, expr: str) -> float | None:
    result = _query(port, expr)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def _targets(dashboard: Path, kind: str) -> list[str]:
    panels = json.loads(dashboard.read_text())["panels"]
    key = "expr" if kind == "prometheus" else "rawSql"
    return [t[key] for p in panels for t in p["targets"] if p["datasource"]["type"].endswith(kind)
            or (kind == "postgresql" and "postgres" in p["datasource"]["type"])]  # fmt: skip


def _start_stack(programs: Programs, settings: Settings, tmp: Path) -> int:
    env = _env(settings)
    programs.start("scheduler", [ALGOTRADER, "serve", "scheduler", "--port", "0",
                                 "--watchlist-check", "1"], env)  # fmt: skip
    programs.start("worker", [ALGOTRADER, "serve", "worker", "--port", "0"], env)
    prometheus_port = free_port()
    config = _prometheus_config(_port(programs, "scheduler"), _port(programs, "worker"),
                                prometheus_port)  # fmt: skip
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    programs.start("prometheus", [
        need_program("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prometheus_port}",
        "--log.level=warn",
    ])  # fmt: skip
    wait_for(lambda: _ready(prometheus_port), "Prometheus to start")
    wait_for(lambda: _value(prometheus_port, "sum(up)") == 3, "Prometheus to scrape 3 targets")
    return prometheus_port


def _known_work(settings: Settings) -> int:
    """Watch SPY (the scheduler fills it), queue 3 backtests, log an order; SPY's bar count."""
    from algotrader.db.engine import open_database
    from algotrader.db.orders import SqlOrderLog as OrderLog

    add_to_watchlist(settings, WatchRequest(("SPY",), (RESOLUTIONS["1d"],), "synthetic",
                                            Duration(6, "M")))  # fmt: skip
    count = "SELECT count(*) FROM market_prices WHERE symbol = 'SPY' AND resolution = '1d'"
    done = "SELECT count(*) FROM refresh_runs WHERE outcome = 'ok'"
    with psycopg.connect(_pg(settings.db_url), autocommit=True) as conn:
        wait_for(lambda: conn.execute(done).fetchone()[0] == 1, "the refresh")  # type: ignore[index]
        bars = int(conn.execute(count).fetchone()[0])  # type: ignore[index]
    for _ in range(3):
        submit_job(settings, "backtest", {"symbol": "SPY", "strategy": "rsi"})
    db = open_database(settings)
    OrderLog(db).create(client_ref="t-1", symbol="SPY", action="BUY", quantity=1.0,
                        order_type="MKT")  # fmt: skip
    db.dispose()
    return bars


def test_prometheus_scrapes_the_services_and_every_dashboard_query_has_data(
    stack_settings: Settings, programs: Programs, tmp_path: Path
) -> None:
    port = _start_stack(programs, stack_settings, tmp_path)
    bars = _known_work(stack_settings)

    sched, work = '{job="algotrader-scheduler"', '{job="algotrader-worker"'
    expected = {
        f'algotrader_bars_fetched_total{sched},source="synthetic",resolution="1d"}}': bars,
        f'algotrader_bars_stored_total{sched},source="synthetic",resolution="1d"}}': bars,
        f'algotrader_ingest_duration_seconds_count{sched},resolution="1d"}}': 1,
        f'algotrader_scheduler_runs_total{sched},resolution="1d",outcome="ok"}}': 1,
        f'algotrader_watchlist_series{sched},resolution="1d"}}': 1,
        f'algotrader_jobs_processed_total{work},kind="backtest",outcome="succeeded"}}': 3,
        f'algotrader_backtests_total{work},resolution="1d"}}': 3,
        f'algotrader_jobs{work},kind="backtest",state="succeeded"}}': 3,
        f'algotrader_jobs{sched},kind="backtest",state="queued"}}': 0,
        f'algotrader_job_queue_oldest_age_seconds{sched}}}': 0,
        f'algotrader_orders{work},status="PendingSubmit"}}': 1,
        f'increase(algotrader_bars_stored_total{sched},resolution="1d",source="synthetic"}}[5m])'
        " > 0": None,
    }
    for expr, value in expected.items():
        wait_for(lambda e=expr, v=value: (found := _value(port, e)) is not None  # type: ignore[misc]
                 and (v is None or found == v), f"{expr} == {value}")  # fmt: skip

    assert len(DASHBOARDS) == 4
    for dashboard in DASHBOARDS:
        for expr in _targets(dashboard, "prometheus"):
            query = expr.replace("$__rate_interval", "5m")
            # rate() needs two scrapes of a series: a new one may take a second to have data.
            wait_for(lambda q=query: _query(port, q), f"{dashboard.name}: data for {expr}")  # type: ignore[misc]
        with psycopg.connect(_pg(stack_settings.db_url)) as conn:
            for sql in _targets(dashboard, "postgresql"):
                assert conn.execute(sql).fetchall(), f"{dashboard.name}: no rows for {sql}"

    _stop_cleanly(programs)


def _stop_cleanly(programs: Programs) -> None:
    for name in ("scheduler", "worker"):
        assert programs.stop(name) == 0, programs.log(name)[-2000:]
        lines = [json.loads(line) for line in programs.log(name).splitlines()]  # all JSON
        assert {line["service"] for line in lines} == {name}
        assert lines[-1]["message"].endswith("stopped")
    log = programs.log("scheduler").splitlines()
    scheduler = [line["message"] for line in map(json.loads, log)]
    assert len([m for m in scheduler if m.startswith("refresh 1d")]) == 1  # one line per job
    worker = [line["message"] for line in map(json.loads, programs.log("worker").splitlines())]
    assert len([m for m in worker if re.match(r"job \d+ backtest succeeded", m)]) == 3
