"""The binary COPY encoder sends NULL runs in bulk and gives the same bytes as row by row."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from algotrader.db._pgbinary import HEADER, PG_EPOCH_US, TRAILER, encode_rows


def _row_by_row(texts: list[bytes], ts_us: np.ndarray, columns: list[np.ndarray]) -> bytes:
    """The wire format written out one row and one field at a time (PostgreSQL's docs)."""
    parts = [HEADER]
    for i in range(len(ts_us)):
        row = [struct.pack(">h", len(texts) + 1 + len(columns))]
        row += [struct.pack(">i", len(t)) + t for t in texts]
        row.append(struct.pack(">iq", 8, int(ts_us[i]) - PG_EPOCH_US))
        for column in columns:
            value = column[i]
            row.append(struct.pack(">i", -1) if np.isnan(value) else struct.pack(">id", 8, value))
        parts.append(b"".join(row))
    parts.append(TRAILER)
    return b"".join(parts)


@pytest.mark.parametrize("pattern", ["warm-up", "all-null", "scattered", "none", "empty"])
def test_bytes_equal_the_row_by_row_encoding(pattern: str) -> None:
    rng = np.random.default_rng(7)
    n = 0 if pattern == "empty" else 300
    ts = 1_700_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000
    columns = [rng.normal(100, 5, n) for _ in range(8)]
    if pattern == "warm-up":
        for j, column in enumerate(columns):
            column[: 5 * j] = np.nan
    elif pattern == "all-null":
        for column in columns[5:]:
            column[:] = np.nan
    elif pattern == "scattered":
        for column in columns:
            column[rng.random(n) < 0.2] = np.nan
    texts = [b"AAPL", b"1m", b"csv"]
    assert encode_rows(texts, ts, columns) == _row_by_row(texts, ts, columns)
