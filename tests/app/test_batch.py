"""Batch backtests on worker processes: the same runs as in this process, stored by it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algotrader.app.backtests import BacktestRequest, BatchItem, run_batch
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.runs import get_run
from algotrader.backtest.result import BacktestConfig
from algotrader.config import Settings, load_settings
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")
SYMBOLS = ("SPY", "AAPL", "NOPE", "MSFT", "QQQ")


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    settings = load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )
    stored = tuple(s for s in SYMBOLS if s != "NOPE")
    window = IngestWindow(parse_duration("3 Y"))
    ingest(settings, IngestRequest(stored, (DAILY,), window, source="synthetic"))
    return settings


def _stored(settings: Settings, item: BatchItem) -> tuple[Any, ...]:
    """What the database holds of ``item``'s run (all but its id and time)."""
    assert item.run is not None
    run = get_run(settings, item.run.run_id)
    return (run.symbol, run.data_fingerprint, run.metrics, run.trades, run.params, run.config)


def test_a_batch_on_two_worker_processes_stores_what_a_serial_batch_stores(
    settings: Settings,
) -> None:
    config = BacktestConfig(commission_bps=2, slippage_bps=1, stop_loss=0.05)
    requests = [BacktestRequest(s, DAILY, "rsi", config=config) for s in SYMBOLS]
    serial = run_batch(settings, requests, jobs=1)
    done: list[BatchItem] = []
    parallel = run_batch(settings, requests, on_done=done.append, jobs=2)

    # Progress: every symbol once, in request order (the one writer stores in that order).
    assert [i.symbol for i in done] == list(SYMBOLS)
    ids = [i.run.run_id for i in done if i.run is not None]
    assert ids == sorted(ids) and len(ids) == 4
    # The failing symbol is reported, last, and the others ran.
    for items in (serial, parallel):
        assert items[-1].symbol == "NOPE" and items[-1].run is None
        assert "no 1d bars of NOPE" in (items[-1].error or "")
    assert [i.symbol for i in parallel] == [i.symbol for i in serial]
    for a, b in zip(serial[:-1], parallel[:-1], strict=True):
        assert a.run is not None and b.run is not None and a.run.run_id != b.run.run_id
        assert a.run.fingerprint == b.run.fingerprint
        assert a.run.result.metrics == b.run.result.metrics
        assert np.array_equal(a.run.result.equity.to_numpy(), b.run.result.equity.to_numpy())
        assert _stored(settings, a) == _stored(settings, b)
        assert a.run.result.metrics["num_trades"] > 0
