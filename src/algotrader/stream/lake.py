"""The Parquet data lake: bars for long-term keeping, readable without algotrader.

Layout (Hive-style partitions, so pandas, pyarrow, DuckDB and Spark see ``resolution``,
``symbol`` and ``date`` columns)::

    URL/resolution=1m/symbol=AAPL/date=2024-01-02/part-0.parquet

One file holds one period of one series: a UTC calendar day for intraday bars, a calendar year
for daily and weekly bars (``date`` is then January 1st), so no file holds a handful of rows.
Columns: ``ts`` (timestamp, microseconds, UTC), ``open``, ``high``, ``low``, ``close``,
``volume`` (float64) and ``source`` (where the bar came from). Any fsspec URL works: a local
folder, ``s3://bucket/prefix`` with s3fs, ``gs://``, ``az://``...

Writing is idempotent: a period's file is the union of what it held and the new bars (new bars
win on equal timestamps), and it is rewritten only when that changes its content (a SHA-256
fingerprint kept in the file's metadata). A file is written under a hidden temporary name and
then moved into place, so readers never see half a file.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from algotrader.errors import InvalidInputError
from algotrader.frames import INDEX_NAME, OHLCV_COLUMNS

FILE_NAME = "part-0.parquet"
FINGERPRINT = b"algotrader.fingerprint"
SCHEMA = pa.schema(
    [pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False)]
    + [pa.field(c, pa.float64(), nullable=False) for c in OHLCV_COLUMNS]
    + [pa.field("source", pa.string(), nullable=False)]
)
_DAY_US = 86_400_000_000
_YEARLY = frozenset({"1d", "1w"})


@dataclass(frozen=True)
class LakeWrite:
    """What writing one series did: files written, files already up to date, bars covered."""

    written: int
    unchanged: int
    bars: int


class Lake:
    """A lake at ``url`` (created on first write)."""

    def __init__(self, url: str) -> None:
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot open the data lake {url!r} ({exc})",
                "use a folder or an fsspec URL such as s3://bucket/lake (s3 needs s3fs)",
            ) from None
        self.url = url
        self.root = root.rstrip("/")

    # ----------------------------------------------------------------------------- writing
    def write_series(self, symbol: str, resolution: str, bars: pd.DataFrame) -> LakeWrite:
        """Merge ``bars`` (a bar frame plus a ``source`` column) into the lake."""
        existing = self._files(resolution, symbol)
        written = unchanged = 0
        for period, part in _periods(resolution, bars):
            path = self._path(resolution, symbol, period)
            old = self._read_file(existing[period]) if period in existing else None
            table, fingerprint = _merged(old, part)
            if old is not None and _fingerprint_of(old) == fingerprint:
                unchanged += 1
                continue
            self._write_file(path, table)
            written += 1
        return LakeWrite(written, unchanged, len(bars))

    def _write_file(self, path: str, table: pa.Table) -> None:
        folder = path.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{FILE_NAME}.{uuid.uuid4().hex}.tmp"
        with self.fs.open(temporary, "wb") as out:
            pq.write_table(table, out, compression="zstd")
        self.fs.mv(temporary, path)

    # ----------------------------------------------------------------------------- reading
    def read_series(
        self,
        symbol: str,
        resolution: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """The bars of one series in ``[start, end)``, sorted, with their ``source`` column."""
        first = _period_of(resolution, pd.Timestamp(start)) if start is not None else ""
        last = _period_of(resolution, pd.Timestamp(end)) if end is not None else "9999"
        tables = [
            self._read_file(path)
            for period, path in sorted(self._files(resolution, symbol).items())
            if first <= period <= last
        ]
        if not tables:
            return _frame(SCHEMA.empty_table())
        frame = _frame(pa.concat_tables(tables))
        if start is not None:
            frame = frame[frame.index >= pd.Timestamp(start)]
        if end is not None:
            frame = frame[frame.index < pd.Timestamp(end)]
        return frame

    def sources(self, symbol: str) -> set[str]:
        """The ``source`` values of every bar of ``symbol`` (all resolutions)."""
        found: set[str] = set()
        for resolution in self.resolutions(symbol):
            for path in self._files(resolution, symbol).values():
                with self.fs.open(path, "rb") as handle:
                    column = pq.ParquetFile(handle).read(columns=["source"]).column(0)
                found.update(column.unique().to_pylist())
        return found

    def symbols(self) -> list[str]:
        """Every symbol the lake holds bars of (any resolution)."""
        found = {unquote(p.rstrip("/").split("/")[-1].split("=", 1)[1])
                 for p in self.fs.glob(f"{self.root}/resolution=*/symbol=*")}  # fmt: skip
        return sorted(found)

    def resolutions(self, symbol: str) -> list[str]:
        pattern = f"{self.root}/resolution=*/symbol={quote(symbol, safe='')}"
        return sorted(unquote(p.rstrip("/").split("/")[-2].split("=", 1)[1])
                      for p in self.fs.glob(pattern))  # fmt: skip

    def _files(self, resolution: str, symbol: str) -> dict[str, str]:
        """period -> path of the series' files."""
        folder = f"{self.root}/resolution={resolution}/symbol={quote(symbol, safe='')}"
        found = {}
        for path in self.fs.glob(f"{folder}/date=*/{FILE_NAME}"):
            found[path.split("/")[-2].split("=", 1)[1]] = path
        return found

    def _path(self, resolution: str, symbol: str, period: str) -> str:
        folder = f"{self.root}/resolution={resolution}/symbol={quote(symbol, safe='')}"
        return f"{folder}/date={period}/{FILE_NAME}"

    def _read_file(self, path: str) -> pa.Table:
        with self.fs.open(path, "rb") as handle:
            return pq.ParquetFile(handle).read()


