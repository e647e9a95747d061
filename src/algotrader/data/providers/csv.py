"""Bars from a CSV file: most vendors' OHLCV exports load as they are.

The file holds one symbol's bars at one resolution (a ``symbol`` or ``ticker`` column, when
present, selects the requested symbol's rows). What is detected, case-insensitively:

* **Separator**: ``,`` ``;`` or tab (with ``;``, a decimal comma such as ``1,25`` is understood).
* **Columns**: time from ``datetime``, ``timestamp``, ``ts``, ``date``, ``time``, ``Gmt time`` or
  ``Local time`` (``date`` plus a separate ``time`` column are joined); ``open``/``o``,
  ``high``/``h``, ``low``/``l``, ``close``/``c``/``last``/``price`` (``Adj Close`` is used only
  when the file has no other close); ``volume``/``vol``/``v``. **Volume is optional**: a file
  without a volume column loads with volume 0 on every bar (some strategies and metrics then have
  nothing to work with, so prefer a file with volumes).
* **Time formats**: ISO dates and datetimes (``2024-01-31``, ``2024-01-31 15:30:00``,
  ``2024-01-31T15:30:00-05:00``, ``...Z``), ``MM/DD/YYYY [HH:MM[:SS]]``,
  ``DD.MM.YYYY HH:MM:SS.fff [GMT+0200]`` (Dukascopy), ``YYYYMMDD [HH:MM:SS]`` (IB),
  ``YYYY/MM/DD`` and ``YYYY.MM.DD``, and epoch seconds or milliseconds. A time without a zone is
  taken as UTC. For ``1d`` and ``1w`` bars only the calendar date as written counts (daily bars
  are keyed by the session date at 00:00 UTC, weekly bars by the Monday).

Every bad file is refused with one line naming the file, the line (the header is line 1) and the
column, e.g. ``prices.csv line 7, column 'close': 'abc' is not a number: ...``: a binary or
non-UTF-8 file, a date before 1678-01-01 (what algotrader can hold) or in the future (a day of
slack for times written without their zone), bars finer than the requested resolution or
plainly coarser (a daily file loaded with ``-r 1m``: the message names the right ``-r``).
Reading is vectorised: a million rows take a second or two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from algotrader.data.providers.base import (
    InstrumentInfo,
    WholeWindowProvider,
    as_resolution,
    as_utc,
    normalise_symbol,
)
from algotrader.data.validation import validate_bars
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.frames import INDEX_NAME
from algotrader.symbols import shorten
from algotrader.timeframes import EARLIEST, LATEST, RESOLUTIONS, Resolution

# Canonical field -> accepted header spellings (normalised: lower case, runs of non-alphanumerics
# as one space), in order of preference.
_TIME_NAMES = ("datetime", "date time", "timestamp", "ts", "gmt time", "local time", "date", "time")
_FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last", "price"),
    "volume": ("volume", "vol", "v"),
}
_ADJ_CLOSE_NAMES = ("adj close", "adjusted close", "adjclose")
_SYMBOL_NAMES = ("symbol", "ticker")
_EXPECTED = (
    "a time column (date, datetime, timestamp, ts, time, Gmt time, Local time), open, high, low, "
    "close (or last/price) and optionally volume"
)
_DATE_FORMATS_HELP = (
    "use ISO dates (2024-01-31 or 2024-01-31T15:30:00Z), MM/DD/YYYY, DD.MM.YYYY HH:MM:SS.fff, "
    "YYYYMMDD or epoch seconds/milliseconds"
)
_FIX_ROW = "fix or remove that row"
_DAY_NS = 86_400_000_000_000


def _normalise_header(name: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(name).lower()).split())


class CsvProvider(WholeWindowProvider):
    """Bars read from one CSV file (see the module docstring for what it understands).

    >>> provider = CsvProvider("prices.csv")
    >>> provider.label
    'CSV file prices.csv'
    """

    name = "csv"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.label = f"CSV file {self.path.name}"
        self._cache: dict[tuple[str, str], pd.DataFrame] = {}

    def describe(self, symbol: str) -> InstrumentInfo:
        """A stock row for ``symbol``; a CSV file says nothing more, so the rest is defaults."""
        symbol = normalise_symbol(symbol)
        # instruments.name holds 200 characters; a file name may be longer
        return InstrumentInfo(symbol=symbol, name=f"{symbol} (from {shorten(self.path.name, 150)})")

    def fetch_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime | pd.Timestamp | str,
        end: datetime | pd.Timestamp | str,
    ) -> pd.DataFrame:
        """The file's bars for ``symbol`` with ``start <= ts < end`` (the whole file is checked).

        Raises :class:`InvalidInputError` for a malformed file and :class:`DataNotFoundError` when
        the file has a symbol column without the requested symbol. The frame's
        ``attrs["outside_window"]`` counts the file's bars left out because they lie outside the
        window, and ``attrs["source_span"]`` is the first and last bar of the file, so that the
        caller can say what it left out.
        """
        symbol = normalise_symbol(symbol)
        res = as_resolution(resolution)
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        key = (symbol, res.name)
        if key not in self._cache:
            self._cache[key] = read_bars_csv(self.path, symbol, res)
        bars = self._cache[key]
        ts = bars.index
        window = bars.iloc[:0] if hi <= lo else bars.iloc[ts.searchsorted(lo) : ts.searchsorted(hi)]
        window = window.copy()
        window.attrs["outside_window"] = len(bars) - len(window)
        window.attrs["source_span"] = (ts[0].to_pydatetime(), ts[-1].to_pydatetime())
        return window


# ---------------------------------------------------------------------------------------------


def read_bars_csv(path: Path, symbol: str, resolution: Resolution) -> pd.DataFrame:
    """Read, detect, parse and validate ``path``: the whole file as a bar frame for ``symbol``."""
    name = path.name
    sep, decimal, headers = _sniff(path)
    layout = _detect_layout(name, headers)
    used = sorted({col for col in layout.values() if col is not None}, key=headers.index)
    raw = _read_table(path, sep, decimal, used, _numeric_cols(layout))
    raw, line_no = _without_blank_lines(raw, used)
    if len(raw) == 0:
        raise InvalidInputError(
            f"{name} has a header but no bars", "add one bar per line below the header (line 1)"
        )
    if (symbol_col := layout["symbol"]) is not None:
        mine = _rows_of_symbol(name, raw[symbol_col], symbol_col, symbol)
        raw, line_no = raw.loc[mine], line_no[mine]

    def where(i: int) -> str:
        return f"{name} line {int(line_no[i])}"

    stamps, time_label = _bar_times(name, raw, layout, where, resolution)
    data: dict[str, np.ndarray] = {}
    for field in ("open", "high", "low", "close", "volume"):
        column = layout[field]
        if column is None:  # only volume may be absent
            data[field] = np.zeros(len(raw))
            continue
        data[field] = _parse_numbers(raw[column], _at_column(where, column))

    frame = pd.DataFrame(data, index=pd.DatetimeIndex(stamps, name=INDEX_NAME))
    names: dict[str, str] = {INDEX_NAME: time_label}
    for field in _FIELD_NAMES:
        if (header := layout[field]) is not None:
            names[field] = header
    return validate_bars(frame, describe_row=where, column_names=names)


_HEAD_BYTES = 65536
_NOT_UTF8_FIX = "save it as UTF-8 text (e.g. `iconv -f latin1 -t utf-8 old.csv > new.csv`)"


def _sniff(path: Path) -> tuple[str, str, list[str]]:
    """The separator, decimal mark and header names, from the first 64 KiB of ``path``."""
    name = path.name
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise InvalidInputError(
            f"CSV file {shorten(str(path), 80, keep_end=True)!r} {what}",
            "check the path given with --csv",
        )
    try:
        with path.open("rb") as fh:
            head_bytes = fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {name} ({exc.strerror or exc})", "check the file's permissions"
        ) from None
    head = _decode_head(name, head_bytes)
    lines = re.split(r"\r\n|\r|\n", head)
    if not head.strip():
        raise InvalidInputError(
            f"{name} is empty", "give a CSV file with a header line and one bar per line"
        )
    header_line = lines[0]
    sep = max((",", ";", "\t"), key=header_line.count)
    if header_line.count(sep) == 0:
        raise InvalidInputError(
            f"{name} line 1: found a single column {shorten(header_line.strip())!r}",
            f"separate columns with , ; or tab; expected {_EXPECTED}",
        )
    # "1,25" in a ;-separated file is a decimal comma (European exports)
    sample = "\n".join(lines[1:20])
    decimal = "," if sep == ";" and re.search(r"\d,\d", sample) else "."
    headers = [h.strip().strip('"').strip() for h in header_line.split(sep)]
    return sep, decimal, headers


def _decode_head(name: str, head_bytes: bytes) -> str:
    """The start of the file as text; binary and non-UTF-8 files are refused by line."""
    if b"\x00" in head_bytes:
        raise InvalidInputError(
            f"{name} is not a text file (it holds binary data)", "give a CSV file of UTF-8 text"
        )
    try:
        return head_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if len(head_bytes) == _HEAD_BYTES and exc.start >= _HEAD_BYTES - 3:
            return head_bytes[: exc.start].decode("utf-8-sig")  # a character cut in two
        line = head_bytes[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{name} line {line} is not UTF-8 text (byte 0x{head_bytes[exc.start]:02x})",
            _NOT_UTF8_FIX,
        ) from None


def _read_table(
    path: Path, sep: str, decimal: str, used: list[str], numeric: set[str]
) -> pd.DataFrame:
    name = path.name
    try:
        # all columns are read (no usecols) so that a line with too many fields is an error
        raw = pd.read_csv(
            path,
            sep=sep,
            decimal=decimal,
            dtype={col: str for col in used if col not in numeric},
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except pd.errors.ParserError as exc:
        raise InvalidInputError(
            _parser_problem(name, str(exc)), "give every line as many fields as the header"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{name} is not UTF-8 text", _NOT_UTF8_FIX) from None
    except (pd.errors.EmptyDataError, ValueError, OverflowError) as exc:
        raise InvalidInputError(
            f"{name} could not be read ({shorten(' '.join(str(exc).split()), 80)})",
            "check that it is a CSV file",
        ) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [col for col in used if col not in raw.columns]
    if missing:  # a header the quick look at line 1 read differently (quotes, odd spacing)
        raise InvalidInputError(
            f"{name} line 1: cannot read the header (column {shorten(missing[0])!r})",
            "write the header as plain names separated by , ; or tab",
        )
    return raw


def _without_blank_lines(raw: pd.DataFrame, used: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The non-blank rows and their line numbers in the file (the header is line 1)."""
    line_no = np.arange(len(raw), dtype=np.int64) + 2
    # Blank lines are skipped but still counted. A blank line reads as "" in every column, which
    # also keeps every price column as text: if one of them parsed as numbers, there is none.
    if any(pd.api.types.is_numeric_dtype(raw[c].dtype) for c in used):
        return raw, line_no
    blank = np.ones(len(raw), dtype=bool)
    for col in used:
        blank &= (raw[col].isna() | (raw[col].astype(str).str.strip() == "")).to_numpy()
    return raw.loc[~blank], line_no[~blank]


