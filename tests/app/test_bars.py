"""Stored bars come with the symbol's stored signals and events, aligned without look-ahead, in
every use case that backtests them (single runs, the Python API, batches, portfolios, reruns)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event

from algotrader.api import Backtest
from algotrader.app._provenance import fingerprint
from algotrader.app._stores import open_stores
from algotrader.app.backtests import BacktestRequest, run_batch
from algotrader.app.bars import load_bars, with_signals
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.portfolios import PortfolioRequest, run_portfolio
from algotrader.app.runs import rerun
from algotrader.config import Settings, load_settings
from algotrader.portfolio.panel import frame_fingerprint
from algotrader.ports.stores import SignalRow
from algotrader.strategies import Strategy
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")
HOUR = timedelta(hours=1)


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    made = load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )
    window = IngestWindow(parse_duration("2 Y"))
    ingest(made, IngestRequest(("SPY", "QQQ"), (DAILY,), window, source="synthetic"))
    return made


def _bars(settings: Settings, symbol: str = "SPY") -> pd.DataFrame:
    with open_stores(settings) as stores:
        return load_bars(stores, symbol, DAILY)


def _bar_times(settings: Settings, symbol: str = "SPY") -> list[datetime]:
    with open_stores(settings) as stores:
        return [ts.to_pydatetime() for ts in stores.bars.load_bars(symbol, "1d").index]


def _store_signals(settings: Settings, rows: list[SignalRow]) -> None:
    with open_stores(settings) as stores:
        stores.events.upsert_signals(rows)


def _store_events(settings: Settings, table: str, rows: list[dict[str, Any]]) -> None:
    with open_stores(settings) as stores:
        stores.events.upsert(table, rows)


def _event(ts: datetime, kind: str, symbol: str | None = None) -> dict[str, Any]:
    row = {"ts": ts, "source": "test", "kind": kind, "name": kind, "value": None, "payload": None}
    return row if symbol is None else {"symbol": symbol, **row}


def _oscillating_forecasts(settings: Settings, symbol: str) -> list[SignalRow]:
    """A forecast on every bar, changing sign every few weeks (so ml_signal trades)."""
    return [
        SignalRow(symbol, ts, "osc_v1", "fwd_return_5", math.sin(k / 7.0))
        for k, ts in enumerate(_bar_times(settings, symbol))
    ]


def test_a_signal_stamped_after_a_bar_is_not_visible_on_that_bar(settings: Settings) -> None:
    times = _bar_times(settings)
    k = 100
    _store_signals(
        settings,
        [
            SignalRow("SPY", times[k], "at_bar", "x", 1.0),
            SignalRow("SPY", times[k] + HOUR, "after_bar", "x", 2.0),
            SignalRow("QQQ", times[k - 50], "at_bar", "x", 9.0),  # another symbol's
        ],
    )
    frame = _bars(settings)
    at_bar, after_bar = frame["signal:at_bar"].to_numpy(), frame["signal:after_bar"].to_numpy()
    assert np.isnan(at_bar[:k]).all() and (at_bar[k:] == 1.0).all()
    assert np.isnan(after_bar[: k + 1]).all() and (after_bar[k + 1 :] == 2.0).all()
    assert frame["signal:at_bar:x"].equals(frame["signal:at_bar"])


def test_events_count_on_the_first_bar_at_or_after_their_time(settings: Settings) -> None:
    times = _bar_times(settings)
    own, other = _event(times[10] + HOUR, "earnings", "SPY"), _event(times[20], "earnings", "QQQ")
    _store_events(settings, "symbol_events", [own, other])
    _store_events(settings, "market_events", [_event(times[30], "cpi")])
    frame = _bars(settings)
    assert np.flatnonzero(frame["event:earnings"].to_numpy()).tolist() == [11]
    assert np.flatnonzero(frame["event:cpi"].to_numpy()).tolist() == [30]
    assert frame["event:earnings"].sum() == 1


def test_without_signals_the_bars_and_their_fingerprint_stay_as_they_were(
    settings: Settings,
) -> None:
    with open_stores(settings) as stores:
        stored = stores.bars.load_bars("SPY", "1d")
    plain = _bars(settings)
    assert list(plain.columns) == list(stored.columns)
    # The OHLCV-only fingerprint, as the portfolio engine computes it independently.
    assert fingerprint(plain) == frame_fingerprint(plain)
    last = _bar_times(settings)[-1]
    _store_signals(settings, [SignalRow("SPY", last + HOUR, "later_v1", "x", 1.0)])
    coming = _event(last + timedelta(days=9), "earnings", "SPY")  # a calendar's next date
    _store_events(settings, "symbol_events", [coming])
    after = _bars(settings)
    assert list(after.columns) == list(stored.columns) and fingerprint(after) == fingerprint(plain)


def test_a_symbol_without_signals_costs_one_query_for_signals_and_one_for_events(
    settings: Settings,
) -> None:
    statements: list[str] = []
    with open_stores(settings) as stores:
        bars = stores.bars.load_bars("SPY", "1d")
        event.listen(stores.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        assert with_signals(stores, "SPY", bars) is bars
    assert len(statements) == 2
    assert "external_signals" in statements[0] and "symbol_events" in statements[1]


def test_the_fingerprint_covers_the_signals_the_bars_carry(settings: Settings) -> None:
    times = _bar_times(settings)
    plain = fingerprint(_bars(settings))
    _store_signals(settings, [SignalRow("SPY", times[5], "s_v1", "x", 1.0)])
    with_signal = fingerprint(_bars(settings))
    _store_signals(settings, [SignalRow("SPY", times[5], "s_v1", "x", 1.5)])
    changed = fingerprint(_bars(settings))
    assert len({plain, with_signal, changed}) == 3


class _Recorder(Strategy):
    """Reads the aligned columns through ``row`` on every bar and trades on them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, tuple[float, float, float]] = {}

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> str | None:
        self.seen[i] = (row["signal:osc_v1"], row["regime"], row["event:halt"])
        if row["event:halt"] > 0 or row["regime"] == 1:
            return "SELL"
        return "BUY" if row["signal:osc_v1"] > 0 else None


