"""The report file opened in headless Chromium with the network blocked: it renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from algotrader.backtest import Backtest
from algotrader.reports import RunInfo, backtest_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"


def test_a_100k_bar_report_renders_offline_without_errors(
    chromium: Any, minute_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = Backtest(minute_frame, "macd", resolution="1m").run()
    path = backtest_report(result, minute_frame, symbol="QQQ",
                           run=RunInfo(symbol="QQQ", synthetic=True)).write(tmp_path / "r.html")
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def block(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", block)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    assert page.locator("g.trace.boxes").count() >= 1  # the candlesticks
    assert page.locator(".plotly-graph-div").count() == 2  # main chart and monthly heatmap
    assert page.locator("text=SYNTHETIC DATA - not market prices").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report_100k_minute_bars.png"), full_page=True)
    context.close()
    assert errors == [] and outside == []


def test_clicking_a_trades_header_sorts_the_table(
    chromium: Any, indicator_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = Backtest(indicator_frame, "bollinger").run()
    path = backtest_report(result, indicator_frame).write(tmp_path / "b.html")
    page = chromium.new_page()
    page.goto(path.as_uri())
    table = page.locator("section:has(h2:text-is('Trades')) table")
    table.locator("th", has_text="P&L").click()
    cells = table.locator("tbody td:nth-child(8)").all_inner_texts()
    shown = [float(t.replace(",", "")) for t in cells]
    assert shown == sorted(result.trades["pnl"].round(2).tolist())
    page.close()
