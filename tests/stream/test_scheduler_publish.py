"""The scheduler publishes to the price stream: a watchlist refresh with ``publish_to`` sends the
new bars to Kafka and stores nothing itself; the consumer stores them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from algotrader.app.stream import ConsumeRequest, consume_bars
from algotrader.app.watchlist import (
    RefreshRequest,
    WatchRequest,
    add_to_watchlist,
    refresh_watchlist,
)
from algotrader.config import load_settings
from algotrader.timeframes import RESOLUTIONS, Duration

from .test_consume import table

UNTIL_IDLE = ConsumeRequest(until_idle=True, idle_seconds=1.0)


def test_a_refresh_publishes_what_is_new_and_the_consumer_stores_it_once(
    tmp_path: Path,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    url = f"sqlite:///{tmp_path / 'stream.db'}"
    settings = load_settings(database_url=url, data_dir=str(tmp_path), log_dir=str(tmp_path))
    day = RESOLUTIONS["1d"]
    add_to_watchlist(
        settings, WatchRequest(("SPY", "QQQ"), (day,), "synthetic", history=Duration(3, "M"))
    )

    def refresh(planned: datetime) -> int:
        result = refresh_watchlist(settings, RefreshRequest(day, planned, publish_to=kafka))
        assert result.record is not None and result.record.outcome == "ok", result.record
        assert result.record.bars_stored == 0  # the consumer stores, not the scheduler
        return result.record.bars_fetched

    published = refresh(datetime(2026, 1, 5, 21, 15, tzinfo=UTC))
    assert published > 100 and table(url).empty
    report = consume_bars(settings, kafka, UNTIL_IDLE)
    assert report.bars_written == published
    stored = table(url)
    assert sorted(set(stored["symbol"])) == ["QQQ", "SPY"] and len(stored) == published

    # The next run publishes only from the last stored bar on: nothing is stored twice.
    again = refresh(datetime(2026, 1, 6, 21, 15, tzinfo=UTC))
    assert 0 < again < published
    consume_bars(settings, kafka, UNTIL_IDLE)
    after = table(url)
    assert not after.duplicated(["symbol", "resolution", "ts"]).any()
    assert len(after) == len(stored)
