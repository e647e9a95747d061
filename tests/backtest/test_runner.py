from __future__ import annotations

import pytest

from algotrader.backtest.result import BacktestConfig
from algotrader.backtest.runner import fingerprint, list_runs, rerun, run_stored_backtest
from algotrader.config import load_settings
from algotrader.data.ingest import IngestWindow, ingest_symbol
from algotrader.data.providers import get_provider
from algotrader.db.engine import open_database
from algotrader.db.store import BarStore
from algotrader.errors import DataNotFoundError
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")


def _ingest(url: str, symbol: str = "SPY", duration: str = "2 Y") -> None:
    db = open_database(url)
    provider = get_provider("synthetic", load_settings())
    ingest_symbol(BarStore(db), provider, symbol, DAILY, IngestWindow(parse_duration(duration)))
    db.dispose()


def test_stored_run_records_strategy_params_data_and_code_version(db_url: str) -> None:
    _ingest(db_url)
    db = open_database(db_url)
    stored = run_stored_backtest(db, "SPY", DAILY, "ma_cross", {"fast": "10"}, BacktestConfig())
    (run,) = list_runs(db)
    assert run.id == stored.run_id
    assert (run.symbol, run.resolution, run.strategy) == ("SPY", "1d", "ma_cross")
    assert run.params == {"fast": 10, "slow": 50}
    assert run.bars == len(stored.frame)
    assert run.data_fingerprint == fingerprint(stored.frame)
    assert run.code_version.startswith("0.1.0+")
    assert run.data_source == "synthetic"
    assert run.metrics == stored.result.to_dict()["metrics"]


def test_rerun_of_a_stored_run_is_identical_to_the_last_bit(db_url: str) -> None:
    _ingest(db_url)
    db = open_database(db_url)
    stored = run_stored_backtest(db, "SPY", DAILY, "rsi", {}, BacktestConfig(commission_bps=1.5))
    report = rerun(db, stored.run_id)
    assert report.same_data and report.identical_metrics and report.identical_trades
    assert report.result.to_dict() == stored.result.to_dict()


def test_rerun_detects_changed_data(db_url: str) -> None:
    _ingest(db_url)
    db = open_database(db_url)
    stored = run_stored_backtest(db, "SPY", DAILY, "ma_cross", {}, BacktestConfig())
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE market_prices SET close = close * 1.01, high = high * 1.01"))
    assert rerun(db, stored.run_id).same_data is False


def test_duration_slices_the_stored_bars_to_the_last_period(db_url: str) -> None:
    _ingest(db_url, duration="3 Y")
    db = open_database(db_url)
    stored = run_stored_backtest(
        db, "SPY", DAILY, "ma_cross", {}, BacktestConfig(), duration=parse_duration("1 Y")
    )
    span = stored.frame.index[-1] - stored.frame.index[0]
    assert 360 <= span.days <= 366


def test_missing_data_names_the_command_that_fetches_it(db_url: str) -> None:
    db = open_database(db_url)
    with pytest.raises(DataNotFoundError) as err:
        run_stored_backtest(db, "QQQ", DAILY, "ma_cross", {}, BacktestConfig())
    assert 'algotrader ingest -s QQQ -r 1d -d "5 Y"' in str(err.value)
    assert "--auto-fetch" in str(err.value)


def test_unknown_run_id_is_one_clear_error(db_url: str) -> None:
    with pytest.raises(DataNotFoundError, match="no backtest run with id 42"):
        rerun(open_database(db_url), 42)


def test_a_run_with_sizing_and_exits_reruns_identically(db_url: str) -> None:
    _ingest(db_url)
    db = open_database(db_url)
    config = BacktestConfig(
        sizing="percent", size=0.5, stop_loss=2.0, trailing_stop=3.0, exit_unit="atr",
        limit_entry=0.005, limit_bars=3, commission_bps=1.0,
    )
    stored = run_stored_backtest(db, "SPY", DAILY, "bollinger", {}, config)
    (run,) = list_runs(db)
    assert BacktestConfig.from_dict(run.config) == config
    report = rerun(db, stored.run_id)
    assert report.identical_metrics and report.identical_trades
    assert {t["exit_reason"] for t in run.trades} <= {
        "signal", "stop_loss", "trailing_stop", "take_profit", "open"
    }
