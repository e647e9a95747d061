"""PostgreSQL binary COPY, encoded and decoded with numpy.

Bars have a fixed layout (constant symbol/resolution/source per batch, float8 and timestamptz
columns), so a whole batch is one numpy structured array: no per-row Python work. NaN is sent
as NULL, which changes a row's length: each run of rows with the same NULL columns gets its own
layout.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
# timestamptz on the wire: microseconds since 2000-01-01 00:00 UTC.
PG_EPOCH_US = 946_684_800_000_000


def _text_fields(texts: Sequence[bytes]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for k, value in enumerate(texts):
        fields += [(f"tl{k}", ">i4"), (f"t{k}", f"S{len(value)}")]
    return fields


def encode_rows(texts: Sequence[bytes], ts_us: np.ndarray, columns: Sequence[np.ndarray]) -> bytes:
    """Encode rows ``(*texts, ts, *columns)`` (texts constant per batch; ts as Unix epoch µs;
    float columns; NaN -> NULL) as a complete binary COPY stream."""
    n = len(ts_us)
    values = np.column_stack(columns) if columns else np.empty((n, 0))
    nulls = np.isnan(values)
    # Consecutive rows with the same NULL columns share one fixed layout, so each run of them
    # is one numpy structured array (rows keep their order). Typical batches have few runs:
    # the indicator warm-up rows, then full rows; or raw bars whose indicators are all NULL.
    changes = np.flatnonzero((nulls[1:] != nulls[:-1]).any(axis=1)) + 1
    bounds = np.r_[0, changes, n] if n else np.zeros(1, dtype=np.intp)
    parts = [HEADER]
    for lo, hi in itertools.pairwise(bounds):
        parts.append(_encode_run(texts, ts_us[lo:hi], values[lo:hi], nulls[lo]))
    parts.append(TRAILER)
    return b"".join(parts)


def _encode_run(
    texts: Sequence[bytes], ts_us: np.ndarray, values: np.ndarray, null: np.ndarray
) -> bytes:
    """Rows whose NULL columns are ``null`` (a NULL field is its length -1 and no value)."""
    fields: list[tuple[str, str]] = [
        ("n", ">i2"),
        *_text_fields(texts),
        ("tsl", ">i4"),
        ("ts", ">i8"),
    ]
    for j in range(values.shape[1]):
        fields += [(f"l{j}", ">i4")] if null[j] else [(f"l{j}", ">i4"), (f"v{j}", ">f8")]
    rows = np.empty(len(ts_us), dtype=np.dtype(fields))
    rows["n"] = len(texts) + 1 + values.shape[1]
    for k, value in enumerate(texts):
        rows[f"tl{k}"] = len(value)
        rows[f"t{k}"] = value
    rows["tsl"] = 8
    rows["ts"] = ts_us - PG_EPOCH_US
    for j in range(values.shape[1]):
        rows[f"l{j}"] = -1 if null[j] else 8
        if not null[j]:
            rows[f"v{j}"] = values[:, j]
    return rows.tobytes()


def decode_fixed(data: bytes | bytearray, n_float: int, n_bool: int = 0) -> dict[str, np.ndarray]:
    """Decode a binary COPY of ``(ts, *n_float float8 never NULL, *n_bool bool)`` rows."""
    dtype = np.dtype(
        [("n", ">i2"), ("tsl", ">i4"), ("ts", ">i8")]
        + [item for j in range(n_float) for item in ((f"l{j}", ">i4"), (f"v{j}", ">f8"))]
        + [item for j in range(n_bool) for item in ((f"bl{j}", ">i4"), (f"b{j}", "?"))]
    )
    body = len(data) - len(HEADER) - len(TRAILER)
    if body <= 0:
        count = 0
    else:
        if body % dtype.itemsize:
            raise ValueError("unexpected binary COPY layout (a NULL where none was expected?)")
        count = body // dtype.itemsize
    rows = np.frombuffer(data, dtype=dtype, count=count, offset=len(HEADER))
    out = {"ts": rows["ts"].astype(np.int64) + PG_EPOCH_US}
    for j in range(n_float):
        out[f"v{j}"] = rows[f"v{j}"].astype(np.float64)
    for j in range(n_bool):
        out[f"b{j}"] = rows[f"b{j}"].astype(bool)
    return out
