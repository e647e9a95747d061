"""Reading market events, symbol events, external signals and instruments from CSV or JSON-lines
files.

Each row needs a timestamp (``ts``, ``timestamp``, ``datetime``, ``date`` or ``time``: an ISO
date or datetime, naive = UTC) and a ``name`` (events also a ``kind``); ``source`` defaults to the
file's stem, ``value`` is optional and numeric, and ``payload`` is a JSON object (any other column
is folded into it). Event rows with a ``symbol`` go to ``symbol_events``, the others to
``market_events``. Text is limited to what the columns hold (symbol 32 characters, source and
kind 64, name 200), numbers must be finite; every row is checked before anything is written.
Imports are idempotent: a row is keyed by (symbol,) source, kind/name and ts; a re-import inserts
nothing and updates only what changed.

An instruments file has a ``symbol`` and any of ``name``, ``sector`` and ``industry`` per row
(200, 64 and 128 characters): the sector and industry that portfolio caps read.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ports.bars import InstrumentInfo
from algotrader.symbols import parse_symbol, shorten
from algotrader.timeframes import EARLIEST, LATEST

_TS_KEYS = ("ts", "timestamp", "datetime", "date", "time")
_KNOWN = {"symbol", "source", "kind", "name", "value", "payload", *_TS_KEYS}
# What the database columns hold (db/models.py); longer text is refused before anything is sent.
_LIMITS = {"symbol": 32, "source": 64, "kind": 64, "name": 200, "sector": 64, "industry": 128}
_INSTRUMENT_TEXT = ("name", "sector", "industry")
_NOT_UTF8_FIX = "save it as UTF-8 text (e.g. `iconv -f latin1 -t utf-8 old.csv > new.csv`)"


def _read_text(path: Path) -> str:
    name = shorten(path.name)
    if not path.is_file():
        shown = shorten(str(path), 80, keep_end=True)
        raise InvalidInputError(f"file not found: {shown}", "check the path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {name} ({exc.strerror or exc})", "check the file's permissions"
        ) from None
    if b"\x00" in data:
        raise InvalidInputError(
            f"{name} is not a text file (it holds binary data)",
            "give a CSV file with a header or JSON lines, as UTF-8 text",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{name} line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x})", _NOT_UTF8_FIX
        ) from None
    if not text.strip():
        raise InvalidInputError(f"{name} is empty", "give a CSV with a header or JSON lines")
    return text


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text = _read_text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        yield from _json_rows(shorten(path.name), text)
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield reader.line_num, {str(k).strip().lower(): v for k, v in row.items() if k}
    except csv.Error as exc:
        raise InvalidInputError(
            f"{shorten(path.name)} line {reader.line_num}: not valid CSV ({shorten(str(exc), 80)})",
            "check the quoting of that line",
        ) from None


def _json_rows(name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise InvalidInputError(
                f"{name} line {number}: not valid JSON ({shorten(why, 80)})",
                "write one JSON object per line",
            ) from None
        if not isinstance(row, dict):
            raise InvalidInputError(
                f"{name} line {number}: expected a JSON object, found {type(row).__name__}",
                "write one JSON object per line",
            )
        yield number, {str(k).lower(): v for k, v in row.items()}


def _parse(path: Path, number: int, row: dict[str, Any], needs_kind: bool) -> dict[str, Any]:
    where = f"{shorten(path.name)} line {number}"
    out: dict[str, Any] = {"ts": _timestamp(where, row)}
    for key in ("name", *(("kind",) if needs_kind else ())):
        text = _text(where, key, row.get(key))
        if text is None:
            raise InvalidInputError(f"{where}: column '{key}' is empty", f"give every row a {key}")
        out[key] = text
    out["source"] = _text(where, "source", row.get("source")) or _default_source(where, path)
    out["symbol"] = _symbol(where, row.get("symbol"))
    out["value"] = _number(where, row.get("value"))
    out["payload"] = _payload(where, row)
    return out


def _timestamp(where: str, row: dict[str, Any]) -> datetime:
    ts_key = next((k for k in _TS_KEYS if row.get(k) not in (None, "")), None)
    if ts_key is None:
        raise InvalidInputError(f"{where}: no timestamp", "add a 'ts' column (ISO date or time)")
    raw = row[ts_key]
    parsed = None
    # ISO dates start with the year; "now" or an epoch number would be read as something else
    if isinstance(raw, str) and re.match(r"\s*\d{4}", raw):
        try:
            parsed = pd.Timestamp(raw.strip())
        except (ValueError, TypeError, OverflowError):
            parsed = None
    if parsed is None or parsed is pd.NaT:
        raise InvalidInputError(
            f"{where}, column '{ts_key}': {shorten(repr(raw))} is not a date",
            "use ISO 8601 dates such as 2024-01-31 or 2024-01-31T14:30:00Z",
        )
    ts = parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")
    if not pd.Timestamp(EARLIEST) <= ts <= pd.Timestamp(LATEST):
        raise InvalidInputError(
            f"{where}, column '{ts_key}': {shorten(raw)!r} is outside the dates algotrader "
            "supports",
            f"give a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}",
        )
    return ts.floor("us").to_pydatetime()  # the database keeps microseconds


def _text(where: str, key: str, value: Any) -> str | None:
    """A text field, or None when it is empty; refused when the database could not hold it."""
    if value is None or isinstance(value, bool | list | dict):
        if value in (None, [], {}):
            return None
        raise InvalidInputError(
            f"{where}, column '{key}': expected text, found {shorten(repr(value))}",
            f"write the {key} as text",
        )
    text = str(value).strip()
    if not text:
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise InvalidInputError(
            f"{where}, column '{key}': holds a control character or broken text",
            f"write the {key} as plain text",
        )
    limit = _LIMITS[key]
    if len(text) > limit:
        raise InvalidInputError(
            f"{where}, column '{key}': {len(text)} characters, more than the {limit} it can hold",
            f"shorten the {key} to {limit} characters",
        )
    return text


def _default_source(where: str, path: Path) -> str:
    stem = path.stem
    if len(stem) > _LIMITS["source"] or any(unicodedata.category(ch) == "Cc" for ch in stem):
        raise InvalidInputError(
            f"{where}: no source, and the file name {shorten(stem)!r} cannot stand in for it",
            f"add a 'source' column, or rename the file (at most {_LIMITS['source']} characters)",
        )
    return stem


def _symbol(where: str, value: Any) -> str | None:
    text = _text(where, "symbol", value)
    if text is None:
        return None
    try:
        return parse_symbol(text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}, column 'symbol': {exc.problem}", exc.fix) from None


def _number(where: str, raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = None
    if not isinstance(raw, bool | list | dict):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = None
        except OverflowError:  # an integer with hundreds of digits
            value = math.inf
    if value is None:
        raise InvalidInputError(
            f"{where}, column 'value': {shorten(repr(raw))} is not a number",
            "use a number or leave it empty",
        )
    if not math.isfinite(value):
        raise InvalidInputError(
            f"{where}, column 'value': {shorten(str(raw))} is not a finite number",
            "use a finite number",
        )
    return value


def _payload(where: str, row: dict[str, Any]) -> dict[str, Any] | None:
    payload = row.get("payload")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if payload.strip() else None
        except (ValueError, RecursionError):
            raise InvalidInputError(
                f"{where}, column 'payload': not valid JSON", "write the payload as a JSON object"
            ) from None
    if payload is not None and not isinstance(payload, dict):
        raise InvalidInputError(
            f"{where}, column 'payload': expected a JSON object, found {type(payload).__name__}",
            'write the payload as a JSON object, e.g. {"eps": 2.18}',
        )
    extra = {k: v for k, v in row.items() if k not in _KNOWN and v not in (None, "")}
    if extra:
        payload = {**(payload or {}), **extra}
    if payload:
        _check_json(where, payload)
    return payload or None


def _check_json(where: str, payload: dict[str, Any]) -> None:
    """Refuse what a JSON column cannot store: NaN or infinite numbers, broken text."""
    stack: list[Any] = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInputError(
                f"{where}, column 'payload': holds {item}", "use finite numbers or null"
            )
        elif isinstance(item, str) and any(unicodedata.category(ch) == "Cs" for ch in item):
            raise InvalidInputError(
                f"{where}, column 'payload': holds broken text (a lone surrogate)",
                "write the payload as UTF-8 text",
            )


def read_events(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse and validate every row of an events file: (market events, symbol events)."""
    market, symbol = [], []
    for number, row in _rows(path):
        record = _parse(path, number, row, needs_kind=True)
        if record["symbol"]:
            symbol.append(record)
        else:
            record.pop("symbol")
            market.append(record)
    if not market and not symbol:
        raise InvalidInputError(f"{shorten(path.name)} has no rows", "add at least one event")
    return market, symbol


