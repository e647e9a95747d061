"""The dashboard driven in headless Chromium, as a person would, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from algotrader.db.engine import open_database
from algotrader.db.store import SqlBarStore

from .conftest import Filled, Server, Watched


def _runs_api(server: Server) -> list[dict]:  # type: ignore[type-arg]
    return list(httpx.get(f"{server.url}/api/runs", params={"page_size": 500}).json()["runs"])


def test_runs_page_sorts_by_sharpe(page: Watched, server: Server, filled: Filled) -> None:
    page.page.goto(f"{server.url}/runs")
    assert page.page.locator("#runs tbody tr[data-run-id]").count() == filled.runs
    page.page.locator("a.sort[data-sort='sharpe']").click()
    page.page.wait_for_url("**/runs?sort=-sharpe*")
    shown = [int(x) for x in page.page.locator("#runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.runId)")]
    stored = _runs_api(server)
    defined = sorted((r for r in stored if r["metrics"]["sharpe"] is not None),
                     key=lambda r: -r["metrics"]["sharpe"])
    undefined = sorted((r["id"] for r in stored if r["metrics"]["sharpe"] is None), reverse=True)
    assert shown == [r["id"] for r in defined] + undefined
    page.shot(f"runs_sorted_by_sharpe_{filled.backend}")
    assert page.clean(), (page.errors, page.outside)


def test_runs_page_filters_by_strategy(page: Watched, server: Server, filled: Filled) -> None:
    page.page.goto(f"{server.url}/runs")
    page.page.select_option("select[name=strategy]", "ma_cross")
    page.page.click("#apply")
    page.page.wait_for_url("**strategy=ma_cross*")
    rows = page.page.locator("#runs tbody tr[data-run-id]")
    ids = sorted(int(x) for x in rows.evaluate_all("rows => rows.map(r => r.dataset.runId)"))
    assert ids == sorted([*filled.run_ids["ma_cross"], filled.walkforward])
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.strategy)")) == {"ma_cross"}
    assert page.clean()


def test_study_points_show_when_their_kind_is_chosen(page: Watched, server: Server,
                                                     filled: Filled) -> None:
    page.page.goto(f"{server.url}/runs")
    kinds = page.page.locator("#runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)")
    assert "study_point" not in kinds and {"backtest", "portfolio", "walkforward"} <= set(kinds)
    page.page.select_option("select[name=kind]", "study_point")
    page.page.click("#apply")
    page.page.wait_for_url("**kind=study_point*")
    rows = page.page.locator("#runs tbody tr[data-run-id]")
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.kind)")) == {"study_point"}
    assert rows.count() == filled.points
    assert page.clean()


def test_a_run_page_renders_its_chart(page: Watched, server: Server, filled: Filled) -> None:
    run_id = filled.run_ids["ma_cross"][0]
    page.page.goto(f"{server.url}/runs")
    page.page.click(f"#runs a[href='/runs/{run_id}']")
    page.page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    assert page.page.locator("g.trace.boxes").count() >= 1  # candlesticks drawn
    legend = page.page.locator(".legendtext").all_text_contents()
    assert "SMA(10)" in legend and "SMA(30)" in legend
    assert page.page.locator(".synthetic-banner").is_visible()
    page.shot(f"run_{filled.backend}")
    assert page.clean(), (page.errors, page.outside)


def test_rerun_shows_its_verdict(page: Watched, server: Server, filled: Filled) -> None:
    run_id = filled.run_ids["rsi"][0]
    page.page.goto(f"{server.url}/runs/{run_id}")
    page.page.click("#rerun")
    verdict = page.page.locator("#verdict")
    verdict.wait_for(timeout=60_000)
    assert verdict.inner_text().startswith(f"Run {run_id} reproduced")
    assert page.clean()


def test_two_runs_compared_side_by_side(page: Watched, server: Server, filled: Filled) -> None:
    first, second = filled.run_ids["macd"][0], filled.run_ids["supertrend"][0]
    page.page.goto(f"{server.url}/runs")
    page.page.check(f"input[name=ids][value='{first}']")
    page.page.check(f"input[name=ids][value='{second}']")
    page.page.click("#compare")
    page.page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    assert page.page.locator(".plotly-graph-div g.trace.scatter").count() == 2
    headers = page.page.locator("#compare-metrics thead th").all_inner_texts()[1:]
    assert sorted(headers) == [f"#{first} QQQ 1d macd", f"#{second} SPY 1h supertrend"]
    page.shot(f"compare_{filled.backend}")
    assert page.clean()


def test_a_study_page_shows_its_heatmap_and_links_its_points(
    page: Watched, server: Server, filled: Filled
) -> None:
    page.page.goto(f"{server.url}/studies")
    page.page.click(f"#studies a[href='/studies/{filled.study}']")
    page.page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    assert page.page.locator(".plotly-graph-div .heatmaplayer image").count() >= 1
    points = page.page.locator("section:has(h2:text-is('Points, best first')) tbody tr")
    assert points.count() == filled.points
    page.shot(f"study_{filled.backend}")
    points.first.locator("a").click()
    page.page.wait_for_url(f"**/runs/{filled.best_point}")
    page.page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    assert page.page.locator("#study-link").get_attribute("href") == f"/studies/{filled.study}"
    assert page.clean(), (page.errors, page.outside)


def test_a_portfolio_run_page_stacks_its_weights(page: Watched, server: Server,
                                                 filled: Filled) -> None:
    page.page.goto(f"{server.url}/runs?kind=portfolio")
    page.page.click(f"#runs a[href='/runs/{filled.portfolio}']")
    page.page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    legend = page.page.locator(".legendtext").all_text_contents()
    assert {"portfolio", "SPY", "QQQ"} <= set(legend)
    assert page.page.locator("#kind").inner_text() == "portfolio"
    assert page.page.locator("section:has(h2:text-is('Contribution per symbol'))").is_visible()
    page.shot(f"portfolio_run_{filled.backend}")
    assert page.clean(), (page.errors, page.outside)


def test_data_page_shows_what_is_stored(page: Watched, server: Server, filled: Filled) -> None:
    page.page.goto(f"{server.url}/data")
    db = open_database(filled.url)
    try:
        expected = {(s, r): SqlBarStore(db).count(s, r) for s, r in
                    (("SPY", "1d"), ("QQQ", "1d"), ("SPY", "1h"))}
    finally:
        db.dispose()
    for (symbol, res), count in expected.items():
        row = page.page.locator(f"#data tr[data-symbol='{symbol}'][data-resolution='{res}']")
        assert int(row.locator("td[data-bars]").get_attribute("data-bars") or -1) == count
        assert row.locator(".tag").inner_text() == "synthetic"
    page.shot(f"data_{filled.backend}")
    assert page.clean()


def test_orders_page_shows_status_histories(page: Watched, server: Server,
                                            filled: Filled) -> None:
    page.page.goto(f"{server.url}/orders")
    statuses = page.page.locator("#orders tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)")
    assert sorted(statuses) == ["Cancelled", "Filled"]
    cancelled = page.page.locator("#orders tr[data-status='Cancelled']")
    cancelled.locator("summary").click()
    history = cancelled.locator("ol.history li").all_inner_texts()
    assert "PendingSubmit" in history[0] and "Cancelled" in history[-1]
    page.shot(f"orders_{filled.backend}")
    assert page.clean()


def test_a_bad_url_gets_a_4xx_page_without_a_traceback(page: Watched, server: Server) -> None:
    for path, status in (("/runs?page=abc", 400), ("/runs/987654321", 404), ("/runs/x", 422),
                         ("/nowhere", 404)):
        response = page.page.goto(f"{server.url}{path}")
        assert response is not None and response.status == status
        text = page.page.locator("body").inner_text()
        assert page.page.locator("#error").is_visible() and "Traceback" not in text
    assert page.outside == []
