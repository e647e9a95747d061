"""What can be checked of docker/ without a Docker engine: the compose file with Debian's
docker-compose, the Dockerfile with hadolint, the Prometheus configuration with promtool, the
Grafana provisioning against its dashboards, and the PostgreSQL init script on a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from tests.services.conftest import need_program

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SERVICES = {"postgres", "ib-gateway", "scheduler", "worker", "dashboard", "prometheus", "grafana"}


def _compose(tmp_path: Path, with_env: bool) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "docker"
    shutil.copytree(DOCKER, copy)
    if with_env:
        shutil.copy(copy / ".env.example", copy / ".env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "GF_"))}
    return subprocess.run([need_program("docker-compose"), "config"], cwd=copy, env=env,
                          capture_output=True, text=True)  # fmt: skip


def test_the_compose_file_is_valid_and_has_every_service(tmp_path: Path) -> None:
    done = _compose(tmp_path, with_env=True)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert set(config["services"]) == SERVICES
    assert config["services"]["ib-gateway"]["command"][:1] == ["ib-sim"]
    dashboard = config["services"]["dashboard"]
    assert "profiles" not in dashboard  # started with the others
    assert dashboard["command"][:3] == ["dashboard", "--host", "0.0.0.0"]
    # A non-local bind refuses to start without a token: the env file gives it one.
    assert dashboard["environment"]["ALGOTRADER_DASHBOARD_TOKEN"] == "change-me-dashboard-token"
    assert dashboard["environment"]["ALGOTRADER_LOG_FORMAT"] == "json"
    for name in ("scheduler", "worker"):
        service = config["services"][name]
        assert service["command"][:2] == ["serve", name]
        assert "healthz" in " ".join(service["healthcheck"]["test"])
    url = config["services"]["worker"]["environment"]["ALGOTRADER_DATABASE_URL"]
    assert url == "postgresql+psycopg://algotrader:change-me@postgres:5432/algotrader"


def test_secrets_come_only_from_the_uncommitted_env_file(tmp_path: Path) -> None:
    done = _compose(tmp_path, with_env=False)
    assert done.returncode != 0 and "set it in docker/.env" in done.stderr
    compose = (DOCKER / "docker-compose.yml").read_text()
    for line in (DOCKER / ".env.example").read_text().splitlines():
        if "PASSWORD=" in line:
            assert line.split("=", 1)[1] not in compose
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DOCKER / ".env")], cwd=DOCKER)
    assert ignored.returncode == 0  # docker/.env is never committed


def test_the_dockerfile_passes_hadolint_and_is_multi_stage_pinned_and_non_root() -> None:
    done = subprocess.run([need_program("hadolint"), str(DOCKER / "Dockerfile")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = (DOCKER / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert len(bases) == 2 and all(re.fullmatch(r"[\w.\-/]+:[\w.\-]+@sha256:[0-9a-f]{64}", b)
                                   for b in bases)  # fmt: skip
    assert re.findall(r"^USER (\d+):(\d+)$", text, flags=re.M) == [("10001", "10001")]
    assert "pip install --requirement requirements.lock" in text


def test_the_prometheus_configuration_passes_promtool(tmp_path: Path) -> None:
    copy = tmp_path / "prometheus.yml"
    shutil.copy(DOCKER / "prometheus" / "prometheus.yml", copy)
    done = subprocess.run([need_program("promtool"), "check", "config", str(copy)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_panel_uses_a_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text()
    )
    sources = {(d["type"], d["uid"]) for d in provisioned["datasources"]}
    providers = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    uids = []
    for path in sorted((DOCKER / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert "id" not in dashboard and 8 <= len(dashboard["uid"]) <= 40
        uids.append(dashboard["uid"])
        for panel in dashboard["panels"]:
            assert panel["targets"], f"{path.name}: {panel['title']} has no query"
            for target in [panel, *panel["targets"]]:
                used = target["datasource"]
                assert (used["type"], used["uid"]) in sources, f"{path.name}: {panel['title']}"
    assert len(uids) == len(set(uids)) == 4


def test_the_postgres_init_script_creates_a_read_only_reader(pg_server_url: str) -> None:
    admin = pg_server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    database = admin.rsplit("/", 1)[1]
    reader = f"reader_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "POSTGRES_USER": "postgres", "POSTGRES_DB": database,
           "GRAFANA_DB_USER": reader, "GRAFANA_DB_PASSWORD": "s3cret",
           "PGHOST": "127.0.0.1"}  # fmt: skip
    need_program("psql")
    try:
        subprocess.run(["sh", str(DOCKER / "postgres" / "10-grafana-reader.sh")], env=env,
                       check=True, capture_output=True)  # fmt: skip
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {reader}_later (x int)")  # created after the script ran
            conn.execute(f"INSERT INTO {reader}_later VALUES (1)")
        as_reader = admin.replace("postgres@", f"{reader}:s3cret@", 1)
        with psycopg.connect(as_reader, autocommit=True) as conn:
            assert conn.execute(f"SELECT x FROM {reader}_later").fetchall() == [(1,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"INSERT INTO {reader}_later VALUES (2)")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {reader}_later")
            if _role(conn, reader):
                conn.execute(f"DROP OWNED BY {reader}")
            conn.execute(f"DROP ROLE IF EXISTS {reader}")


def _role(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None
