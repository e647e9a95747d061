"""Bars through the broker into the database: the same rows and indicators as a direct ingest
(indicators stored with the bars, or by separate jobs), offsets committed only after the
database commit."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.pipeline import store_bars
from algotrader.app.stream import BarPublisher, ConsumeRequest, consume_bars, run_indicator_jobs
from algotrader.config import load_settings
from algotrader.db.engine import open_database
from algotrader.db.store import VALUE_COLUMNS
from algotrader.timeframes import parse_duration, parse_resolution

from .conftest import ALGOTRADER, minute_bars, stream_env

END = datetime(2024, 6, 28, 21, 0, tzinfo=UTC)
UNTIL_IDLE = ConsumeRequest(until_idle=True, idle_seconds=1.0)
JOBS_UNTIL_IDLE = ConsumeRequest(until_idle=True, idle_seconds=1.0, indicators="jobs")


def _settings(url: str, home: Path):  # type: ignore[no-untyped-def]
    return load_settings(database_url=url, data_dir=str(home / "data"), log_dir=str(home / "logs"))


def table(url: str) -> pd.DataFrame:
    """Every stored bar with its source and indicators, in key order."""
    db = open_database(url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT symbol, resolution, source, ts, {', '.join(VALUE_COLUMNS)} "
                    "FROM market_prices ORDER BY symbol, resolution, ts"
                )
            ).all()
    finally:
        db.dispose()
    frame = pd.DataFrame(rows, columns=["symbol", "resolution", "source", "ts", *VALUE_COLUMNS])
    if len(frame):  # SQLite keeps epoch microseconds, PostgreSQL a timestamptz
        raw = frame["ts"]
        numeric = pd.api.types.is_integer_dtype(raw)
        frame["ts"] = pd.to_datetime(raw, unit="us" if numeric else None, utc=True)
    return frame.astype({c: np.float64 for c in VALUE_COLUMNS})


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same rows, same sources, every value equal to the last bit (NULL where NULL)."""
    assert len(got) == len(expected)
    for column in ("symbol", "resolution", "source"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert (got["ts"].to_numpy() == expected["ts"].to_numpy()).all()
    for column in VALUE_COLUMNS:
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy(), column)


def direct_ingest(frames: dict[tuple[str, str], pd.DataFrame], source: str, home: Path) -> str:
    """The same bars stored by the ingest pipeline itself, into a fresh SQLite file."""
    from algotrader.app._stores import open_stores
    from algotrader.ports.bars import InstrumentInfo

    url = f"sqlite:///{home / 'direct.db'}"
    with open_stores(url) as stores:
        for (symbol, resolution), bars in frames.items():
            stores.instruments.ensure(InstrumentInfo(symbol), source)
            store_bars(stores.bars, symbol, resolution, source, bars)
    return url


def publish(kafka, frames: dict[tuple[str, str], pd.DataFrame], source: str = "csv") -> None:  # type: ignore[no-untyped-def]
    """Publish ``frames`` in messages of ``kafka.bars_per_message`` bars, series interleaved
    (through the public BarPublisher, as the live loop would)."""
    step = kafka.bars_per_message
    longest = max(len(f) for f in frames.values())
    with BarPublisher(kafka) as stream:
        for lo in range(0, longest, step):
            for (symbol, resolution), bars in frames.items():
                part = bars.iloc[lo : lo + step]
                if len(part):
                    stream.publish(symbol, resolution, source, part)


def test_ingest_to_kafka_then_consume_equals_a_direct_ingest(
    db_url: str,
    tmp_path: Path,
    kafka,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from algotrader.cli.app import main

    for key, value in stream_env(kafka, db_url, tmp_path).items():
        monkeypatch.setenv(key, value)
    command = ["ingest", "-s", "AAPL,MSFT", "-r", "1h,1d", "-d", "6 M", "--end",
               "2024-06-28T21:00:00", "--source", "synthetic", "--to", "kafka"]  # fmt: skip
    assert main(command) == 0
    assert table(db_url).empty  # --to kafka never touches the database
    settings = _settings(db_url, tmp_path)
    stored = consume_bars(settings, kafka, UNTIL_IDLE)
    assert stored.dead_letters == 0 and stored.bars_written == stored.bars_received > 0
    assert stored.indicator_jobs == 0 and stored.indicator_rows == stored.bars_written

    direct = tmp_path / "direct"
    request = IngestRequest(
        ("AAPL", "MSFT"),
        (parse_resolution("1h"), parse_resolution("1d")),
        IngestWindow(duration=parse_duration("6 M"), end=END),
        source="synthetic",
    )
    ingest(_settings(f"sqlite:///{tmp_path / 'direct.db'}", direct), request)
    assert_same_table(table(db_url), table(f"sqlite:///{tmp_path / 'direct.db'}"))


def test_with_indicator_jobs_the_consumer_stores_raw_bars_and_the_jobs_add_indicators(
    db_url: str,
    tmp_path: Path,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    frames = {(s, "1m"): minute_bars(1_200, seed=i) for i, s in enumerate(("AAA", "BBB"))}
    publish(kafka, frames)
    settings = _settings(db_url, tmp_path)
    stored = consume_bars(settings, kafka, JOBS_UNTIL_IDLE)
    assert (stored.bars_written, stored.indicator_rows) == (2_400, 0)
    assert stored.indicator_jobs >= 2
    assert table(db_url)["rsi"].isna().all()  # indicators are the jobs' work
    assert run_indicator_jobs(settings, kafka, UNTIL_IDLE).refreshed == 2
    assert_same_table(table(db_url), table(direct_ingest(frames, "csv", tmp_path)))


def test_a_second_pass_over_the_same_messages_changes_nothing(tmp_path: Path, kafka) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'stream.db'}"
    publish(kafka, {("SPY", "1m"): minute_bars(1_500, seed=5)})
    settings = _settings(url, tmp_path)
    consume_bars(settings, kafka, UNTIL_IDLE)
    before = table(url)
    again = consume_bars(settings, kafka, ConsumeRequest(group="another-group", until_idle=True,
                                                         idle_seconds=1.0))  # fmt: skip
    assert (again.bars_received, again.bars_written, again.indicator_rows) == (1_500, 0, 0)
    assert_same_table(table(url), before)


@pytest.mark.parametrize("indicators", ["inline", "jobs"])
def test_a_consumer_killed_mid_batch_and_restarted_stores_every_bar_once(
    db_url: str,
    tmp_path: Path,
    kafka,  # type: ignore[no-untyped-def]
    indicators: str,
) -> None:
    frames = {(s, "1m"): minute_bars(3_000, seed=i) for i, s in enumerate(("AAA", "BBB", "CCC"))}
    publish(kafka, frames)
    env = stream_env(kafka, db_url, tmp_path)
    consume = [ALGOTRADER, "stream", "consume", "--until-idle", "--idle-seconds", "1",
               "--indicators", indicators]  # fmt: skip
    # The process SIGKILLs itself right after its second series write of a batch: before the
    # jobs (if any) are queued and before the offsets are committed.
    killed = subprocess.run(consume, env={**env, "ALGOTRADER_TEST_KILL_AFTER_CHUNKS": "2"},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    partly = table(db_url)
    assert 0 < len(partly) < 9_000
    done = subprocess.run(consume, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if indicators == "jobs":
        run_indicator_jobs(_settings(db_url, tmp_path), kafka, UNTIL_IDLE)
    stored = table(db_url)
    assert not stored.duplicated(["symbol", "resolution", "ts"]).any()
    assert_same_table(stored, table(direct_ingest(frames, "csv", tmp_path)))
