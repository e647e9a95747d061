"""``/healthz`` and ``/metrics`` of a service, with the platform state read from the database."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.services.conftest import need_program, service_settings

from algotrader.app.monitoring import StatusReader
from algotrader.app.watchlist import WatchRequest, add_to_watchlist
from algotrader.services.collectors import StatusCollector
from algotrader.services.endpoint import ServiceEndpoint, service_registry
from algotrader.timeframes import RESOLUTIONS


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def health() -> dict[str, Any]:
    return {"ok": True}


@pytest.fixture
def endpoint(db_url: str, workdir: Path, health: dict[str, Any]):  # type: ignore[no-untyped-def]
    settings = service_settings(db_url, workdir)
    add_to_watchlist(settings, WatchRequest(("SPY", "QQQ"), (RESOLUTIONS["1h"],)))
    reader = StatusReader(settings)
    registry = service_registry([StatusCollector(reader)])
    served = ServiceEndpoint("127.0.0.1", 0, lambda: (health["ok"], {"x": 1}), registry).start()
    yield served
    served.stop()
    reader.close()


def test_healthz_says_ok_or_503_with_the_same_document(
    endpoint: ServiceEndpoint, health: dict[str, Any]
) -> None:
    status, body = _get(endpoint.port, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok", "x": 1}
    health["ok"] = False
    status, body = _get(endpoint.port, "/healthz")
    assert status == 503 and json.loads(body)["status"] == "unhealthy"
    assert _get(endpoint.port, "/nope")[0] == 404


def test_metrics_carry_the_database_state_and_the_process_and_pass_promtool(
    endpoint: ServiceEndpoint,
) -> None:
    status, body = _get(endpoint.port, "/metrics")
    assert status == 200
    families = text_string_to_metric_families(body.decode())
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families for s in f.samples}  # fmt: skip
    assert samples[("algotrader_watchlist_series", (("resolution", "1h"),))] == 2
    assert samples[("algotrader_database_up", ())] == 1
    assert samples[("algotrader_jobs", (("kind", "backtest"), ("state", "queued")))] == 0
    assert samples[("algotrader_orders", (("status", "Filled"),))] == 0
    assert ("process_cpu_seconds_total", ()) in samples
    lint = subprocess.run([need_program("promtool"), "check", "metrics"], input=body,
                          capture_output=True)  # fmt: skip
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
