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
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

# The CLI package must be entered through its app module (it registers the command modules,
# which import each other); importing algotrader.cli.ingest first is a circular import.
import algotrader.cli.app  # noqa: F401
from algotrader.cli.ingest import run_ingest
from algotrader.config import load_settings
from algotrader.data.ingest import IngestWindow
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import open_database
from algotrader.db.store import DEFAULT_CHUNK_ROWS, VALUE_COLUMNS, BarStore
from algotrader.frames import INDICATOR_COLUMNS, OHLCV_COLUMNS
from algotrader.indicators import compute_indicators
from algotrader.timeframes import parse_duration, parse_resolution

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
FIXED_END = datetime(2024, 6, 28, 21, 0, tzinfo=UTC)
# 1-minute bars over this look-back: ~510k bars, six chunks of up to 100k rows. PostgreSQL
# writes two chunks at a time, so once the first rows are visible at least two more rounds
# (over a second) remain for the kill to land in, even on a loaded machine.
KILL_DURATION = "5 Y"


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
        COLUMNS="200",
    )
    return env


def _count(store: BarStore) -> int:
    with store.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM market_prices")).scalar_one())


def _duplicates(store: BarStore) -> list[tuple[object, ...]]:
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


def _incomplete_ohlcv(store: BarStore) -> int:
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


def test_ten_reruns_of_an_ingest_leave_identical_rows(db_url: str, workdir: Path) -> None:
    settings = _settings(db_url, workdir)
    window = IngestWindow(duration=parse_duration("3 M"), end=FIXED_END)
    res = [parse_resolution("1h")]
    run_ingest(settings, ["AAPL"], res, window, source="synthetic", show_progress=False)
    first = _table_checksum(db_url)
    for _ in range(9):
        (report,) = run_ingest(settings, ["AAPL"], res, window, source="synthetic",
                               show_progress=False)
        assert (report.inserted, report.updated, report.indicator_rows) == (0, 0, 0)
    assert first[0] > 400
    assert _table_checksum(db_url) == first


def test_rerun_with_a_later_end_keeps_earlier_rows_and_their_ids(
    db_url: str, workdir: Path
) -> None:
    settings = _settings(db_url, workdir)
    res = [parse_resolution("1h")]
    early = IngestWindow(duration=parse_duration("3 M"), end=FIXED_END)
    run_ingest(settings, ["AAPL"], res, early, source="synthetic", show_progress=False)
    before = _table_checksum(db_url)
    later = IngestWindow(start=_start_of("3 M", FIXED_END), end=datetime(2024, 7, 10, tzinfo=UTC))
    (report,) = run_ingest(settings, ["AAPL"], res, later, source="synthetic", show_progress=False)
    assert report.inserted > 0 and report.updated == 0
    db = open_database(db_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, symbol, resolution, source, ts, {', '.join(VALUE_COLUMNS)} "
                    "FROM market_prices WHERE ts < :end ORDER BY symbol, resolution, ts"
                ),
                {"end": FIXED_END if db.is_postgres else int(FIXED_END.timestamp() * 1e6)},
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
        chunk_ids = rel // DEFAULT_CHUNK_ROWS
        top = int(chunk_ids.max())
        for j in np.unique(chunk_ids):
            members = rel[chunk_ids == j]
            lo = int(j) * DEFAULT_CHUNK_ROWS
            contiguous = bool((members == np.arange(lo, lo + len(members))).all())
            full = len(members) == DEFAULT_CHUNK_ROWS
            # Only the run's last chunk may be short, and then it ends where the run's bars end.
            last = j == top and (a + lo + len(members)) in ends
            if not contiguous or not (full or last):
                break
        else:
            return a
    return None