def _rows_of_symbol(name: str, column: pd.Series, header: str, symbol: str) -> np.ndarray:
    """Which rows hold ``symbol`` (a file without it is refused naming what it has)."""
    symbols = column.astype(str).str.strip().str.upper()
    mine = (symbols == symbol).to_numpy()
    if not mine.any():
        present = sorted(set(symbols.unique()))
        shown = ", ".join(shorten(s, 20) for s in present[:10]) + (
            ", ..." if len(present) > 10 else ""
        )
        raise DataNotFoundError(
            f"{name} has no rows for symbol {symbol} (its {header!r} column has: {shown})",
            f"pass one of those with -s, or use a file holding {symbol}",
        )
    return mine


def _bar_times(
    name: str,
    raw: pd.DataFrame,
    layout: dict[str, str | None],
    where: Callable[[int], str],
    resolution: Resolution,
) -> tuple[np.ndarray, str]:
    """Each bar's UTC nanoseconds (daily and weekly: the date as written) and the time column's
    name as the user knows it."""
    time_col = layout["time"]
    clock_col = layout["time_of_day"]
    assert time_col is not None
    stamp_text = raw[time_col].astype(str)
    time_label = time_col
    if clock_col is not None:
        stamp_text = stamp_text.str.strip() + " " + raw[clock_col].astype(str).str.strip()
        time_label = f"{time_col}' + '{clock_col}"
    elif stamp_text.str.endswith(" ").any():
        stamp_text = stamp_text.str.strip()
    say_time = _at_column(where, time_label)
    stamps = _parse_times(stamp_text, say_time, date_only=False)
    _check_resolution(name, stamps, resolution)
    if not resolution.is_intraday:
        # daily and weekly bars are keyed by the calendar date as written
        stamps = _parse_times(stamp_text, say_time, date_only=True)
        if resolution.name == "1w":
            days = stamps // _DAY_NS
            stamps = stamps - ((days + 3) % 7) * _DAY_NS  # back to Monday
    return stamps, time_label


