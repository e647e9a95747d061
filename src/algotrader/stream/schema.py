"""The messages of the price stream: JSON documents that name their schema.

A **bars message** (topic ``algotrader.bars``, key ``SYMBOL|RESOLUTION`` so that one series
always lands in one partition, in order) holds one or more consecutive bars of one series,
column by column::

    {"schema": "algotrader.bars/1", "symbol": "AAPL", "resolution": "1m", "source": "ibkr",
     "ts": [1704205800000000, ...],                      # epoch microseconds, UTC
     "open": [185.1, ...], "high": [...], "low": [...], "close": [...], "volume": [...]}

Floats are written in their shortest round-trip form, so a bar arrives bit-for-bit as it was
sent. An **indicator job** (topic ``algotrader.indicator-jobs``, same key) asks for the
indicators of one series to be recomputed::

    {"schema": "algotrader.indicator-job/1", "symbol": "AAPL", "resolution": "1m"}

A consumer refuses what it cannot read with :class:`PoisonMessage` (its ``kind`` is one of
:data:`POISON_KINDS`); a new, incompatible layout gets a new schema id (``/2``) so old consumers
send it to the dead-letter topic instead of misreading it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from algotrader.data.validation import validate_bars
from algotrader.errors import InvalidInputError
from algotrader.frames import INDEX_NAME, OHLCV_COLUMNS
from algotrader.timeframes import RESOLUTIONS, parse_resolution

BARS_SCHEMA = "algotrader.bars/1"
JOB_SCHEMA = "algotrader.indicator-job/1"

BAD_SCHEMA = "bad-schema"
INVALID_BAR = "invalid-bar"
UNKNOWN_RESOLUTION = "unknown-resolution"
POISON_KINDS: tuple[str, ...] = (BAD_SCHEMA, INVALID_BAR, UNKNOWN_RESOLUTION)

_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-/^=]{0,31}$")


class PoisonMessage(Exception):
    """A message no consumer can use: goes to the dead-letter topic with ``kind`` and
    ``detail`` (one line)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = " ".join(detail.split())


@dataclass(frozen=True)
class RawBars:
    """The decoded (not yet validated) bars of one message."""

    symbol: str
    resolution: str
    source: str
    ts_us: np.ndarray
    values: tuple[np.ndarray, ...]  # OHLCV_COLUMNS, float64

    def __len__(self) -> int:
        return len(self.ts_us)

    def frame(self) -> pd.DataFrame:
        index = pd.DatetimeIndex(pd.to_datetime(self.ts_us, unit="us", utc=True), name=INDEX_NAME)
        return pd.DataFrame(dict(zip(OHLCV_COLUMNS, self.values, strict=True)), index=index)


@dataclass(frozen=True)
class IndicatorJob:
    symbol: str
    resolution: str


def series_key(symbol: str, resolution: str) -> bytes:
    """The message key of a series: per-key order is what keeps a series' bars in order."""
    return f"{symbol}|{resolution}".encode()


def encode_bars(symbol: str, resolution: str, source: str, bars: pd.DataFrame) -> bytes:
    """One bars message for a validated bar frame (see :mod:`algotrader.frames`)."""
    ts = np.ascontiguousarray(pd.DatetimeIndex(bars.index).as_unit("us").asi8, dtype=np.int64)
    document: dict[str, Any] = {
        "schema": BARS_SCHEMA,
        "symbol": symbol,
        "resolution": resolution,
        "source": source,
        "ts": ts,
    }
    for column in OHLCV_COLUMNS:
        document[column] = np.ascontiguousarray(bars[column].to_numpy(np.float64))
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def decode_bars(value: bytes | None) -> RawBars:
    """The bars of a message, or :class:`PoisonMessage` saying why there are none.

    Only the layout is checked here; :func:`invalid_rows` checks the bars themselves.
    """
    document = _document(value, BARS_SCHEMA)
    symbol = _symbol(document)
    resolution = _resolution(document)
    source = document.get("source")
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise PoisonMessage(BAD_SCHEMA, f"source {source!r} is not a short lower-case name")
    ts = _column(document, "ts", "i")
    values = tuple(_column(document, c, "f") for c in OHLCV_COLUMNS)
    if any(len(v) != len(ts) for v in values):
        raise PoisonMessage(BAD_SCHEMA, "the columns have different lengths")
    if not len(ts):
        raise PoisonMessage(BAD_SCHEMA, "the message holds no bars")
    return RawBars(symbol, resolution, source, ts, values)