def test_kill_during_ingest_leaves_whole_chunks_and_the_rerun_repairs_everything(
    db_url: str, tmp_path: Path
) -> None:
    store = BarStore(open_database(db_url))
    provider = SyntheticProvider()
    minute = parse_resolution("1m")
    command = [ALGOTRADER, "ingest", "-s", "AAPL", "-r", "1m", "-d", KILL_DURATION,
               "--source", "synthetic"]
    env = _env(db_url, tmp_path)

    t_before = _now()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count(store) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no rows appeared within 60 s"
        time.sleep(0.02)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    t_killed = _now()
    assert proc.returncode == -signal.SIGKILL, (
        f"the ingest finished before the kill; make KILL_DURATION longer ({KILL_DURATION})"
    )

    # After the kill: only committed whole chunks, each with complete rows.
    fetched = provider.fetch_bars("AAPL", minute, _start_of(KILL_DURATION, t_before), t_killed)
    fetched_us = fetched.index.as_unit("us").asi8
    after_kill = store.load_bars("AAPL", "1m")
    stored_us = after_kill.index.as_unit("us").asi8
    assert 0 < len(after_kill) < len(fetched)
    assert _incomplete_ohlcv(store) == 0
    assert _duplicates(store) == []
    # The killed run fetched fetched[a:b]: its window opened between these two instants ...
    starts = range(0, int(np.searchsorted(fetched_us, _us(_start_of(KILL_DURATION, t_killed)))) + 1)
    # ... and closed between these (a bar exists once it is complete).
    ends = range(
        int(np.searchsorted(fetched_us, _us(t_before - pd.Timedelta(minutes=1)))),
        len(fetched_us) + 1,
    )
    run_first = _whole_chunks(stored_us, fetched_us, starts, ends)
    assert run_first is not None, (
        f"{len(after_kill)} stored rows are not whole {DEFAULT_CHUNK_ROWS}-row chunks"
    )
    pd.testing.assert_frame_equal(
        after_kill[list(OHLCV_COLUMNS)], fetched.loc[after_kill.index], check_freq=False
    )
    # The rows carry the indicators the killed run computed over its whole window (causal).
    computed = compute_indicators(fetched.iloc[run_first:]).loc[after_kill.index]
    _assert_indicators_match(after_kill, computed)
    if store.dirty_from("AAPL", "1m") is None:
        _assert_indicators_match(after_kill, compute_indicators(after_kill[list(OHLCV_COLUMNS)]))

    # The same command again, to completion.
    t_rerun = _now()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    t_done = _now()
    assert done.returncode == 0, done.stderr
    assert "Ingestion complete." in done.stdout

    assert _duplicates(store) == []
    assert store.dirty_from("AAPL", "1m") is None
    final = store.load_bars("AAPL", "1m")
    union = provider.fetch_bars("AAPL", minute, _start_of(KILL_DURATION, t_before), t_done)
    # No gap: the stored bars are one contiguous run of the provider's bars ...
    first = union.index.get_loc(final.index[0])
    expected = union.iloc[first : first + len(final)]
    pd.testing.assert_frame_equal(final[list(OHLCV_COLUMNS)], expected, check_freq=False)
    # ... covering at least the re-run's whole window.
    must_have = union[
        (union.index >= _start_of(KILL_DURATION, t_done)) & (union.index < t_rerun)
    ]
    assert must_have.index.isin(final.index).all()
    _assert_indicators_match(final, compute_indicators(final[list(OHLCV_COLUMNS)]))
    store.db.dispose()


# --------------------------------------------------------------------------- concurrent ingests


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_four_concurrent_ingests_of_one_symbol_neither_duplicate_nor_deadlock(
    db_url: str, tmp_path: Path
) -> None:
    env = _env(db_url, tmp_path)
    command = [ALGOTRADER, "ingest", "-s", "AAPL", "-r", "1h", "-d", "1 Y", "--source", "synthetic"]
    t_start = _now()
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    t_end = _now()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "deadlock detected" not in err.lower()
        assert "Ingestion complete." in out

    store = BarStore(open_database(db_url))
    try:
        assert _duplicates(store) == []
        assert store.dirty_from("AAPL", "1h") is None
        stored = store.load_bars("AAPL", "1h")
        provider = SyntheticProvider()
        hour = parse_resolution("1h")
        single = provider.fetch_bars("AAPL", hour, _start_of("1 Y", t_start), t_start)
        latest = provider.fetch_bars("AAPL", hour, _start_of("1 Y", t_end), t_end)
        if single.index.equals(latest.index):
            # No bar boundary crossed while they ran: exactly one run's rows.
            assert stored.index.equals(single.index)
        else:
            lo, hi = latest.index[0], single.index[-1]
            assert single.index[(single.index >= lo)].isin(stored.index).all()
            assert stored.index.isin(single.index.union(latest.index)).all()
            assert hi in stored.index
        _assert_indicators_match(stored, compute_indicators(stored[list(OHLCV_COLUMNS)]))
    finally:
        store.db.dispose()