def read_signals(path: Path) -> list[dict[str, Any]]:
    """Parse and validate every row of an external-signals file; every row needs a symbol."""
    records = []
    for number, row in _rows(path):
        record = _parse(path, number, row, needs_kind=False)
        if not record["symbol"]:
            raise InvalidInputError(
                f"{shorten(path.name)} line {number}: no symbol", "add a 'symbol' column"
            )
        records.append(record)
    if not records:
        raise InvalidInputError(f"{shorten(path.name)} has no rows", "add at least one signal")
    return records


def read_instruments(path: Path) -> list[InstrumentInfo]:
    """Parse and validate every row of an instruments file (symbol; name, sector, industry)."""
    infos = []
    for number, row in _rows(path):
        where = f"{shorten(path.name)} line {number}"
        symbol = _symbol(where, row.get("symbol"))
        if symbol is None:
            raise InvalidInputError(f"{where}: no symbol", "add a 'symbol' column")
        name, sector, industry = (_text(where, key, row.get(key)) for key in _INSTRUMENT_TEXT)
        if not (name or sector or industry):
            raise InvalidInputError(
                f"{where}: nothing to store for {symbol}", "give a name, sector or industry"
            )
        infos.append(InstrumentInfo(symbol, name=name, sector=sector, industry=industry))
    if not infos:
        raise InvalidInputError(f"{shorten(path.name)} has no rows", "add at least one instrument")
    return infos


__all__ = ["read_events", "read_instruments", "read_signals"]