def encode_job(symbol: str, resolution: str) -> bytes:
    return orjson.dumps({"schema": JOB_SCHEMA, "symbol": symbol, "resolution": resolution})


def decode_job(value: bytes | None) -> IndicatorJob:
    document = _document(value, JOB_SCHEMA)
    return IndicatorJob(_symbol(document), _resolution(document))


def invalid_rows(batches: Sequence[RawBars]) -> np.ndarray:
    """Which of ``batches`` hold a bar :func:`~algotrader.data.validation.validate_bars`
    refuses (one vectorised pass over all of them; :func:`why_invalid` says why)."""
    if not batches:
        return np.zeros(0, dtype=bool)
    owner = np.repeat(np.arange(len(batches)), [len(b) for b in batches])
    o, h, lo, c, v = (np.concatenate([b.values[k] for b in batches]) for k in range(5))
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c))
        bad |= ~np.isfinite(v) | (v < 0) | (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        bad |= (h < lo) | (h < np.maximum(o, c)) | (lo > np.minimum(o, c))
    # A timestamp repeated inside one message (between messages, the later bar wins).
    ts = np.concatenate([b.ts_us for b in batches])
    order = np.lexsort((ts, owner))
    same = (owner[order][1:] == owner[order][:-1]) & (ts[order][1:] == ts[order][:-1])
    bad[order[1:][same]] = True
    result = np.zeros(len(batches), dtype=bool)
    result[owner[bad]] = True
    return result


def why_invalid(batch: RawBars) -> str:
    """The first problem :func:`~algotrader.data.validation.validate_bars` finds in ``batch``."""
    try:
        validate_bars(batch.frame())
    except InvalidInputError as exc:
        return exc.problem
    return "no problem found"


def _document(value: bytes | None, schema: str) -> dict[str, Any]:
    if not value:
        raise PoisonMessage(BAD_SCHEMA, "the message is empty")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage(BAD_SCHEMA, f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise PoisonMessage(BAD_SCHEMA, "not a JSON object")
    found = document.get("schema")
    if found != schema:
        raise PoisonMessage(BAD_SCHEMA, f"schema {found!r} is not {schema!r}")
    return document


def _symbol(document: dict[str, Any]) -> str:
    symbol = document.get("symbol")
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise PoisonMessage(BAD_SCHEMA, f"symbol {symbol!r} is not an upper-case ticker")
    return symbol


def _resolution(document: dict[str, Any]) -> str:
    resolution = document.get("resolution")
    if not isinstance(resolution, str):
        raise PoisonMessage(BAD_SCHEMA, f"resolution {resolution!r} is not a string")
    if resolution not in RESOLUTIONS:
        try:
            parse_resolution(resolution)
            hint = f"the stream uses the canonical names: {', '.join(RESOLUTIONS)}"
        except InvalidInputError as exc:
            hint = exc.fix or ""
        raise PoisonMessage(UNKNOWN_RESOLUTION, f"unknown resolution {resolution!r}: {hint}")
    return resolution


def _column(document: dict[str, Any], name: str, kind: str) -> np.ndarray:
    """A list of numbers as an array: ``kind`` "i" for integers, "f" for numbers where
    ``null`` (NaN) is allowed (the bar check then refuses it)."""
    items = document.get(name)
    if not isinstance(items, list):
        raise PoisonMessage(BAD_SCHEMA, f"{name!r} is not a list")
    array = np.array(items)
    if array.ndim == 1 and (array.dtype.kind == "i" or (kind == "f" and array.dtype.kind == "f")):
        return array.astype(np.int64 if kind == "i" else np.float64, copy=False)
    if array.ndim == 1 and kind == "f" and array.dtype.kind == "O" and all(map(_number, items)):
        return np.array(items, dtype=np.float64)
    if not len(items):
        return np.zeros(0, dtype=np.int64 if kind == "i" else np.float64)
    what = "integers (epoch microseconds)" if kind == "i" else "numbers"
    raise PoisonMessage(BAD_SCHEMA, f"{name!r} must hold {what}")


def _number(item: object) -> bool:
    """A JSON number or null (NaN), not a string or a boolean."""
    return item is None or (isinstance(item, int | float) and not isinstance(item, bool))
