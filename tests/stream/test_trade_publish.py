"""The live loop publishes to the price stream: ``trade --to kafka`` sends each completed bar to
Kafka instead of storing it; the consumer stores exactly the bars a ``--to db`` session stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from algotrader.app.stream import ConsumeRequest, consume_bars
from algotrader.app.trading import ReplaySpec, TradeRequest, run_trading
from algotrader.config import load_settings

from .test_consume import table

OHLCV = ["symbol", "resolution", "ts", "open", "high", "low", "close", "volume"]


def _session(tmp: Path, kafka: object | None) -> tuple[str, int]:
    url = f"sqlite:///{tmp / 'trade.db'}"
    settings = load_settings(database_url=url, data_dir=str(tmp), log_dir=str(tmp))
    request = TradeRequest(
        strategy="ma_cross",
        symbols=("AAPL", "MSFT"),
        params={"fast": "5", "slow": "20"},
        replay=ReplaySpec(source="synthetic", bars=300, end=datetime(2026, 3, 6, 21, tzinfo=UTC)),
        publish_to=kafka,  # type: ignore[arg-type]
    )
    result = asyncio.run(run_trading(settings, request))
    return url, result.bars


def test_a_session_publishes_its_bars_and_the_consumer_stores_what_the_database_session_does(
    tmp_path: Path,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "kafka").mkdir()
    stored_url, stored_bars = _session(tmp_path / "db", None)
    url, bars = _session(tmp_path / "kafka", kafka)

    assert bars == stored_bars > 500
    assert table(url).empty  # the session stored nothing itself
    settings = load_settings(database_url=url, data_dir=str(tmp_path), log_dir=str(tmp_path))
    report = consume_bars(settings, kafka, ConsumeRequest(until_idle=True, idle_seconds=1.0))

    assert report.bars_written == bars
    published = table(url)[OHLCV].reset_index(drop=True)
    expected = table(stored_url)[OHLCV].reset_index(drop=True)
    assert published.equals(expected)
