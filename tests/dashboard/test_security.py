"""Local by default, a token for anything else, and no other Host headers."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from algotrader.cli.app import main

from .conftest import Server, start_dashboard

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The dashboard on all interfaces with a token (an empty SQLite database)."""
    workdir = tmp_path_factory.mktemp("guarded")
    running = start_dashboard(f"sqlite:///{workdir / 'g.db'}", workdir, "--token", TOKEN,
                              host="0.0.0.0")
    yield running
    # uvicorn shuts down gracefully, then re-raises the signal (the service-manager convention)
    assert running.stop() == -signal.SIGTERM
    assert "Traceback" not in running.log.read_text()


def test_a_non_local_bind_without_a_token_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["dashboard", "--host", "0.0.0.0", "--port", "0"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == ("error: --host 0.0.0.0 exposes the dashboard beyond this machine: pass "
                   "--token SECRET (or set ALGOTRADER_DASHBOARD_TOKEN), or keep --host "
                   "127.0.0.1\n")


def test_a_port_in_use_is_one_clear_line(workdir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(["dashboard", "--port", str(port)])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_without_the_token_nothing_gets_through(guarded: Server) -> None:
    for path in ("/api/runs", "/runs", "/openapi.json", "/static/plotly.min.js"):
        response = httpx.get(f"{guarded.url}{path}")
        assert response.status_code == 401 and TOKEN not in response.text
    wrong = httpx.get(f"{guarded.url}/api/runs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_a_bearer_token_opens_the_api(guarded: Server) -> None:
    response = httpx.get(f"{guarded.url}/api/runs",
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json()["total"] == 0


def test_a_token_in_the_url_becomes_a_cookie_and_leaves_the_address(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.url) as client:
        first = client.get("/runs", params={"token": TOKEN, "sort": "-sharpe"})
        assert first.status_code == 303
        assert first.headers["location"] == f"{guarded.url}/runs?sort=-sharpe"
        assert client.get(first.headers["location"]).status_code == 200
    assert TOKEN not in guarded.log.read_text()


def test_a_local_dashboard_refuses_other_host_names(server: Server) -> None:
    response = httpx.get(f"{server.url}/api/runs", headers={"Host": "attacker.example"})
    assert response.status_code == 400