def test_the_python_api_reads_signals_regimes_and_events_in_both_paths(
    settings: Settings,
) -> None:
    times = _bar_times(settings)
    regime = [SignalRow("SPY", ts, "hmm_v1", "regime", float(k // 60 % 2)) for k, ts in
              enumerate(times)]  # fmt: skip
    _store_signals(settings, _oscillating_forecasts(settings, "SPY") + regime)
    _store_events(settings, "symbol_events", [_event(times[200], "halt", "SPY")])
    recorder = _Recorder()
    bt = Backtest.from_store("SPY", "1d", recorder, path="on_bar", database_url=settings.db_url)
    assert bt.run().metrics["num_trades"] > 3
    frame = _bars(settings)
    columns = ["signal:osc_v1", "regime", "event:halt"]
    bars = sorted(recorder.seen)
    assert len(bars) >= len(frame) - 1
    np.testing.assert_array_equal([recorder.seen[i] for i in bars], frame[columns].to_numpy()[bars])
    results = [
        Backtest.from_store("SPY", "1d", "ml_signal", path=path, database_url=settings.db_url).run(
            signal="osc_v1"
        )
        for path in ("on_bar", "vectorized")
    ]
    assert results[0].metrics["num_trades"] > 3
    pd.testing.assert_frame_equal(results[0].trades, results[1].trades, check_exact=True)


def test_batch_and_portfolio_runs_trade_signals_and_rerun_to_the_last_bit(
    settings: Settings,
) -> None:
    _store_signals(
        settings, _oscillating_forecasts(settings, "SPY") + _oscillating_forecasts(settings, "QQQ")
    )
    requests = [
        BacktestRequest(s, DAILY, "ml_signal", {"signal": "osc_v1"}) for s in ("SPY", "QQQ")
    ]
    items = run_batch(settings, requests)
    assert all(i.run is not None and i.run.result.metrics["num_trades"] > 3 for i in items)
    portfolio = run_portfolio(
        settings,
        PortfolioRequest(("SPY", "QQQ"), DAILY, "signals", "daily",
                         params={"strategy": "ml_signal", "signal": "osc_v1"}),
    )  # fmt: skip
    assert portfolio.result.metrics["num_fills"] > 6
    for run_id in (items[0].run.run_id, portfolio.run_id):  # type: ignore[union-attr]
        report = rerun(settings, run_id)
        assert report.same_data and report.identical_metrics and report.identical_trades
