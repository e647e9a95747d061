"""Read-only queries for the dashboard and reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from algotrader.backtest.runner import StoredRun, run_stored_backtest
from algotrader.data.ingest import IngestWindow, ingest_symbol
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from algotrader.app import browse
from algotrader.backtest.result import BacktestConfig
from algotrader.broker.orderlog import OrderLog, history_entry
from algotrader.config import load_settings
from algotrader.data.providers import get_provider
from algotrader.db.engine import open_database
from algotrader.db.store import BarStore
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")
RUNS = (
    ("SPY", "ma_cross", {"fast": "10", "slow": "30"}),
    ("SPY", "ma_cross", {"fast": "20", "slow": "50"}),
    ("SPY", "rsi", {}),
    ("QQQ", "macd", {}),
    ("QQQ", "bollinger", {}),
    ("QQQ", "hello_world", {}),
)


def _fill(url: str) -> list[StoredRun]:
    db = open_database(url)
    provider = get_provider("synthetic", load_settings())
    for symbol in ("SPY", "QQQ"):
        ingest_symbol(BarStore(db), provider, symbol, DAILY, IngestWindow(parse_duration("2 Y")))
    stored = [run_stored_backtest(db, s, DAILY, name, params, BacktestConfig())
              for s, name, params in RUNS]
    db.dispose()
    return stored


def _metric(run: StoredRun, key: str) -> float | None:
    value = run.result.metrics[key]
    return value if math.isfinite(value) else None


def test_runs_sort_by_a_metric_with_undefined_values_last(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    page = browse.list_runs(db, browse.RunQuery(sort="-profit_factor"))
    defined = sorted((r for r in stored if _metric(r, "profit_factor") is not None),
                     key=lambda r: -_metric(r, "profit_factor"))  # type: ignore[operator]
    assert [r.id for r in page.runs][: len(defined)] == [r.run_id for r in defined]
    assert all(r.metrics["profit_factor"] is None for r in page.runs[len(defined):])


def test_metric_filters_run_in_the_database(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    cond = browse.Condition.parse("num_trades>=3")
    page = browse.list_runs(db, browse.RunQuery(metrics=(cond,), sort="id"))
    assert [r.id for r in page.runs] == [
        r.run_id for r in stored if r.result.metrics["num_trades"] >= 3]


def test_parameter_filters_compare_numbers_as_numbers(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    exact = browse.list_runs(db, browse.RunQuery(params=(
        browse.Condition.parse("fast=10.0", what="parameter"),)))
    assert [r.id for r in exact.runs] == [stored[0].run_id]
    above = browse.list_runs(db, browse.RunQuery(params=(
        browse.Condition.parse("slow>30", what="parameter"),)))
    assert [r.id for r in above.runs] == [stored[1].run_id]


def test_symbol_and_strategy_filters_and_pages(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    page = browse.list_runs(db, browse.RunQuery(symbol="qqq", sort="id", page=2, page_size=2))
    qqq = [r.run_id for r in stored if r.symbol == "QQQ"]
    assert (page.total, page.pages, [r.id for r in page.runs]) == (3, 2, qqq[2:])
    only = browse.list_runs(db, browse.RunQuery(strategy="rsi"))
    assert [r.strategy for r in only.runs] == ["rsi"]


def test_created_dates_filter_and_far_out_dates_do_not_fail(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    run = browse.get_run(db, stored[0].run_id)
    after = browse.list_runs(db, browse.RunQuery(created_from=run.created_at + timedelta(days=1)))
    assert after.total == 0
    from datetime import datetime, timezone

    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    assert browse.list_runs(db, browse.RunQuery(created_from=far)).total == len(RUNS)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (browse.RunQuery(sort="-sharpee"), "did you mean 'sharpe'"),
        (browse.RunQuery(page_size=0), "invalid page size 0"),
        (browse.RunQuery(symbol="SP\x00Y"), "invalid symbol"),
    ],
)
def test_bad_queries_are_one_clear_error(db_url: str, query: browse.RunQuery,
                                         message: str) -> None:
    db = browse.open_readonly(db_url)
    with pytest.raises(InvalidInputError, match=message):
        browse.list_runs(db, query)


@pytest.mark.parametrize("bad", ["sharpe", "sharpe>>1", "sharpe>inf", "1x=2"])
def test_malformed_conditions_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        browse.Condition.parse(bad)


def test_text_parameters_compare_only_for_equality() -> None:
    cond = browse.Condition.parse("mode=fast", what="parameter")
    assert (cond.name, cond.op, cond.value) == ("mode", "=", "fast")


def test_one_run_with_everything_it_records(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    run = browse.get_run(db, stored[0].run_id)
    assert (run.symbol, run.strategy, run.params) == ("SPY", "ma_cross", {"fast": 10, "slow": 30})
    assert run.synthetic and len(run.trades) == len(stored[0].result.trades)
    with pytest.raises(DataNotFoundError, match="no backtest run with id 999"):
        browse.get_run(db, 999)


def test_rerun_verdict_and_compare_recompute_on_the_stored_bars(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    verdict = browse.rerun_verdict(db, stored[2].run_id)
    assert verdict.reproduced and verdict.same_data and "reproduced" in verdict.message
    found = browse.compare_runs(db, [stored[0].run_id, stored[3].run_id])
    curve = found.curves[stored[3].run_id]
    assert curve is not None
    expected = stored[3].result.equity / 100_000.0 - 1.0
    assert curve.equals(expected)


def test_report_of_a_stored_run_against_a_benchmark(db_url: str) -> None:
    stored = _fill(db_url)
    db = browse.open_readonly(db_url)
    report = browse.run_report(db, stored[3].run_id, benchmark="spy")
    assert report.synthetic and "QQQ @ 1d: macd" in report.title
    assert "SPY" in [t.name for t in report.figures()[0].data]
    with pytest.raises(DataNotFoundError, match="algotrader ingest -s IWM"):
        browse.run_report(db, stored[3].run_id, benchmark="IWM")


def test_inventory_counts_bars_and_finds_gaps(db_url: str) -> None:
    _fill(db_url)
    writer = open_database(db_url)
    store = BarStore(writer)
    first, last, n = store.bounds("SPY", "1d")  # type: ignore[misc]
    hole = store.load_bars("SPY", "1d").index[100:110]
    with writer.engine.begin() as conn:
        conn.execute(text("DELETE FROM market_prices WHERE symbol = 'SPY' AND ts >= :a AND "
                          "ts <= :b"), {"a": hole[0].to_pydatetime(), "b": hole[-1].to_pydatetime()}
                     if writer.is_postgres else
                     {"a": int(hole[0].value // 1000), "b": int(hole[-1].value // 1000)})
    writer.dispose()
    db = browse.open_readonly(db_url)
    rows = {(s.symbol, s.resolution): s for s in browse.data_inventory(db)}
    spy, qqq = rows["SPY", "1d"], rows["QQQ", "1d"]
    assert (spy.bars, spy.first_bar, spy.last_bar) == (n - 10, first, last)
    assert spy.gaps == 1 and spy.largest_gap_hours is not None and spy.largest_gap_hours >= 14 * 24
    assert qqq.gaps == 0 and qqq.synthetic and qqq.sources == ["synthetic"]


def test_the_readonly_database_refuses_writes(db_url: str) -> None:
    _fill(db_url)
    db = browse.open_readonly(db_url)
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM backtest_runs"))
    assert browse.list_runs(db).total == len(RUNS)


def test_order_log_with_status_history(db_url: str) -> None:
    writer = open_database(db_url)
    log = OrderLog(writer)
    filled = log.create(client_ref="a-1", symbol="TSLA", action="BUY", quantity=2.0,
                        order_type="MKT", is_paper=True)
    log.update(filled.id, entry=history_entry("Submitted", 0.0, None))
    log.update(filled.id, entry=history_entry("Filled", 2.0, 251.5))
    log.create(client_ref="b-1", symbol="AAPL", action="SELL", quantity=1.0, order_type="LMT",
               limit_price=300.0, is_paper=True)
    writer.dispose()
    db = browse.open_readonly(db_url)
    page = browse.list_orders(db)
    assert [o.client_ref for o in page.orders] == ["b-1", "a-1"]
    tsla = browse.list_orders(db, status="Filled").orders
    assert [h["status"] for h in tsla[0].status_history] == ["PendingSubmit", "Submitted",
                                                             "Filled"]
    assert browse.list_orders(db, symbol="aapl").total == 1