def _at_column(where: Callable[[int], str], column: str) -> Callable[[int], str]:
    def say(i: int) -> str:
        return f"{where(i)}, column {column!r}"

    return say


def _numeric_cols(layout: dict[str, str | None]) -> set[str]:
    return {col for field in _FIELD_NAMES if (col := layout[field]) is not None}


def _detect_layout(name: str, headers: list[str]) -> dict[str, str | None]:
    """Which header is which field; a missing required one is refused naming what was found."""
    by_norm: dict[str, str] = {}
    for header in headers:
        by_norm.setdefault(_normalise_header(header), header)

    def pick(candidates: tuple[str, ...]) -> str | None:
        return next((by_norm[c] for c in candidates if c in by_norm), None)

    layout: dict[str, str | None] = {f: pick(names) for f, names in _FIELD_NAMES.items()}
    if layout["close"] is None:
        layout["close"] = pick(_ADJ_CLOSE_NAMES)
    layout["symbol"] = pick(_SYMBOL_NAMES)
    layout["time"] = pick(_TIME_NAMES)
    layout["time_of_day"] = None
    if layout["time"] == by_norm.get("date") and "time" in by_norm:
        layout["time_of_day"] = by_norm["time"]

    missing = [f for f in ("time", "open", "high", "low", "close") if layout[f] is None]
    if missing:
        found = ", ".join(repr(h) for h in headers if h) or "none"
        raise InvalidInputError(
            f"{name} line 1: unknown column layout, no {' or '.join(missing)} column "
            f"(found {found})",
            f"name the columns {_EXPECTED}",
        )
    return layout


