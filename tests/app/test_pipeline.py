"""Storing bars: merge, idempotence, indicator refresh, interrupted writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import text
from tests.conftest import bar_store_for_test, daily_test_bars

from algotrader.app.pipeline import SeriesCache, store_bars
from algotrader.indicators import compute_indicators


def test_stored_bars_and_indicators_read_back_exactly(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(300)
    store_bars(store, "TEST", "1d", "test", bars)
    expected = pd.concat([bars, compute_indicators(bars)], axis=1)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_warm_up_indicator_values_are_null_in_the_database(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    store_bars(store, "TEST", "1d", "test", daily_test_bars(60))
    with store.db.engine.connect() as conn:
        from sqlalchemy import text

        nulls = conn.execute(
            text("SELECT count(*) FROM market_prices WHERE ma50 IS NULL")
        ).scalar_one()
        zeros = conn.execute(text("SELECT count(*) FROM market_prices WHERE ma50 = 0")).scalar_one()
    assert (nulls, zeros) == (49, 0)


def test_rerun_writes_nothing_and_reports_unchanged(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(200)
    store_bars(store, "TEST", "1d", "test", bars)
    again = store_bars(store, "TEST", "1d", "test", bars)
    assert (again.inserted, again.updated, again.unchanged, again.indicator_rows) == (0, 0, 200, 0)


def test_changed_bar_rewrites_indicators_from_that_bar_on(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(200)
    store_bars(store, "TEST", "1d", "test", bars)
    changed = bars.copy()
    changed.iloc[150, changed.columns.get_loc("close")] *= 1.001
    changed.iloc[150, changed.columns.get_loc("high")] *= 1.01
    report = store_bars(store, "TEST", "1d", "test", changed)
    assert (report.inserted, report.updated, report.indicator_rows) == (0, 1, 50)
    expected = pd.concat([changed, compute_indicators(changed)], axis=1)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_earlier_history_prepended_recomputes_every_later_indicator(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(400)
    store_bars(store, "TEST", "1d", "test", bars.iloc[200:])
    report = store_bars(store, "TEST", "1d", "test", bars.iloc[:200])
    assert report.inserted == 200 and report.indicator_rows == 400
    expected = pd.concat([bars, compute_indicators(bars)], axis=1)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_interrupted_write_leaves_a_marker_that_the_next_run_repairs(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(300)
    full = pd.concat([bars, compute_indicators(bars)], axis=1)
    # Only the first part of a multi-chunk write landed, indicators of the rest never written:
    with store.lock("TEST", "1d") as series:
        series.write_bars("test", full.iloc[:100], dirty_from=bars.index[0].to_pydatetime())
        series.write_bars("test", bars.iloc[100:])
    assert store.dirty_from("TEST", "1d") == bars.index[0].to_pydatetime()
    report = store_bars(store, "TEST", "1d", "test", bars)
    assert report.inserted == 0 and report.indicator_rows == 300
    assert store.dirty_from("TEST", "1d") is None
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), full, check_freq=False)


def test_bars_from_another_source_keep_their_source_on_indicator_refresh(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(100)
    store_bars(store, "TEST", "1d", "ibkr", bars.iloc[50:])
    store_bars(store, "TEST", "1d", "csv", bars.iloc[:50])
    assert store.sources("TEST", "1d") == {"ibkr", "csv"}
    expected = pd.concat([bars, compute_indicators(bars)], axis=1)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_load_bars_respects_start_and_end(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(100)
    store_bars(store, "TEST", "1d", "test", bars)
    window = store.load_bars(
        "TEST", "1d", bars.index[10].to_pydatetime(), bars.index[20].to_pydatetime()
    )
    assert list(window.index) == list(bars.index[10:20])


# ------------------------------------------------------------------------ the series cache
def _stored_with_indicators(bars: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([bars, compute_indicators(bars)], axis=1)


def test_a_cached_writer_reads_the_history_once_and_stores_exact_indicators(
    db_url: str,
) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(600)
    cache = SeriesCache()
    for lo in range(0, 600, 100):
        store_bars(store, "TEST", "1d", "test", bars.iloc[lo : lo + 100], cache=cache)
    assert (cache.misses, cache.hits) == (1, 5)
    expected = _stored_with_indicators(bars)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_a_cached_writer_rereads_a_series_another_writer_changed(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(300)
    cache = SeriesCache()
    store_bars(store, "TEST", "1d", "test", bars.iloc[:200], cache=cache)
    # Another process corrects a bar in the middle: same bounds, same count, new values.
    corrected = bars.copy()
    corrected.iloc[120, corrected.columns.get_loc("close")] *= 1.002
    corrected.iloc[120, corrected.columns.get_loc("high")] *= 1.01
    store_bars(store, "TEST", "1d", "test", corrected.iloc[100:150])
    store_bars(store, "TEST", "1d", "test", bars.iloc[200:], cache=cache)
    assert (cache.misses, cache.hits) == (2, 0)
    expected = _stored_with_indicators(corrected)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_a_cached_writer_merges_corrections_and_other_sources_exactly(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(400)
    cache = SeriesCache()
    store_bars(store, "TEST", "1d", "csv", bars.iloc[:100], cache=cache)
    store_bars(store, "TEST", "1d", "ibkr", bars.iloc[300:], cache=cache)  # another key
    store_bars(store, "TEST", "1d", "csv", bars.iloc[100:300], cache=cache)  # fills the gap
    corrected = bars.copy()
    corrected.iloc[50, corrected.columns.get_loc("low")] *= 0.99
    store_bars(store, "TEST", "1d", "csv", corrected.iloc[40:60], cache=cache)
    assert store.sources("TEST", "1d") == {"csv", "ibkr"}
    expected = _stored_with_indicators(corrected)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)


def test_two_sources_writing_one_series_share_its_cached_copy(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(300)
    store_bars(store, "TEST", "1d", "csv", bars.iloc[:100])  # stored before the writer starts
    store_bars(store, "TEST", "1d", "ibkr", bars.iloc[100:150])
    cache = SeriesCache()
    for k, lo in enumerate(range(150, 300, 30)):
        store_bars(store, "TEST", "1d", ("csv", "ibkr")[k % 2], bars.iloc[lo : lo + 30],
                   cache=cache)  # fmt: skip
    # Rewritten by the other source: only the bar's source changes (indicators stay).
    store_bars(store, "TEST", "1d", "ibkr", bars.iloc[10:11], cache=cache)
    assert (cache.misses, cache.hits) == (1, 5)
    expected = _stored_with_indicators(bars)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), expected, check_freq=False)
    with store.db.engine.connect() as conn:
        sources = [r[0] for r in conn.execute(
            text("SELECT source FROM market_prices ORDER BY ts"))]  # fmt: skip
    assert sources == ["csv"] * 10 + ["ibkr"] + ["csv"] * 89 + ["ibkr"] * 50 + (
        ["csv"] * 30 + ["ibkr"] * 30) * 2 + ["csv"] * 30


def test_the_cache_drops_the_least_recently_used_series_beyond_its_size(tmp_path: Path) -> None:
    store = bar_store_for_test(f"sqlite:///{tmp_path / 'cache.db'}")
    cache = SeriesCache(max_bars=250)
    for resolution in ("1d", "1w"):  # 400 bars: "1d" is dropped
        store_bars(store, "TEST", resolution, "test", daily_test_bars(200), cache=cache)
    store_bars(store, "TEST", "1w", "test", daily_test_bars(210), cache=cache)
    store_bars(store, "TEST", "1d", "test", daily_test_bars(210), cache=cache)
    assert (cache.misses, cache.hits) == (3, 1)
