"""PostgreSQL binary COPY, encoded and decoded with numpy.

Bars have a fixed layout (constant symbol/resolution/source per batch, float8 and timestamptz
columns), so a whole batch is one numpy structured array: no per-row Python work. The rare rows
holding NaN (indicator warm-up) must be sent as NULLs, which changes their length; they are
encoded one by one.
"""

from __future__ import annotations

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
    nfields = len(texts) + 1 + len(columns)
    values = np.column_stack(columns) if columns else np.empty((n, 0))
    has_nan = np.isnan(values).any(axis=1) if columns else np.zeros(n, dtype=bool)
    full = ~has_nan

    dtype = np.dtype(
        [("n", ">i2"), *_text_fields(texts), ("tsl", ">i4"), ("ts", ">i8")]
        + [item for j in range(len(columns)) for item in ((f"l{j}", ">i4"), (f"v{j}", ">f8"))]
    )
    rows = np.empty(int(full.sum()), dtype=dtype)
    rows["n"] = nfields
    for k, value in enumerate(texts):
        rows[f"tl{k}"] = len(value)
        rows[f"t{k}"] = value
    rows["tsl"] = 8
    rows["ts"] = ts_us[full] - PG_EPOCH_US
    for j in range(len(columns)):
        rows[f"l{j}"] = 8
        rows[f"v{j}"] = values[full, j]

    parts = [HEADER, rows.tobytes()]
    for i in np.flatnonzero(has_nan):
        row = [struct.pack(">h", nfields)]
        row += [struct.pack(">i", len(value)) + value for value in texts]
        row.append(struct.pack(">iq", 8, int(ts_us[i]) - PG_EPOCH_US))
        for value in values[i]:
            row.append(struct.pack(">i", -1) if np.isnan(value) else struct.pack(">id", 8, value))
        parts.append(b"".join(row))
    parts.append(TRAILER)
    return b"".join(parts)


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