def _parser_problem(name: str, message: str) -> str:
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        expected, line, saw = match.groups()
        return f"{name} line {line}: {saw} fields where the header has {expected}"
    return f"{name} could not be parsed ({' '.join(message.split())})"


# ---------------------------------------------------------------------------------------------
# Times

_ZONE_RE = r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}|GMT[+-]\d{2}:?\d{2}))?"
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(\s*[AaPp][Mm])?(?P<zone>.*)$")


def _time_format(rest: str) -> str | None:
    """strptime suffix for the time part of the first value ("" when there is none)."""
    rest = rest.strip()
    if not rest:
        return ""
    match = _TIME_RE.match(rest)
    if not match:
        return None
    fmt = " %I:%M" if match.group(5) else " %H:%M"
    if match.group(3) is not None:
        fmt += ":%S"
    if match.group(4):
        fmt += ".%f"
    if match.group(5):
        fmt += " %p" if match.group(5).startswith(" ") else "%p"
    zone = match.group("zone").strip()
    if zone:
        fmt += " %z"
    return fmt


def _parse_times(text: pd.Series, say: Callable[[int], str], date_only: bool) -> np.ndarray:
    """UTC nanoseconds for each value; the first unparseable one is refused by line.

    ``say(i)`` names row ``i`` and the column (``"prices.csv line 7, column 'Date'"``). The
    format is detected from the first value and then required of all, so a stray other format
    is reported rather than guessed (``01/02/2024`` is January 2 in one file, never February 1).
    Dates algotrader cannot hold (before 1678) and bars that start in the future are refused.
    """
    values = text.reset_index(drop=True)
    first = values.iloc[0]
    if re.fullmatch(r"-?\d+(\.\d+)?", first) and not re.fullmatch(r"(19|20)\d{6}", first):
        parsed, unit = _parse_epoch(values, say)
    else:
        parsed, unit = _parse_dates(values, say, date_only), ""
    _check_range(values, parsed, say, unit)
    if date_only:
        parsed = parsed.dt.floor("D")
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8


