"""Backtests on stored data: stored runs, reruns, batches, code versions, the Python API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app._stores import open_stores
from algotrader.app.backtests import BacktestRequest, run_backtest, run_batch
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.runs import list_runs, rerun
from algotrader.backtest.result import BacktestConfig
from algotrader.config import Settings, load_settings
from algotrader.errors import DataNotFoundError
from algotrader.strategies.registry import get_strategy
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    return load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )


def _ingest(settings: Settings, symbol: str = "SPY", duration: str = "2 Y") -> None:
    window = IngestWindow(parse_duration(duration))
    ingest(settings, IngestRequest((symbol,), (DAILY,), window, source="synthetic"))


def test_stored_run_records_strategy_params_data_and_code_version(settings: Settings) -> None:
    _ingest(settings)
    stored = run_backtest(settings, BacktestRequest("SPY", DAILY, "ma_cross", {"fast": "10"}))
    (run,) = list_runs(settings)
    assert run.id == stored.run_id
    assert (run.symbol, run.resolution, run.strategy) == ("SPY", "1d", "ma_cross")
    assert run.params == {"fast": 10, "slow": 50}
    assert run.bars == len(stored.frame)
    assert run.data_fingerprint == fingerprint(stored.frame)
    assert run.code_version.startswith("0.1.0+")
    assert run.data_source == "synthetic"
    assert run.metrics == stored.result.to_dict()["metrics"]


def test_rerun_of_a_stored_run_is_identical_to_the_last_bit(settings: Settings) -> None:
    _ingest(settings)
    config = BacktestConfig(commission_bps=1.5)
    stored = run_backtest(settings, BacktestRequest("SPY", DAILY, "rsi", config=config))
    report = rerun(settings, stored.run_id)
    assert report.same_data and report.same_code
    assert report.identical_metrics and report.identical_trades
    assert report.result.to_dict() == stored.result.to_dict()


def test_rerun_detects_changed_data(settings: Settings) -> None:
    _ingest(settings)
    stored = run_backtest(settings, BacktestRequest("SPY", DAILY))
    with open_stores(settings) as stores, stores.db.engine.begin() as conn:
        conn.execute(text("UPDATE market_prices SET close = close * 1.01, high = high * 1.01"))
    assert rerun(settings, stored.run_id).same_data is False


def test_duration_slices_the_stored_bars_to_the_last_period(settings: Settings) -> None:
    _ingest(settings, duration="3 Y")
    stored = run_backtest(settings, BacktestRequest("SPY", DAILY, duration=parse_duration("1 Y")))
    span = stored.frame.index[-1] - stored.frame.index[0]
    assert 360 <= span.days <= 366


def test_missing_data_names_the_command_that_fetches_it(settings: Settings) -> None:
    with pytest.raises(DataNotFoundError) as err:
        run_backtest(settings, BacktestRequest("QQQ", DAILY))
    assert 'algotrader ingest -s QQQ -r 1d -d "5 Y"' in str(err.value)
    assert "--auto-fetch" in str(err.value)


def test_unknown_run_id_is_one_clear_error(settings: Settings) -> None:
    with pytest.raises(DataNotFoundError, match="no backtest run with id 42"):
        rerun(settings, 42)


def test_a_batch_runs_each_symbol_and_reports_the_one_that_fails(settings: Settings) -> None:
    _ingest(settings, "SPY")
    _ingest(settings, "AAPL")
    done: list[str] = []
    requests = [BacktestRequest(s, DAILY, "rsi") for s in ("SPY", "NOPE", "AAPL")]
    items = run_batch(settings, requests, on_done=lambda item: done.append(item.symbol))
    assert sorted(done) == ["AAPL", "NOPE", "SPY"]
    assert items[-1].symbol == "NOPE" and items[-1].run is None
    assert "no 1d bars of NOPE" in (items[-1].error or "")
    ok = [i.run for i in items if i.run is not None]
    assert len(ok) == 2 and len(list_runs(settings)) == 2
    returns = [r.result.metrics["total_return"] for r in ok]
    assert returns == sorted(returns, reverse=True)


def test_auto_fetch_fills_the_end_of_the_window_too(settings: Settings) -> None:
    # Stored history that ends 40 days ago: a backtest with --auto-fetch brings it up to date.
    end = parse_duration("40 D").start_before(datetime.now(UTC))
    window = IngestWindow(parse_duration("2 Y"), end=end)
    ingest(settings, IngestRequest(("SPY",), (DAILY,), window, source="synthetic"))
    request = BacktestRequest(
        "SPY", DAILY, auto_fetch=True, fetch_duration=parse_duration("2 Y"), source="synthetic"
    )
    stored = run_backtest(settings, request)
    assert (stored.frame.index[-1] - stored.frame.index[0]).days > 700
    assert stored.frame.index[-1].to_pydatetime() > end


def test_code_version_covers_a_user_strategy_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    body = (
        "from algotrader import Strategy\n"
        "class Mine(Strategy):\n"
        "    def on_bar(self, i, row, df):\n"
        "        return {answer}\n"
    )
    path.write_text(body.format(answer="None"))
    before = code_version(get_strategy(f"{path}:Mine"))
    path.write_text(body.format(answer="'BUY'"))
    after = code_version(get_strategy(f"{path}:Mine"))
    assert before != after
    assert before.split("+s")[0] == after.split("+s")[0] == code_version(get_strategy("rsi"))


def test_a_run_with_sizing_and_exits_reruns_identically(settings: Settings) -> None:
    _ingest(settings)
    config = BacktestConfig(
        sizing="percent", size=0.5, stop_loss=2.0, trailing_stop=3.0, exit_unit="atr",
        limit_entry=0.005, limit_bars=3, commission_bps=1.0,
    )  # fmt: skip
    stored = run_backtest(settings, BacktestRequest("SPY", DAILY, "bollinger", config=config))
    (run,) = list_runs(settings)
    assert BacktestConfig.from_dict(run.config) == config
    report = rerun(settings, stored.run_id)
    assert report.identical_metrics and report.identical_trades
    assert {t["exit_reason"] for t in run.trades} <= {
        "signal", "stop_loss", "trailing_stop", "take_profit", "open"
    }
