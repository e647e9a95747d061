"""Reading market events, symbol events and external signals from CSV or JSON-lines files.

Each row needs a timestamp (``ts``, ``date``, ``time`` or ``timestamp``) and a ``name`` (events
also a ``kind``); ``source`` defaults to the file's stem, ``value`` is optional and numeric, and
``payload`` is a JSON object (any other column is folded into it). Event rows with a ``symbol``
go to ``symbol_events``, the others to ``market_events``. Imports are idempotent: a row is keyed
by (symbol,) source, kind/name and ts; a re-import inserts nothing and updates only what changed.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from algotrader.errors import InvalidInputError

_TS_KEYS = ("ts", "timestamp", "datetime", "date", "time")
_KNOWN = {"symbol", "source", "kind", "name", "value", "payload", *_TS_KEYS}


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise InvalidInputError(f"file not found: {path}", "check the path")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise InvalidInputError(f"{path.name} is empty", "give a CSV with a header or JSON lines")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"{path.name} line {number}: not valid JSON ({exc.msg})",
                    "write one JSON object per line",
                ) from None
            if not isinstance(row, dict):
                raise InvalidInputError(
                    f"{path.name} line {number}: expected a JSON object", "one object per line"
                )
            yield number, {str(k).lower(): v for k, v in row.items()}
        return
    reader = csv.DictReader(text.splitlines())
    for number, row in enumerate(reader, start=2):
        yield number, {str(k).strip().lower(): v for k, v in row.items() if k is not None}


def _parse(path: Path, number: int, row: dict[str, Any], needs_kind: bool) -> dict[str, Any]:
    where = f"{path.name} line {number}"
    ts_key = next((k for k in _TS_KEYS if row.get(k) not in (None, "")), None)
    if ts_key is None:
        raise InvalidInputError(f"{where}: no timestamp", "add a 'ts' column (ISO date or time)")
    try:
        parsed = pd.Timestamp(row[ts_key])
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or parsed is pd.NaT:
        raise InvalidInputError(
            f"{where}, column '{ts_key}': {row[ts_key]!r} is not a date", "use ISO 8601 dates"
        )
    ts = parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")
    out: dict[str, Any] = {"ts": ts.to_pydatetime()}
    for key in ("name", *(("kind",) if needs_kind else ())):
        value = str(row.get(key) or "").strip()
        if not value:
            raise InvalidInputError(f"{where}: column '{key}' is empty", f"give every row a {key}")
        out[key] = value
    out["source"] = str(row.get("source") or "").strip() or path.stem
    symbol = str(row.get("symbol") or "").strip().upper()
    out["symbol"] = symbol or None
    raw_value = row.get("value")
    if raw_value in (None, ""):
        out["value"] = None
    else:
        try:
            out["value"] = float(raw_value)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"{where}, column 'value': {raw_value!r} is not a number",
                "use a number or leave it empty",
            ) from None
        if not math.isfinite(out["value"]):
            raise InvalidInputError(f"{where}, column 'value': not finite", "use a finite number")
    payload = row.get("payload")
    if isinstance(payload, str) and payload.strip():
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError:
            raise InvalidInputError(
                f"{where}, column 'payload': not valid JSON", "write the payload as a JSON object"
            ) from None
    extra = {k: v for k, v in row.items() if k not in _KNOWN and v not in (None, "")}
    if extra:
        payload = {**(payload if isinstance(payload, dict) else {}), **extra}
    out["payload"] = payload or None
    return out


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
        raise InvalidInputError(f"{path.name} has no rows", "add at least one event")
    return market, symbol


def read_signals(path: Path) -> list[dict[str, Any]]:
    """Parse and validate every row of an external-signals file; every row needs a symbol."""
    records = []
    for number, row in _rows(path):
        record = _parse(path, number, row, needs_kind=False)
        if not record["symbol"]:
            raise InvalidInputError(
                f"{path.name} line {number}: no symbol", "add a 'symbol' column"
            )
        records.append(record)
    if not records:
        raise InvalidInputError(f"{path.name} has no rows", "add at least one signal")
    return records


__all__ = ["read_events", "read_signals"]
