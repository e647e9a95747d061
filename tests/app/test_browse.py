"""The dashboard's use cases (``Browser``) and the report use cases over stored runs of every
kind, on SQLite and PostgreSQL.

One database per backend is filled once for the module (real ingests, backtests, a portfolio,
a study and a walk-forward run through the application layer) and only read; the tests that
change data use their own ``db_url`` database.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from algotrader.app.backtests import BacktestRequest, StoredRun, run_backtest
from algotrader.app.browse import Browser, Condition, RunQuery
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.portfolios import PortfolioRequest, StoredPortfolio, run_portfolio
from algotrader.app.research import (
    ResearchRequest,
    StoredStudy,
    StoredWalkForward,
    run_optimization,
    run_walkforward,
)
from algotrader.config import Settings, load_settings
from algotrader.db.engine import open_database
from algotrader.db.orders import SqlOrderLog as OrderLog
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.orders import history_entry
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")
PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKTESTS = (
    ("SPY", "ma_cross", {"fast": "10", "slow": "30"}),
    ("SPY", "ma_cross", {"fast": "20", "slow": "50"}),
    ("SPY", "rsi", {}),
    ("QQQ", "macd", {}),
    ("QQQ", "bollinger", {}),
    ("QQQ", "hello_world", {}),
)


@dataclass
class Stored:
    """A database holding every kind of run, and what each command returned."""

    settings: Settings
    backtests: list[StoredRun] = field(default_factory=list)
    portfolio: StoredPortfolio | None = None
    study: StoredStudy | None = None
    walkforward: StoredWalkForward | None = None


def _settings(url: str, where: Path) -> Settings:
    return load_settings(database_url=url, data_dir=str(where / "data"),
                         log_dir=str(where / "logs"))


def _fill(settings: Settings) -> Stored:
    window = IngestWindow(parse_duration("2 Y"))
    ingest(settings, IngestRequest(("SPY", "QQQ"), (DAILY,), window, source="synthetic"))
    stored = Stored(settings)
    for symbol, name, params in BACKTESTS:
        stored.backtests.append(
            run_backtest(settings, BacktestRequest(symbol, DAILY, name, params)))
    stored.portfolio = run_portfolio(settings, PortfolioRequest(
        ("SPY", "QQQ"), DAILY, "inverse_vol", params={"lookback": "40"}))
    research = ResearchRequest(symbols=("SPY",), resolution=DAILY, strategy="ma_cross",
                               grid=("fast=5,10,20", "slow=30,50"))
    (stored.study,) = run_optimization(settings, research)
    stored.walkforward = run_walkforward(
        settings, ResearchRequest(symbols=("SPY",), resolution=DAILY, strategy="ma_cross",
                                  grid=("fast=5,10", "slow=30,50")),
        train=parse_duration("1 Y"), test=parse_duration("6 M"))
    return stored


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stored(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """A dedicated database per backend (the ``db_url`` tests empty theirs)."""
    where = tmp_path_factory.mktemp(f"browse-{request.param}")
    if request.param == "sqlite":
        yield _fill(_settings(f"sqlite:///{where / 'browse.db'}", where))
        return
    request.getfixturevalue("pg_server_url")  # skips, or fails in CI, like the other PG tests
    name = f"algotrader_browse_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield _fill(_settings(f"{base}/{name}", where))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def browser(stored: Stored) -> Iterator[Browser]:
    with Browser.open(stored.settings) as opened:
        yield opened


def _metric(run: StoredRun, key: str) -> float | None:
    """A metric as stored: infinity stays (sorts as the largest), NaN is undefined."""
    value = run.result.metrics[key]
    return None if math.isnan(value) else value


# ------------------------------------------------------------------------------ runs


def test_runs_sort_by_a_metric_with_undefined_values_last(stored: Stored,
                                                         browser: Browser) -> None:
    page = browser.runs(RunQuery(kind="backtest", sort="-profit_factor"))
    defined = sorted((r for r in stored.backtests if _metric(r, "profit_factor") is not None),
                     key=lambda r: (-_metric(r, "profit_factor"), -r.run_id))  # type: ignore[operator]
    assert [r.id for r in page.runs][: len(defined)] == [r.run_id for r in defined]
    assert all(r.metrics["profit_factor"] is None for r in page.runs[len(defined):])


def test_metric_filters_run_in_the_database(stored: Stored, browser: Browser) -> None:
    cond = Condition.parse("num_trades>=3")
    page = browser.runs(RunQuery(kind="backtest", metrics=(cond,), sort="id"))
    assert [r.id for r in page.runs] == [
        r.run_id for r in stored.backtests if r.result.metrics["num_trades"] >= 3]


def test_parameter_filters_compare_numbers_as_numbers(stored: Stored, browser: Browser) -> None:
    exact = browser.runs(RunQuery(params=(Condition.parse("fast=10.0", what="parameter"),)))
    assert [r.id for r in exact.runs] == [stored.backtests[0].run_id]
    above = browser.runs(RunQuery(params=(Condition.parse("slow>30", what="parameter"),)))
    assert [r.id for r in above.runs] == [stored.backtests[1].run_id]


def test_symbol_and_strategy_filters_and_pages(stored: Stored, browser: Browser) -> None:
    page = browser.runs(RunQuery(symbol="qqq", sort="id", page=2, page_size=2))
    qqq = [r.run_id for r in stored.backtests if r.symbol == "QQQ"]
    assert (page.total, page.pages, [r.id for r in page.runs]) == (3, 2, qqq[2:])
    only = browser.runs(RunQuery(strategy="rsi"))
    assert [r.strategy for r in only.runs] == ["rsi"]


def test_study_points_are_listed_only_when_asked(stored: Stored, browser: Browser) -> None:
    assert stored.study is not None and stored.walkforward is not None
    assert stored.portfolio is not None
    default = browser.runs(RunQuery(page_size=500))
    assert {r.kind for r in default.runs} == {"backtest", "portfolio", "walkforward"}
    assert default.total == len(BACKTESTS) + 2
    points = browser.runs(RunQuery(study_id=stored.study.study_id, page_size=500))
    assert sorted(r.id for r in points.runs) == sorted(stored.study.run_ids.values())
    assert {(r.kind, r.study_id) for r in points.runs} == {("study_point", stored.study.study_id)}
    everything = browser.runs(RunQuery(kind="all", page_size=500))
    assert everything.total == default.total + len(stored.study.run_ids)
    portfolio = browser.runs(RunQuery(kind="portfolio")).runs
    assert [(r.id, r.symbol) for r in portfolio] == [(stored.portfolio.run_id, "SPY,QQQ")]


def test_an_unknown_kind_suggests_the_closest(browser: Browser) -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'portfolio'"):
        browser.runs(RunQuery(kind="portfolios"))


def test_facets_name_the_kinds_stored(browser: Browser) -> None:
    facets = browser.facets()
    assert facets.kinds == ["backtest", "portfolio", "study_point", "walkforward"]
    assert {"SPY", "QQQ", "SPY,QQQ"} == set(facets.symbols)
    assert "kind" in facets.sort_keys and "sharpe" in facets.sort_keys


def test_created_dates_filter_and_far_out_dates_do_not_fail(stored: Stored,
                                                           browser: Browser) -> None:
    run = browser.run(stored.backtests[0].run_id)
    after = browser.runs(RunQuery(created_from=run.created_at + timedelta(days=1)))
    assert after.total == 0
    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    assert browser.runs(RunQuery(kind="backtest", created_from=far)).total == len(BACKTESTS)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (RunQuery(sort="-sharpee"), "did you mean 'sharpe'"),
        (RunQuery(page_size=0), "invalid page size 0"),
        (RunQuery(symbol="SP\x00Y"), "invalid symbol"),
    ],
)
def test_bad_queries_are_one_clear_error(browser: Browser, query: RunQuery, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        browser.runs(query)


@pytest.mark.parametrize("bad", ["sharpe", "sharpe>>1", "sharpe>inf", "1x=2"])
def test_malformed_conditions_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        Condition.parse(bad)


def test_text_parameters_compare_only_for_equality() -> None:
    cond = Condition.parse("mode=fast", what="parameter")
    assert (cond.name, cond.op, cond.value) == ("mode", "=", "fast")


def test_one_run_with_everything_it_records(stored: Stored, browser: Browser) -> None:
    run = browser.run(stored.backtests[0].run_id)
    assert (run.symbol, run.strategy, run.params) == ("SPY", "ma_cross", {"fast": 10, "slow": 30})
    assert run.synthetic and len(run.trades) == len(stored.backtests[0].result.trades)
    assert run.kind == "backtest" and run.detail is None
    with pytest.raises(DataNotFoundError, match="no backtest run with id 999999"):
        browser.run(999999)


def test_the_readonly_database_refuses_writes(stored: Stored, browser: Browser) -> None:
    from algotrader.db.browse import open_readonly

    db = open_readonly(stored.settings)
    try:
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM backtest_runs"))
    finally:
        db.dispose()
    assert browser.runs(RunQuery(kind="backtest")).total == len(BACKTESTS)


# ------------------------------------------------------------------------------ recompute


@pytest.mark.parametrize("kind", ["backtest", "portfolio", "walkforward", "study_point"])
def test_rerun_reproduces_every_kind_of_run(stored: Stored, browser: Browser, kind: str) -> None:
    assert stored.portfolio and stored.walkforward and stored.study
    run_id = {"backtest": stored.backtests[2].run_id, "portfolio": stored.portfolio.run_id,
              "walkforward": stored.walkforward.run_id,
              "study_point": stored.study.best_run_id}[kind]
    verdict = browser.rerun(run_id)
    assert (verdict.kind, verdict.reproduced, verdict.same_data) == (kind, True, True)
    assert verdict.message.startswith(f"Run {run_id} reproduced")


def test_compare_recomputes_curves_of_any_kind(stored: Stored, browser: Browser) -> None:
    assert stored.portfolio is not None and stored.walkforward is not None
    backtest, portfolio = stored.backtests[3], stored.portfolio
    found = browser.compare([backtest.run_id, portfolio.run_id, stored.walkforward.run_id])
    assert found.curves[backtest.run_id].equals(backtest.result.equity / 100_000.0 - 1.0)
    assert found.curves[portfolio.run_id].equals(portfolio.result.equity / 100_000.0 - 1.0)
    oos = stored.walkforward.result.equity / 100_000.0 - 1.0
    assert found.curves[stored.walkforward.run_id].equals(oos)


def test_a_walk_forward_replay_chains_the_same_out_of_sample_curve(stored: Stored,
                                                                  browser: Browser) -> None:
    assert stored.walkforward is not None
    again = browser.recompute(stored.walkforward.run_id)
    assert again.same_data
    assert again.equity.equals(stored.walkforward.result.equity)
    assert again.baseline.equals(stored.walkforward.result.buy_hold)
    assert len(again.result.trades) == len(browser.run(stored.walkforward.run_id).trades)


def test_series_keep_the_deepest_drawdown(stored: Stored, browser: Browser) -> None:
    assert stored.portfolio is not None
    series = browser.series(stored.portfolio.run_id, max_points=20)
    assert len(series.ts) <= 20 < len(stored.portfolio.result.equity)
    expected = stored.portfolio.result.metrics["max_drawdown"]
    assert min(v for v in series.drawdown if v is not None) == pytest.approx(expected, rel=1e-12)
    assert series.baseline[-1] == stored.portfolio.result.benchmark.iloc[-1]


# ------------------------------------------------------------------------------ studies


def test_studies_list_their_best_point(stored: Stored, browser: Browser) -> None:
    assert stored.study is not None
    (row,) = [s for s in browser.studies().studies if s.id == stored.study.study_id]
    best = stored.study.study.best
    assert (row.best_run_id, row.best_params) == (stored.study.best_run_id, best.params)
    assert row.best_objective == best.objective and row.objective == "sharpe"
    assert row.n_trials == 6 and row.dsr is not None


def test_a_study_lists_its_points_best_first(stored: Stored, browser: Browser) -> None:
    assert stored.study is not None
    overview = browser.study(stored.study.study_id)
    ranked = [p.id for p in stored.study.study.ranked()]
    assert [p.point for p in overview.points] == ranked
    assert [p.run_id for p in overview.points] == [stored.study.run_ids[i] for i in ranked]
    with pytest.raises(DataNotFoundError, match="no study with id 999999"):
        browser.study(999999)


# ------------------------------------------------------------------------------ reports


def test_report_of_a_stored_backtest_against_a_benchmark(stored: Stored,
                                                         browser: Browser) -> None:
    report = browser.run_report(stored.backtests[3].run_id, benchmark="spy")
    assert report.synthetic and "QQQ @ 1d: macd" in report.title
    assert "SPY" in [t.name for t in report.figures()[0].data]
    with pytest.raises(DataNotFoundError, match="algotrader ingest -s IWM"):
        browser.run_report(stored.backtests[3].run_id, benchmark="IWM")


def test_a_portfolio_report_stacks_its_weights(stored: Stored, browser: Browser) -> None:
    assert stored.portfolio is not None
    report = browser.run_report(stored.portfolio.run_id)
    assert report.title.startswith("Portfolio of 2 symbols @ 1d: inverse_vol")
    figure = report.figures()[0]
    stacked = [t for t in figure.data if t.stackgroup == "weights"]
    assert sorted(t.name for t in stacked) == ["QQQ", "SPY"]
    assert stacked[0].y[-1] + stacked[1].y[-1] == pytest.approx(
        100 * stored.portfolio.result.weights.iloc[-1].sum(), rel=1e-9)
    with pytest.raises(InvalidInputError, match="applies to single-symbol backtests"):
        browser.run_report(stored.portfolio.run_id, benchmark="SPY")


def test_a_walk_forward_report_shades_every_fold(stored: Stored, browser: Browser) -> None:
    assert stored.walkforward is not None
    report = browser.run_report(stored.walkforward.run_id)
    folds = stored.walkforward.result.folds
    figure = report.figures()[0]
    assert len([s for s in figure.layout.shapes if s.type == "rect"]) == 2 * len(folds)
    table = next(s for s in report.sections if s.title == "Folds")
    assert [row[0] for row in table.rows] == [str(f.window.number) for f in folds]


def test_a_stored_study_report_matches_the_one_written_from_memory(
    stored: Stored, browser: Browser
) -> None:
    from algotrader.app.reports import study_view
    from algotrader.reports import StudyView

    assert stored.study is not None
    from_store = study_view(browser.data, stored.study.study_id)
    from_memory = StudyView.from_study(stored.study.study, stored.study.point_runs,
                                       stored.study.study_id)
    def ranked(view: StudyView) -> list[tuple[object, ...]]:
        return [(p.point, p.params, p.objective, p.run_ids) for p in view.points]

    assert ranked(from_store) == ranked(from_memory)
    assert from_store.dsr == from_memory.dsr and from_store.pbo == from_memory.pbo
    report = browser.study_report(stored.study.study_id, run_link="/runs/{id}")
    table = next(s for s in report.sections if s.title == "Points, best first")
    assert table.links[0] == f"/runs/{stored.study.best_run_id}"
    assert any(s.title == "Monthly returns" for s in report.sections)  # the best point's


def test_reports_of_what_just_ran_are_written_from_memory(stored: Stored, tmp_path: Path) -> None:
    from algotrader.app.reports import write_result_report

    assert stored.portfolio and stored.study and stored.walkforward
    paths = [write_result_report(stored.settings, s, tmp_path / f"{k}.html") for k, s in
             enumerate((stored.backtests[0], stored.portfolio, stored.study,
                        stored.walkforward))]
    html = [p.read_text(encoding="utf-8") for p in paths]
    assert "SPY @ 1d: ma_cross (fast=10, slow=30)" in html[0]
    assert "Portfolio of 2 symbols" in html[1] and f"Study {stored.study.study_id}:" in html[2]
    assert "Walk-forward SPY @ 1d" in html[3]


def test_reports_of_stored_runs_get_a_path_after_their_kind(stored: Stored) -> None:
    from algotrader.app.reports import write_report

    assert stored.portfolio and stored.study and stored.walkforward
    reports = stored.settings.data_dir / "reports"
    written = [
        write_report(stored.settings, run_id=stored.portfolio.run_id),
        write_report(stored.settings, run_id=stored.walkforward.run_id),
        write_report(stored.settings, study_id=stored.study.study_id),
    ]
    assert written == [
        reports / f"run_{stored.portfolio.run_id}_portfolio_1d.html",
        reports / f"run_{stored.walkforward.run_id}_walkforward_SPY_1d.html",
        reports / f"study_{stored.study.study_id}_ma_cross.html",
    ]
    with pytest.raises(InvalidInputError, match="not both"):
        write_report(stored.settings, run_id=1, study_id=1)


# ------------------------------------------------------------------------------ data, orders


def test_inventory_counts_bars_and_finds_gaps(db_url: str, workdir: Path) -> None:
    from algotrader.db.store import SqlBarStore

    settings = _settings(db_url, workdir)
    window = IngestWindow(parse_duration("2 Y"))
    ingest(settings, IngestRequest(("SPY", "QQQ"), (DAILY,), window, source="synthetic"))
    writer = open_database(db_url)
    first, last, n = SqlBarStore(writer).bounds("SPY", "1d")  # type: ignore[misc]
    hole = SqlBarStore(writer).load_bars("SPY", "1d").index[100:110]
    sqlite = writer.backend == "sqlite"
    with writer.engine.begin() as conn:
        conn.execute(text("DELETE FROM market_prices WHERE symbol = 'SPY' AND ts >= :a AND "
                          "ts <= :b"),
                     {"a": int(hole[0].value // 1000), "b": int(hole[-1].value // 1000)} if sqlite
                     else {"a": hole[0].to_pydatetime(), "b": hole[-1].to_pydatetime()})
    writer.dispose()
    with Browser.open(settings) as browser:
        rows = {(s.symbol, s.resolution): s for s in browser.inventory()}
    spy, qqq = rows["SPY", "1d"], rows["QQQ", "1d"]
    assert (spy.bars, spy.first_bar, spy.last_bar) == (n - 10, first, last)
    assert spy.gaps == 1 and spy.largest_gap_hours is not None and spy.largest_gap_hours >= 14 * 24
    assert qqq.gaps == 0 and qqq.synthetic and qqq.sources == ["synthetic"]


def test_order_log_with_status_history(db_url: str, workdir: Path) -> None:
    writer = open_database(db_url)
    log = OrderLog(writer)
    filled = log.create(client_ref="a-1", symbol="TSLA", action="BUY", quantity=2.0,
                        order_type="MKT", is_paper=True)
    log.update(filled.id, entry=history_entry("Submitted", 0.0, None))
    log.update(filled.id, entry=history_entry("Filled", 2.0, 251.5))
    log.create(client_ref="b-1", symbol="AAPL", action="SELL", quantity=1.0, order_type="LMT",
               limit_price=300.0, is_paper=True)
    writer.dispose()
    with Browser.open(_settings(db_url, workdir)) as browser:
        page = browser.orders()
        assert [o.client_ref for o in page.orders] == ["b-1", "a-1"]
        tsla = browser.orders(status="Filled").orders
        assert [h["status"] for h in tsla[0].status_history] == ["PendingSubmit", "Submitted",
                                                                 "Filled"]
        assert browser.orders(symbol="aapl").total == 1
