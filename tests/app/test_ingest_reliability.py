"""Ingest reliability: re-runs change nothing, a kill mid-write leaves whole chunks and is
repaired by the next run, concurrent ingests of one series neither duplicate nor deadlock.

Subprocess tests run the real ``algotrader`` console script against the test database.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.config import load_settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import open_database
from algotrader.db.store import VALUE_COLUMNS, SqlBarStore
from algotrader.frames import INDICATOR_COLUMNS, OHLCV_COLUMNS
from algotrader.indicators import compute_indicators
from algotrader.timeframes import parse_duration, parse_resolution

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
FIXED_END = datetime(2024, 6, 28, 21, 0, tzinfo=UTC)
FIXED_END_ARG = "2024-06-28T21:00:00"
# 1-minute bars over this look-back: ~98k bars, five chunks of up to 20k rows; the process kills
# itself after its second chunk (ALGOTRADER_TEST_KILL_AFTER_CHUNKS), not on a timer.
KILL_DURATION = "1 Y"
CHUNK_ROWS = 20_000


def _table_checksum(url: str) -> tuple[int, str]:
    """(row count, sha256 over every column of market_prices in key order)."""
    db = open_database(url)
    columns = ("id", "symbol", "resolution", "source", "ts", *VALUE_COLUMNS)
    digest = hashlib.sha256()
    count = 0
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {', '.join(columns)} FROM market_prices "
                    "ORDER BY symbol, resolution, ts"
                )
            )
            for row in rows:
                digest.update(repr(tuple(row)).encode())
                count += 1
    finally:
        db.dispose()
    return count, digest.hexdigest()


def _settings(url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(
        database_url=url, data_dir=str(tmp_path / "data"), log_dir=str(tmp_path / "logs")
    )


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env.update(
        ALGOTRADER_DATABASE_URL=url,
        ALGOTRADER_DATA_DIR=str(tmp_path / "data"),
        ALGOTRADER_LOG_DIR=str(tmp_path / "logs"),
        ALGOTRADER_WRITE_CHUNK_ROWS=str(CHUNK_ROWS),
        COLUMNS="200",
    )
    return env


def _count(store: SqlBarStore) -> int:
    with store.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM market_prices")).scalar_one())


def _duplicates(store: SqlBarStore) -> list[tuple[object, ...]]:
    with store.db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT symbol, resolution, ts, count(*) FROM market_prices "
                    "GROUP BY symbol, resolution, ts HAVING count(*) > 1"
                )
            )
        ]


def _incomplete_ohlcv(store: SqlBarStore) -> int:
    nulls = " OR ".join(f"{c} IS NULL" for c in OHLCV_COLUMNS)
    with store.db.engine.connect() as conn:
        return int(
            conn.execute(text(f"SELECT count(*) FROM market_prices WHERE {nulls}")).scalar_one()
        )


def _assert_indicators_match(stored: pd.DataFrame, expected: pd.DataFrame) -> None:
    for column in INDICATOR_COLUMNS:
        np.testing.assert_allclose(
            stored[column].to_numpy(),
            expected[column].to_numpy(),
            rtol=1e-12,
            atol=1e-12,
            equal_nan=True,
            err_msg=column,
        )


def _start_of(duration: str, end: datetime) -> datetime:
    return parse_duration(duration).start_before(end)


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------- idempotence


def _hourly(window: IngestWindow) -> IngestRequest:
    return IngestRequest(("AAPL",), (parse_resolution("1h"),), window, source="synthetic")


def test_ten_reruns_of_an_ingest_leave_identical_rows(db_url: str, workdir: Path) -> None:
    settings = _settings(db_url, workdir)
    window = IngestWindow(duration=parse_duration("3 M"), end=FIXED_END)
    ingest(settings, _hourly(window))
    first = _table_checksum(db_url)
    for _ in range(9):
        (report,) = ingest(settings, _hourly(window))
        assert (report.inserted, report.updated, report.indicator_rows) == (0, 0, 0)
    assert first[0] > 400
    assert _table_checksum(db_url) == first


def test_rerun_with_a_later_end_keeps_earlier_rows_and_their_ids(
    db_url: str, workdir: Path
) -> None:
    settings = _settings(db_url, workdir)
    early = IngestWindow(duration=parse_duration("3 M"), end=FIXED_END)
    ingest(settings, _hourly(early))
    before = _table_checksum(db_url)
    later = IngestWindow(start=_start_of("3 M", FIXED_END), end=datetime(2024, 7, 10, tzinfo=UTC))
    (report,) = ingest(settings, _hourly(later))
    assert report.inserted > 0 and report.updated == 0
    db = open_database(db_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, symbol, resolution, source, ts, {', '.join(VALUE_COLUMNS)} "
                    "FROM market_prices WHERE ts < :end ORDER BY symbol, resolution, ts"
                ),
                {"end": FIXED_END if db.backend == "postgresql" else _us(FIXED_END)},
            )
            digest = hashlib.sha256()
            count = 0
            for row in rows:
                digest.update(repr(tuple(row)).encode())
                count += 1
    finally:
        db.dispose()
    assert (count, digest.hexdigest()) == before


# ------------------------------------------------------------------------------- kill -9 test


def _us(moment: datetime) -> int:
    return int(pd.Timestamp(moment).value // 1000)


def _whole_chunks(
    stored: np.ndarray, fetched: np.ndarray, starts: range, ends: range
) -> int | None:
    """If ``stored`` (sorted epoch µs) is a union of whole write chunks of a run that fetched
    ``fetched[a:b]`` for some a in ``starts`` and b in ``ends``, that ``a``; else None."""
    positions = np.searchsorted(fetched, stored)
    if (positions >= len(fetched)).any() or (fetched[positions] != stored).any():
        return None
    for a in starts:
        rel = positions - a
        if (rel < 0).any():
            continue
        chunk_ids = rel // CHUNK_ROWS
        top = int(chunk_ids.max())
        for j in np.unique(chunk_ids):
            members = rel[chunk_ids == j]
            lo = int(j) * CHUNK_ROWS
            contiguous = bool((members == np.arange(lo, lo + len(members))).all())
            full = len(members) == CHUNK_ROWS
            # Only the run's last chunk may be short, and then it ends where the run's bars end.
            last = j == top and (a + lo + len(members)) in ends
            if not contiguous or not (full or last):
                break
        else:
            return a
    return None


def _ingest_command(duration: str) -> list[str]:
    return [
        ALGOTRADER,
        "ingest",
        "-s",
        "AAPL",
        "-r",
        "1m",
        "-d",
        duration,
        "--end",
        FIXED_END_ARG,
        "--source",
        "synthetic",
    ]


def _clean(duration: str) -> pd.DataFrame:
    """What one uninterrupted ingest of ``duration`` stores: the bars and their indicators."""
    bars = SyntheticProvider().fetch_bars(
        "AAPL", parse_resolution("1m"), _start_of(duration, FIXED_END), FIXED_END
    )
    return pd.concat([bars, compute_indicators(bars)], axis=1)


def test_kill_during_ingest_leaves_whole_chunks_and_the_rerun_repairs_everything(
    db_url: str, tmp_path: Path
) -> None:
    store = SqlBarStore(open_database(db_url))
    command = _ingest_command(KILL_DURATION)
    env = {**_env(db_url, tmp_path), "ALGOTRADER_TEST_KILL_AFTER_CHUNKS": "2"}
    killed = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    clean = _clean(KILL_DURATION)
    fetched_us = clean.index.as_unit("us").asi8
    after_kill = store.load_bars("AAPL", "1m")
    assert _incomplete_ohlcv(store) == 0
    assert _duplicates(store) == []
    if store.db.backend == "sqlite":
        # The whole read-compute-write is one SQLite transaction: all of it or nothing.
        assert after_kill.empty
    else:
        # PostgreSQL commits chunk by chunk: exactly whole chunks of the run, with the
        # indicators it computed over its whole window, and a marker for the next run.
        stored_us = after_kill.index.as_unit("us").asi8
        assert 0 < len(after_kill) < len(clean)
        ends = range(len(clean), len(clean) + 1)
        assert _whole_chunks(stored_us, fetched_us, range(1), ends) == 0
        pd.testing.assert_frame_equal(after_kill, clean.loc[after_kill.index], check_freq=False)
        assert store.dirty_from("AAPL", "1m") is not None

    done = subprocess.run(
        command, env=_env(db_url, tmp_path), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "Ingestion complete." in done.stdout
    assert _duplicates(store) == []
    assert store.dirty_from("AAPL", "1m") is None
    pd.testing.assert_frame_equal(store.load_bars("AAPL", "1m"), clean, check_freq=False)
    store.db.dispose()


# --------------------------------------------------------------------------- concurrent ingests


def test_concurrent_ingests_of_one_series_with_different_windows_equal_a_clean_ingest(
    db_url: str, tmp_path: Path
) -> None:
    env = _env(db_url, tmp_path)
    durations = ("1 M", "2 M", "3 M", "4 M")
    procs = [
        subprocess.Popen(
            _ingest_command(d), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for d in durations
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "deadlock detected" not in err.lower()
        assert "Ingestion complete." in out

    store = SqlBarStore(open_database(db_url))
    try:
        assert _duplicates(store) == []
        assert store.dirty_from("AAPL", "1m") is None
        # Every window ends at the same bar, so together they are the longest one; every
        # column, indicators included, equals one clean ingest of it.
        pd.testing.assert_frame_equal(
            store.load_bars("AAPL", "1m"), _clean("4 M"), check_freq=False
        )
    finally:
        store.db.dispose()
