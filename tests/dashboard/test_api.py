"""The JSON API of the running dashboard: the same data as the pages, clear 4xx answers."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Filled, Server


def test_the_schema_documents_the_api_and_hides_the_pages(server: Server) -> None:
    paths = set(httpx.get(f"{server.url}/openapi.json").json()["paths"])
    assert {"/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/rerun", "/api/compare",
            "/api/studies", "/api/studies/{study_id}", "/api/data", "/api/orders"} <= paths
    assert not any(p.startswith(("/runs", "/data", "/orders", "/compare", "/studies"))
                   for p in paths)


def test_runs_are_sorted_and_paged_by_the_server(server: Server, filled: Filled) -> None:
    first = httpx.get(f"{server.url}/api/runs", params={"sort": "-total_return",
                                                        "page_size": 4}).json()
    second = httpx.get(f"{server.url}/api/runs", params={"sort": "-total_return",
                                                         "page_size": 4, "page": 2}).json()
    assert (first["total"], first["pages"]) == (filled.runs, 2)
    returns = [r["metrics"]["total_return"] for r in first["runs"] + second["runs"]]
    assert returns == sorted(returns, reverse=True) and len(returns) == filled.runs


def test_filters_combine(server: Server, filled: Filled) -> None:
    found = httpx.get(f"{server.url}/api/runs", params=[
        ("strategy", "ma_cross"), ("param", "fast=10"), ("metric", "num_trades>=0")]).json()
    assert [r["id"] for r in found["runs"]] == [filled.run_ids["ma_cross"][0]]


def test_series_are_downsampled_but_keep_the_deepest_drawdown(server: Server,
                                                             filled: Filled) -> None:
    run_id = filled.run_ids["supertrend"][0]
    run = httpx.get(f"{server.url}/api/runs/{run_id}").json()
    series = httpx.get(f"{server.url}/api/runs/{run_id}/series",
                       params={"max_points": 20}).json()
    assert len(series["ts"]) <= 20 < run["bars"]
    assert min(series["drawdown"]) == pytest.approx(run["metrics"]["max_drawdown"], rel=1e-12)


def test_compare_returns_each_runs_curve(server: Server, filled: Filled) -> None:
    ids = [filled.run_ids["rsi"][0], filled.run_ids["macd"][0]]
    body = httpx.get(f"{server.url}/api/compare", params=[("ids", i) for i in ids]).json()
    assert [c["run_id"] for c in body["curves"]] == ids
    for curve, run in zip(body["curves"], body["runs"], strict=True):
        assert curve["returns"][-1] == pytest.approx(run["metrics"]["total_return"], rel=1e-12)


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/api/runs?sort=sharpee", 422, "did you mean 'sharpe'"),
        ("/api/runs?page=0", 422, "page"),
        ("/api/runs?metric=sharpe>>1", 422, "metric"),
        ("/api/runs?symbol=%00", 422, "symbol"),
        ("/api/runs/0", 422, "run_id"),
        ("/api/runs/99999999999999999999", 422, "run_id"),
        ("/api/runs/424242", 404, "no backtest run with id 424242"),
        ("/api/runs?kind=portfolios", 422, "did you mean 'portfolio'"),
        ("/api/studies/424242", 404, "no study with id 424242"),
        ("/api/compare", 422, "ids"),
        ("/api/compare?ids=1&ids=1&ids=2&ids=3&ids=4&ids=5&ids=6&ids=7&ids=8", 422, "ids"),
        ("/api/nothing", 404, "no page"),
    ],
)
def test_bad_requests_get_a_4xx_with_one_clear_line(server: Server, path: str, status: int,
                                                    says: str) -> None:
    response = httpx.get(f"{server.url}{path}")
    assert response.status_code == status
    error = response.json()["error"]
    assert says in error and "\n" not in error and "Traceback" not in response.text


def test_every_answer_says_how_long_the_server_took(server: Server) -> None:
    timing = httpx.get(f"{server.url}/api/runs").headers["server-timing"]
    assert timing.startswith("app;dur=") and float(timing.split("=")[1]) > 0


@pytest.mark.parametrize("kind", ["backtest", "portfolio", "walkforward", "study_point"])
def test_a_rerun_through_the_api_reproduces_every_kind(server: Server, filled: Filled,
                                                       kind: str) -> None:
    run_id = {"backtest": filled.run_ids["bollinger"][0], "portfolio": filled.portfolio,
              "walkforward": filled.walkforward, "study_point": filled.best_point}[kind]
    verdict = httpx.post(f"{server.url}/api/runs/{run_id}/rerun", timeout=300).json()
    assert (verdict["kind"], verdict["reproduced"], verdict["identical_trades"]) == (
        kind, True, True)


def test_kinds_filter_the_runs(server: Server, filled: Filled) -> None:
    listed = httpx.get(f"{server.url}/api/runs", params={"page_size": 500}).json()
    assert listed["total"] == filled.runs
    points = httpx.get(f"{server.url}/api/runs", params={
        "study_id": filled.study, "page_size": 500}).json()
    assert points["total"] == filled.points
    assert {(r["kind"], r["study_id"]) for r in points["runs"]} == {("study_point", filled.study)}
    everything = httpx.get(f"{server.url}/api/runs", params={"kind": "all"}).json()
    assert everything["total"] == filled.runs + filled.points


def test_a_study_and_its_points_best_first(server: Server, filled: Filled) -> None:
    (row,) = [s for s in httpx.get(f"{server.url}/api/studies").json()["studies"]
              if s["id"] == filled.study]
    assert row["best_run_id"] == filled.best_point and row["n_trials"] == filled.points
    body = httpx.get(f"{server.url}/api/studies/{filled.study}").json()
    objectives = [p["objective"] for p in body["points"]]
    assert body["points"][0]["run_id"] == filled.best_point
    assert objectives == sorted(objectives, reverse=True)
    assert body["study"]["summary"]["deflated_sharpe"]["trials"] == filled.points
