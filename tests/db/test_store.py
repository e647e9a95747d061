"""The SQL bar store: exact round trips, chunked writes, instruments."""

from __future__ import annotations

import pandas as pd
from tests.conftest import bar_store_for_test, daily_test_bars

from algotrader.db.engine import open_database
from algotrader.db.instruments import SqlInstrumentStore
from algotrader.indicators import compute_indicators
from algotrader.ports.bars import InstrumentInfo


def test_multi_chunk_write_equals_single_chunk_write(db_url: str) -> None:
    store = bar_store_for_test(db_url)
    bars = daily_test_bars(1000)
    full = pd.concat([bars, compute_indicators(bars)], axis=1)
    with store.lock("TEST", "1d") as series:
        series.write_bars("test", full, all_new=True, chunk_rows=64)
    pd.testing.assert_frame_equal(store.load_bars("TEST", "1d"), full, check_freq=False)
    assert store.dirty_from("TEST", "1d") is None


def test_ensure_instrument_is_idempotent_and_fills_blanks(db_url: str) -> None:
    instruments = SqlInstrumentStore(open_database(db_url))
    assert instruments.ensure(InstrumentInfo("ABC"), "test") is True
    assert instruments.ensure(InstrumentInfo("ABC", name="Abc Corp", con_id=7), "test") is False
    with instruments.db.engine.connect() as conn:
        from sqlalchemy import text

        row = conn.execute(text("SELECT name, con_id FROM instruments WHERE symbol='ABC'")).one()
    assert tuple(row) == ("Abc Corp", 7)
