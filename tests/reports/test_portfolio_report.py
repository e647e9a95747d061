"""The report of a portfolio backtest: equity vs benchmark, drawdown, weights, contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from algotrader.portfolio import Portfolio, PortfolioResult
from algotrader.reports import RunInfo, build_report, portfolio_report
from algotrader.reports.portfolio import MAX_STACKED, stacked_weights


def _bars(symbols: int, n: int = 400, seed: int = 5) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2022-01-03", periods=n, freq="B", tz="UTC", name="ts")
    out = {}
    for k in range(symbols):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
        open_ = np.r_[close[:1], close[:-1]]
        out[f"S{k:02d}"] = pd.DataFrame(
            {"open": open_, "high": np.maximum(open_, close) * 1.005,
             "low": np.minimum(open_, close) * 0.995, "close": close,
             "volume": np.full(n, 1e5)}, index=index)
    return out


@pytest.fixture(scope="module")
def result() -> PortfolioResult:
    return Portfolio(_bars(3), "inverse_vol", "monthly", benchmark="S00").run(lookback=40)


def _figure(report_: object, title: str) -> go.Figure:
    (section,) = [s for s in report_.sections if s.title == title]  # type: ignore[attr-defined]
    return section.figure


def test_the_chart_links_equity_drawdown_and_stacked_weights(result: PortfolioResult) -> None:
    fig = _figure(portfolio_report(result), "Equity, drawdown and weights")
    names = [t.name for t in fig.data]
    assert names[:3] == ["portfolio", "benchmark (S00)", "drawdown"]
    stacked = [t for t in fig.data if t.stackgroup == "weights"]
    assert [t.name for t in stacked] == list(result.symbols)
    assert fig.data[0].y[-1] == result.equity.iloc[-1]
    assert fig.data[1].y[-1] == result.benchmark.iloc[-1]
    assert sum(t.y[-1] for t in stacked) == pytest.approx(100 * result.weights.iloc[-1].sum())
    assert min(fig.data[2].y) == pytest.approx(100 * result.metrics["max_drawdown"])


def test_contributions_sum_to_the_total_return(result: PortfolioResult) -> None:
    fig = _figure(portfolio_report(result), "Contribution per symbol")
    assert sorted(fig.data[0].y) == sorted(result.symbols)
    assert sum(fig.data[0].x) / 100 == pytest.approx(result.metrics["total_return"], abs=1e-9)


def test_tables_show_metrics_symbols_and_every_trade(result: PortfolioResult) -> None:
    report = portfolio_report(result, run=RunInfo(run_id=7, synthetic=True))
    tables = {s.title: s for s in report.sections if hasattr(s, "rows")}
    metrics = {row[0]: row[1:] for row in tables["Metrics"].rows}
    assert metrics["total return"][0] == f"{result.metrics['total_return'] * 100:.2f}%"
    assert metrics["turnover (per year)"][0] == f"{result.metrics['turnover_per_year']:,.2f}"
    assert [row[0] for row in tables["Per symbol"].rows] == list(result.per_symbol.index)
    trades = tables["Trades"]
    assert trades.columns[:3] == ("#", "symbol", "side") and len(trades.rows) == len(
        result.trades)
    assert report.synthetic and report.subtitle.startswith("run 7, ")


def test_build_report_dispatches_a_portfolio_result(result: PortfolioResult) -> None:
    assert build_report(result).title.startswith("Portfolio of 3 symbols @ 1d: inverse_vol")


def test_many_symbols_stack_the_largest_then_other() -> None:
    weights = pd.DataFrame(np.tile(np.arange(1, 21) / 210.0, (5, 1)),
                           columns=[f"S{k:02d}" for k in range(20)])
    stacked = stacked_weights(weights)
    assert len(stacked) == MAX_STACKED + 1 and "other" in stacked
    assert set(stacked) - {"other"} == {f"S{k:02d}" for k in range(20 - MAX_STACKED, 20)}
    assert sum(s.iloc[0] for s in stacked.values()) == pytest.approx(1.0)
