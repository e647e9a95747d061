"""The (bars x symbols) price matrix the portfolio engine runs on.

:func:`build_panel` aligns every symbol's bars on the union of all timestamps. A symbol that has no
bar at a timestamp (its exchange was closed, it was halted, it had not started or was delisted)
gets NaN there: nothing is ever filled in with a price it did not trade at. Memory is one float64
per bar and symbol for each of open, high, low, close and volume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.frames import OHLCV_COLUMNS

BarsInput = Mapping[str, pd.DataFrame] | pd.DataFrame
"""What :func:`build_panel` accepts: ``{symbol: bar frame}`` or a wide frame with (symbol, field)
or (field, symbol) column pairs."""


@dataclass(frozen=True, eq=False)
class Panel:
    """Aligned bars of several symbols; arrays are (bars, symbols), C order, read-only.

    Attributes:
        symbols: symbol names in column order (sorted).
        index: the union of all bar timestamps (UTC).
        open, high, low, close, volume: prices, NaN where the symbol has no bar.
        first: each symbol's first bar (``len(index)`` if it has none).
        last: each symbol's last bar, capped at the panel's last bar.
        live: which symbols are listed on the panel's last bar: started, and not delisted before
            it (a symbol whose data ended earlier, in the full panel, is delisted).
        frames: each symbol's own bar frame (its rows only, every column), for views.
    """

    symbols: tuple[str, ...]
    index: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    first: np.ndarray
    last: np.ndarray
    live: np.ndarray
    frames: Mapping[str, pd.DataFrame] = field(repr=False)

    @property
    def n_bars(self) -> int:
        return len(self.index)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @cached_property
    def prices(self) -> np.ndarray:
        """Close carried forward over missing bars (how holdings are valued); NaN before start."""
        return _ffill(self.close)

    def live_matrix(self) -> np.ndarray:
        """(bars, symbols) bool: listed on each bar (first <= t <= last; last = delisting)."""
        bars = np.arange(self.n_bars)[:, None]
        return (bars >= self.first[None, :]) & (bars <= self.last[None, :])

    def upto(self, t: int) -> Panel:
        """The panel as seen on bar ``t``'s close: rows ``0..t`` only (views, no copies)."""
        if not 0 <= t < self.n_bars:
            raise IndexError(t)
        stop = t + 1
        live = (self.first <= t) & (self.last >= t)
        view = Panel(
            symbols=self.symbols,
            index=self.index[:stop],
            open=self.open[:stop],
            high=self.high[:stop],
            low=self.low[:stop],
            close=self.close[:stop],
            volume=self.volume[:stop],
            first=np.minimum(self.first, stop),
            last=np.minimum(self.last, t),
            live=live,
            frames=_FramesUpTo(self.frames, self.index[t]),
        )
        # Carrying prices forward is causal, so the slice of the full array is the same thing.
        view.__dict__["prices"] = self.prices[:stop]
        return view

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 over each symbol's name and :func:`frame_fingerprint`, in symbol order.

        Per symbol it hashes the same bytes as the single-symbol run fingerprint (int64
        microsecond timestamps, then each OHLCV column as float64) of its own rows, so the same
        data gives the same fingerprint whatever other symbols share the run.
        """
        stamps = self.index.as_unit("us").asi8
        digest = hashlib.sha256()
        for j, symbol in enumerate(self.symbols):
            rows = np.flatnonzero(np.isfinite(self.close[:, j]))
            own = hashlib.sha256(np.ascontiguousarray(stamps[rows]).tobytes())
            for values in (self.open, self.high, self.low, self.close, self.volume):
                own.update(np.ascontiguousarray(values[rows, j]).tobytes())
            digest.update(symbol.encode() + b"\0")
            digest.update(own.hexdigest().encode())
        return digest.hexdigest()


class _FramesUpTo(Mapping[str, pd.DataFrame]):
    """Each symbol's frame cut at a timestamp, sliced on access (rows after it never show)."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], end: pd.Timestamp) -> None:
        self._frames = frames
        self._end = end

    def __getitem__(self, symbol: str) -> pd.DataFrame:
        frame = self._frames[symbol]
        stop = int(frame.index.searchsorted(self._end, side="right"))
        return frame.iloc[:stop]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of one frame's timestamps and OHLCV values (as the single-symbol runs store)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(pd.DatetimeIndex(frame.index).as_unit("us").asi8).tobytes())
    for column in OHLCV_COLUMNS:
        digest.update(np.ascontiguousarray(frame[column].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


def build_panel(bars: BarsInput) -> Panel:
    """Align ``bars`` (``{symbol: frame}`` or a wide frame) into a :class:`Panel`.

    Each frame needs a DatetimeIndex (naive timestamps are taken as UTC) and ``open``, ``high``,
    ``low``, ``close`` (``volume`` defaults to NaN). A row whose open or close is NaN is not a bar.
    Symbols are sorted, so the order of the mapping never changes a result.
    """
    frames = _split_wide(bars) if isinstance(bars, pd.DataFrame) else dict(bars)
    if not frames:
        raise InvalidInputError("no symbols to backtest", "pass at least one symbol's bars")
    symbols = tuple(sorted(str(s) for s in frames))
    clean = {str(s): _clean_frame(str(s), f) for s, f in frames.items()}
    index = _union_index([pd.DatetimeIndex(clean[s].index) for s in symbols])
    stamps = index.asi8
    t, n = len(index), len(symbols)
    arrays = {c: np.full((t, n), np.nan) for c in OHLCV_COLUMNS}
    first = np.full(n, t, np.int64)
    last = np.full(n, -1, np.int64)
    for j, symbol in enumerate(symbols):
        frame = clean[symbol]
        own = pd.DatetimeIndex(frame.index).asi8
        same = own.size == t and own[0] == stamps[0] and own[-1] == stamps[-1]
        rows = np.arange(t) if same else np.searchsorted(stamps, own)
        for column in OHLCV_COLUMNS:
            arrays[column][rows, j] = frame[column].to_numpy(np.float64)
        first[j], last[j] = rows[0], rows[-1]
    for values in arrays.values():
        values.flags.writeable = False
    return Panel(
        symbols=symbols,
        index=index,
        first=first,
        last=last,
        live=(first <= t - 1) & (last >= t - 1),
        frames={s: clean[s] for s in symbols},
        **arrays,
    )


def _split_wide(wide: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if not isinstance(wide.columns, pd.MultiIndex) or wide.columns.nlevels != 2:
        raise InvalidInputError(
            "a wide panel needs two column levels (symbol, field)",
            "pass {symbol: frame} or columns like ('AAPL', 'close')",
        )
    fields_level = 1 if "close" in wide.columns.get_level_values(1) else 0
    symbol_level = 1 - fields_level
    out = {}
    for symbol in wide.columns.get_level_values(symbol_level).unique():
        frame = wide.xs(symbol, axis=1, level=symbol_level)
        if isinstance(frame, pd.DataFrame):
            out[str(symbol)] = frame.dropna(subset=[c for c in ("open", "close") if c in frame])
    return out


def _clean_frame(symbol: str, frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"the bars of {symbol} are not a DataFrame", "pass bar frames")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InvalidInputError(
            f"the bars of {symbol} need a DatetimeIndex", "index them by UTC timestamp"
        )
    missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"the bars of {symbol} lack column(s) {', '.join(missing)}", "load OHLCV bars"
        )
    index = frame.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    index = index.as_unit("us")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise InvalidInputError(
            f"the bars of {symbol} are not sorted by unique timestamps", "sort and de-duplicate"
        )
    out = frame if index.equals(frame.index) and index.dtype == frame.index.dtype else (
        frame.set_axis(index, axis=0)
    )
    if "volume" not in out.columns:
        out = out.assign(volume=np.nan)
    open_ = out["open"].to_numpy(np.float64)
    close = out["close"].to_numpy(np.float64)
    is_bar = np.isfinite(open_) & np.isfinite(close)
    if not is_bar.all():
        out, open_, close = out[is_bar], open_[is_bar], close[is_bar]
    if len(out) == 0:
        raise InvalidInputError(f"no bars for {symbol}", "load its data or drop the symbol")
    if (open_ <= 0).any() or (close <= 0).any():
        raise InvalidInputError(f"non-positive prices in the bars of {symbol}", "clean the data")
    return out


def _union_index(indexes: list[pd.DatetimeIndex]) -> pd.DatetimeIndex:
    first = indexes[0]
    if all(ix.equals(first) for ix in indexes[1:]):
        return first.rename("ts")
    stamps = np.unique(np.concatenate([ix.asi8 for ix in indexes]))
    return pd.DatetimeIndex(stamps.view("M8[us]"), name="ts").tz_localize("UTC")


def _ffill(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64)
    valid = np.isfinite(out)
    rows = np.where(valid, np.arange(out.shape[0])[:, None], -1)
    np.maximum.accumulate(rows, axis=0, out=rows)
    cols = np.arange(out.shape[1])[None, :]
    filled = out[np.maximum(rows, 0), cols]
    filled[rows < 0] = np.nan
    filled.flags.writeable = False
    return filled