def _parse_epoch(values: pd.Series, say: Callable[[int], str]) -> tuple[pd.Series, str]:
    """Epoch seconds or milliseconds as UTC times, and which of the two they were taken for."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    _refuse_nat(values, ~np.isfinite(numbers), say)
    # after 1973 in milliseconds is beyond 5138 in seconds: the magnitude tells them apart
    per_second = 1000.0 if float(np.abs(numbers).max()) > 1e11 else 1.0
    lo, hi = EARLIEST.timestamp() * per_second, LATEST.timestamp() * per_second
    # out of range values would overflow the conversion: _check_range names them
    inside = np.clip(numbers, lo, hi)
    parsed = pd.Series(pd.to_datetime(inside, unit="ms" if per_second > 1 else "s", utc=True))
    parsed[numbers < lo] = pd.Timestamp(EARLIEST) - pd.Timedelta(days=1)
    parsed[numbers > hi] = pd.Timestamp(LATEST)
    return parsed, f" (epoch {'milliseconds' if per_second > 1 else 'seconds'})"


def _parse_dates(values: pd.Series, say: Callable[[int], str], date_only: bool) -> pd.Series:
    # Zones written as "GMT+0200" / "UTC" become "+0200" / "+0000" for strptime's %z.
    if re.search(r"GMT|UTC", values.iloc[0]):
        values = values.str.replace(r"\s*(?:GMT|UTC)(?=[+-]\d)", " ", regex=True)
        values = values.str.replace(r"\s*(?:GMT|UTC)$", " +0000", regex=True)
    if date_only:
        # the calendar date as written; times and zones do not move a daily bar to another day
        values = values.str.split(r"[T ]", n=1, regex=True).str[0]
    first = values.iloc[0]
    if re.match(r"^\d{4}-\d{1,2}-\d{1,2}", first):
        parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")  # type: ignore[call-overload]
    else:
        fmt = _strptime_format(first)
        if fmt is None:
            _refuse_nat(values, np.ones(len(values), dtype=bool), say)
            raise AssertionError("unreachable")
        if "%Y%m%d" in fmt or "  " in first:
            values = values.str.replace(r"\s+", " ", regex=True)  # IB writes "20240102  09:30:00"
        parsed = pd.to_datetime(values, format=fmt, utc=True, errors="coerce")
    _refuse_nat(values, parsed.isna().to_numpy(), say)
    return parsed


def _strptime_format(first: str) -> str | None:
    """The strptime format of a non-ISO date (and time) such as ``01/31/2024 15:30``."""
    for pattern, date_fmt in (
        (r"^(\d{1,2}/\d{1,2}/\d{4})(.*)$", "%m/%d/%Y"),
        (r"^(\d{1,2}\.\d{1,2}\.\d{4})(.*)$", "%d.%m.%Y"),
        (r"^(\d{4}/\d{1,2}/\d{1,2})(.*)$", "%Y/%m/%d"),
        (r"^(\d{4}\.\d{1,2}\.\d{1,2})(.*)$", "%Y.%m.%d"),
        (r"^(\d{8})(.*)$", "%Y%m%d"),
    ):
        match = re.match(pattern, first)
        if match:
            suffix = _time_format(match.group(2))
            return None if suffix is None else date_fmt + suffix
    return None


def _check_range(
    values: pd.Series, parsed: pd.Series, say: Callable[[int], str], unit: str
) -> None:
    """Refuse the first bar dated before what algotrader can hold, or in the future (a day of
    slack: a time written without its zone is read as UTC)."""
    latest = min(pd.Timestamp.now(tz=UTC) + pd.Timedelta(days=1), pd.Timestamp(LATEST))
    early = (parsed < pd.Timestamp(EARLIEST)).to_numpy()
    late = (parsed > latest).to_numpy()
    bad = early | late
    if not bad.any():
        return
    i = int(bad.argmax())
    value = shorten(str(values.iloc[i]))
    if early[i]:
        problem = f"is before {EARLIEST:%Y-%m-%d}, the earliest date algotrader supports"
    else:
        problem = "is in the future"
    raise InvalidInputError(f"{say(i)}: {value!r}{unit} {problem}", _FIX_ROW)


def _refuse_nat(values: pd.Series, bad: np.ndarray, say: Callable[[int], str]) -> None:
    if not bad.any():
        return
    i = int(bad.argmax())
    value = str(values.iloc[i])
    where = say(i)
    if not value.strip():
        raise InvalidInputError(f"{where}: the date is empty", _FIX_ROW)
    raise InvalidInputError(f"{where}: {shorten(value)!r} is not a date", _DATE_FORMATS_HELP)


def _check_resolution(name: str, stamps: np.ndarray, resolution: Resolution) -> None:
    """Refuse a file whose bars are finer, or plainly coarser, than the resolution it is loaded
    as (a daily file loaded as 1-minute bars would make every indicator meaningless)."""
    steps = np.diff(np.sort(stamps))
    steps = steps[steps > 0] // 1_000_000_000  # duplicates are validate_bars' business
    if steps.size == 0:
        return
    step_s = int(steps.min())
    needed = resolution.seconds if resolution.is_intraday else 20 * 3600
    if resolution.name == "1w":
        needed = 6 * 86_400
    if step_s < needed:
        guess = next(
            (r.name for r in RESOLUTIONS.values() if r.seconds == step_s),
            f"a resolution of {step_s} seconds or finer",
        )
        raise InvalidInputError(
            f"{name} holds bars {_human(step_s)} apart, finer than the requested {resolution.name}",
            f"load it with -r {guess}" if guess in RESOLUTIONS else "resample the file first",
        )
    coarser = _coarser_resolution(steps, resolution)
    if coarser is not None:
        raise InvalidInputError(
            f"{name} holds bars {_human(coarser.seconds)} apart, coarser than the requested "
            f"{resolution.name}",
            f"load it with -r {coarser.name}",
        )


def _coarser_resolution(steps: np.ndarray, resolution: Resolution) -> Resolution | None:
    """The resolution of a file whose bars are never ``resolution`` apart, when it is clear:
    most bars one known bar size apart (a few bars cannot tell a sparse series from a coarse
    one, except that intraday bars are never a day apart)."""
    if resolution.name == "1w" or int(steps.min()) <= resolution.seconds:
        return None
    values, counts = np.unique(steps, return_counts=True)
    spacing = int(values[counts.argmax()])
    known = next((r for r in RESOLUTIONS.values() if r.seconds == spacing), None)
    if resolution.is_intraday and steps.min() >= 20 * 3600:
        return known if known is not None and steps.size >= 3 else RESOLUTIONS["1d"]
    if known is None or known.seconds <= resolution.seconds or steps.size < 3:
        return None
    return known


def _human(seconds: int) -> str:
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} day(s)"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# ---------------------------------------------------------------------------------------------
# Numbers


def _parse_numbers(series: pd.Series, describe: Callable[[int], str]) -> np.ndarray:
    """float64 values; the first non-number is refused naming its line and column."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    ):
        return series.to_numpy(dtype=np.float64)
    text = series.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    lower = text.str.lower()
    # "nan"/"inf" parse as numbers; they are refused here rather than passed on as NaN
    bad = np.isnan(numbers) | lower.isin(["nan", "-nan", "+nan"]).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        value = text.iloc[i]
        where = describe(i)
        if not value:
            raise InvalidInputError(
                f"{where}: the value is empty",
                "fill it in or remove the row (only the volume column may be left out, "
                "and then for the whole file)",
            )
        raise InvalidInputError(f"{where}: {shorten(value)!r} is not a number", _FIX_ROW)
    return numbers