def _periods(resolution: str, bars: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """``bars`` (sorted) cut into the lake's periods."""
    ts = pd.DatetimeIndex(bars.index).as_unit("us").asi8
    if resolution in _YEARLY:
        keys = ts.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64)
    else:
        keys = ts // _DAY_US
    cuts = np.flatnonzero(np.diff(keys)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(ts)], strict=True):
        if hi > lo:
            yield _period_of(resolution, bars.index[lo]), bars.iloc[lo:hi]


def _period_of(resolution: str, ts: pd.Timestamp) -> str:
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return f"{ts.year:04d}-01-01" if resolution in _YEARLY else ts.strftime("%Y-%m-%d")


def _merged(old: pa.Table | None, part: pd.DataFrame) -> tuple[pa.Table, bytes]:
    """The period's new content (old rows not replaced + ``part``) and its fingerprint."""
    new = _table(part)
    if old is not None and old.num_rows:
        old_ts = old.column("ts").cast(pa.int64()).to_numpy()
        new_ts = new.column("ts").cast(pa.int64()).to_numpy()
        kept = old.filter(pa.array(~np.isin(old_ts, new_ts)))
        merged = pa.concat_tables([kept.cast(SCHEMA), new])
        order = np.argsort(merged.column("ts").cast(pa.int64()).to_numpy(), kind="stable")
        new = merged.take(pa.array(order))
    fingerprint = _fingerprint(new)
    return new.replace_schema_metadata({FINGERPRINT: fingerprint}), fingerprint


def _table(part: pd.DataFrame) -> pa.Table:
    ts = pd.DatetimeIndex(part.index).as_unit("us").asi8
    arrays = [pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC"))]
    arrays += [pa.array(part[c].to_numpy(np.float64)) for c in OHLCV_COLUMNS]
    arrays.append(pa.array(part["source"].astype(str).to_numpy(), pa.string()))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _fingerprint(table: pa.Table) -> bytes:
    digest = hashlib.sha256()
    for name in SCHEMA.names:
        column = table.column(name)
        if name == "source":
            digest.update("\x1f".join(column.to_pylist()).encode())
        else:
            digest.update(column.cast(pa.int64() if name == "ts" else pa.float64())
                          .to_numpy().tobytes())  # fmt: skip
    return digest.hexdigest().encode()


def _fingerprint_of(table: pa.Table) -> bytes | None:
    metadata = table.schema.metadata or {}
    return metadata.get(FINGERPRINT)


def _frame(table: pa.Table) -> pd.DataFrame:
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    index = pd.DatetimeIndex(pd.to_datetime(ts, unit="us", utc=True), name=INDEX_NAME)
    data = {c: table.column(c).to_numpy() for c in OHLCV_COLUMNS}
    data["source"] = np.asarray(table.column("source").to_pylist(), dtype=object)
    return pd.DataFrame(data, index=index)
