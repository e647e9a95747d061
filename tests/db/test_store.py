"""The SQL bar store: exact round trips, chunked writes, instruments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from algotrader.db.engine import open_database
from algotrader.db.instruments import SqlInstrumentStore
from algotrader.db.store import SqlBarStore
from algotrader.indicators import compute_indicators
from algotrader.ports.bars import InstrumentInfo


def _bars(n: int, start: str = "2020-01-01", seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    index = pd.date_range(start, periods=n, freq="D", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(float),
        },
        index=index,
    )


def _store(url: str) -> SqlBarStore:
    db = open_database(url)
    SqlInstrumentStore(db).ensure(InstrumentInfo("TEST"), "test")
    return SqlBarStore(db)


def test_multi_chunk_write_equals_single_chunk_write(db_url: str) -> None:
    store = _store(db_url)
    bars = _bars(1000)
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
