"""The ``on_bar`` engine: one Python call per bar, answers decoded a block at a time.

Per bar the loop refreshes only the row keys the strategy has read (as dict items, so its
``row["ma20"]`` is a C-level dict hit), calls ``on_bar`` and appends the answer to a list, which
is decoded into a ``bytearray`` of signals at the end of each block (:class:`BarCursor`).
Columns are converted to Python floats block by block, so memory stays bounded however long the
series. A strategy that only ever reads ``row["<constant>"]`` gets a plain dict of those keys
(CPython's fast paths skip dict subclasses); otherwise the row is a :class:`Row`, where a key
read for the first time is served by ``__missing__`` until the next block starts refreshing it.
A stored indicator column the frame lacks is computed on its first read. ``df`` is the history
up to the current bar, built only if touched and read-only; seed-style strategies that take a
``portfolio`` see the book the compiled kernel computes, brought up to date only when they look
at it.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest import _errors
from algotrader.backtest._argument_uses import constant_subscripts, never_read
from algotrader.backtest._simulation import Simulation
from algotrader.errors import InvalidInputError
from algotrader.frames import is_indicator_column

_DATE_NAMES = frozenset({"date", "dt", "ts", "time", "timestamp", "datetime", "bar_time"})
_INDEX_KEYS = frozenset({"ts", "date", "datetime", "timestamp", "time"})
_CODES: dict[Any, int] = {"BUY": 1, "SELL": 255, None: 0}
_FIRST_BLOCK = 1
_MAX_BLOCK = 1 << 16
_ANSWER_FIX = 'return "BUY", "SELL" or None'


class BarSource:
    """The frame the loop reads, with stored indicator columns added on first use."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.lower = {str(c).lower(): c for c in frame.columns}
        self.arrays: dict[Any, np.ndarray] = {}

    def resolve(self, key: Any) -> Any:
        """The frame column ``key`` names (exact, then case-insensitive, then computed)."""
        if key in self.frame.columns:
            return key
        if isinstance(key, str):
            found = self.lower.get(key.lower())
            if found is not None:
                return found
            if is_indicator_column(key.lower()):
                self._add_indicator(key.lower())
                return key.lower()
        raise _UnknownColumnError(key, list(self.frame.columns))

    def values(self, column: Any) -> np.ndarray:
        if column not in self.arrays:
            self.arrays[column] = self.frame[column].to_numpy()
        return self.arrays[column]

    def _add_indicator(self, column: str) -> None:
        from algotrader.backtest._bars import with_indicators

        self.frame = with_indicators(self.frame, (column,))
        self.lower = {str(c).lower(): c for c in self.frame.columns}


class Row(dict[str, Any]):
    """The current bar: a dict whose keys are the columns the strategy has read so far."""

    __slots__ = ("_new", "_source", "_view")

    def __init__(self, source: BarSource, view: HistoryView) -> None:
        super().__init__()
        self._source = source
        self._view = view
        self._new: list[tuple[Any, Any]] = []

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, str) and key.lower() in _INDEX_KEYS and not self._has_column(key):
            return self._source.frame.index[self._view._i]
        column = self._source.resolve(key)
        # Not stored in the dict: until the loop refreshes it per bar, every read comes here and
        # sees the current bar.
        if all(k != key for k, _ in self._new):
            self._new.append((key, column))
        value = self._source.values(column)[self._view._i]
        # As the loop's refreshed items are (tolist): numpy scalars as Python values.
        return value.item() if isinstance(value, np.generic) else value

    def _has_column(self, key: Any) -> bool:
        try:
            self._source.resolve(key)
        except _UnknownColumnError:
            return False
        return True

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        return (isinstance(key, str) and key.lower() in _INDEX_KEYS) or self._has_column(key)

    def get(self, key: Any, default: Any = None) -> Any:
        # Not dict.get: that would bypass __missing__ (case-insensitive, computed columns).
        return self[key] if key in self else default  # noqa: SIM401

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def keys(self) -> Any:
        return list(self._source.frame.columns)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._source.frame.columns))

    def __len__(self) -> int:
        return len(self._source.frame.columns)

    def values(self) -> Any:
        return [self[c] for c in self._source.frame.columns]

    def items(self) -> Any:
        return [(c, self[c]) for c in self._source.frame.columns]

    @property
    def name(self) -> pd.Timestamp:
        """The bar's timestamp (like ``pandas.Series.name`` in ``iterrows``)."""
        return self._source.frame.index[self._view._i]

    def __repr__(self) -> str:
        return f"Row({dict(self.items())!r})"


class _UnknownColumnError(InvalidInputError, KeyError):
    def __init__(self, key: Any, columns: list[Any]) -> None:
        names = [str(c) for c in columns]
        close = difflib.get_close_matches(str(key).lower(), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        super().__init__(f"the strategy reads unknown column {key!r}", f"{hint}columns: {names}")

    def __str__(self) -> str:
        return self.message


class _ReadOnlyError(InvalidInputError, TypeError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"the strategy assigned to {what}, which is read-only",
            "add derived columns in prepare(frame) or keep state on self",
        )

    def __str__(self) -> str:
        return self.message


class BarCursor:
    """The bar the loop is on and the answers not yet decoded.

    The loop appends each bar's answer once ``on_bar`` returns (one list append per bar, which
    also advances the bar: it is ``lo`` plus the answers pending); :meth:`flush` decodes them
    into ``codes`` in bulk, at the end of a block or when a portfolio needs the signals so far.
    """

    __slots__ = ("codes", "decode", "lo", "pending")

    def __init__(
        self, codes: bytearray, decode: Callable[[Any, int], int], start: int = 0
    ) -> None:
        self.codes = codes
        self.decode = decode
        self.lo = start
        self.pending: list[Any] = []

    @property
    def bar(self) -> int:
        """The bar being decided (its answer not yet appended)."""
        return self.lo + len(self.pending)

    def flush(self) -> None:
        """Decode the pending answers into ``codes``; an unusable one raises its error."""
        pending = self.pending
        lo = self.lo
        try:
            block = bytes(map(_CODES.__getitem__, pending))
        except Exception:  # an int, a lower-case word... or a bad answer (even unhashable)
            block = bytes(self._one(answer, lo + j) for j, answer in enumerate(pending))
        self.codes[lo : lo + len(block)] = block
        self.lo = lo + len(block)
        pending.clear()

    def _one(self, answer: Any, bar: int) -> int:
        try:
            return _CODES[answer]
        except Exception:
            return self.decode(answer, bar)


class HistoryView:
    """``df`` for ``on_bar``: the frame up to and including the current bar, built on first use.

    Any attribute or item access materialises ``frame.iloc[:i + 1]`` (cached for the bar), so a
    strategy can never see a later row; strategies that ignore ``df`` pay nothing. Assigning a
    column is refused (it would silently change nothing).
    """

    __slots__ = ("_cache", "_cache_i", "_cursor", "_source")

    def __init__(self, source: BarSource, cursor: BarCursor) -> None:
        self._source = source
        self._cursor = cursor
        self._cache: pd.DataFrame | None = None
        self._cache_i = -1

    @property
    def _i(self) -> int:
        return self._cursor.bar

    def _history(self) -> pd.DataFrame:
        i = self._i
        if self._cache_i != i or self._cache is None:
            self._cache = self._source.frame.iloc[: i + 1]
            self._cache_i = i
        return self._cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._history(), name)

    def __getitem__(self, key: Any) -> Any:
        history = self._history()
        if isinstance(key, str) and key not in history.columns:
            column = self._source.resolve(key)
            self._cache = None
            return self._history()[column]
        return history[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        raise _ReadOnlyError("df")

    def __len__(self) -> int:
        return self._i + 1

    def __iter__(self) -> Iterator[Any]:
        return iter(self._history())

    def __repr__(self) -> str:
        return repr(self._history())


class Portfolio:
    """What a seed-style ``on_bar(date, row, portfolio)`` sees: the book at the current bar.

    Attributes (read-only, computed by the backtest kernel when read):
        cash: cash after all fills so far.
        position: shares held, signed (negative when short).
        side: -1 short, 0 flat, +1 long.
    """

    __slots__ = ("_bar", "_book", "_close", "_sim", "_view")

    def __init__(self, sim: Simulation, view: HistoryView, close: np.ndarray) -> None:
        self._sim = sim
        self._view = view
        self._close = close
        self._bar = -1
        self._book: Any = None

    def _current(self) -> Any:
        i = self._view._i
        if self._bar != i:
            self._view._cursor.flush()
            self._sim.run_to(i)
            self._book = self._sim.peek(i)
            self._bar = i
        return self._book

    @property
    def cash(self) -> float:
        return float(self._current().cash)

    @property
    def side(self) -> int:
        return int(self._current().pos)

    @property
    def position(self) -> float:
        book = self._current()
        return float(book.pos * book.qty)

    @property
    def in_position(self) -> bool:
        """True while long or short."""
        return self.side != 0

    @property
    def equity(self) -> float:
        """Cash plus the position marked to the current bar's close."""
        book = self._current()
        return float(book.cash + book.pos * book.qty * self._close[self._view._i])

    def __repr__(self) -> str:
        return f"Portfolio(cash={self.cash:.2f}, position={self.position}, side={self.side})"


def call_form(strategy: Any) -> str:
    """How to call ``on_bar``: "i" (i, row, df), "date" (date, row, portfolio), "row_portfolio"
    or "row"."""
    try:
        params = list(inspect.signature(strategy.on_bar).parameters.values())
    except (TypeError, ValueError):
        return "i"
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name.lower() for p in params if p.kind in positional]
    if len(names) >= 3:
        if names[0] in _DATE_NAMES or "portfolio" in names[2]:
            return "date"
        return "i"
    if len(names) == 2:
        return "row_portfolio"
    if len(names) == 1:
        return "row"
    raise InvalidInputError(
        f"{type(strategy).__name__}.on_bar takes no bar argument", "use on_bar(self, i, row, df)"
    )


def decode_answer(answer: Any, bar: int, strategy: Any, frame: pd.DataFrame) -> int:
    """One answer as a signal code (+1, -1, 0); anything else is a one-line StrategyError."""
    if answer is None:
        return 0
    if isinstance(answer, str):
        text = answer.strip().upper()
        if text in ("BUY", "SELL"):
            return 1 if text == "BUY" else -1
        if text in ("", "HOLD", "NONE"):
            return 0
    elif (
        isinstance(answer, (int, np.integer))
        and not isinstance(answer, (bool, np.bool_))
        and int(answer) in (-1, 0, 1)
    ):
        return int(answer)
    raise _errors.bad_answer(strategy, "on_bar", answer, frame, bar, _ANSWER_FIX)


def on_bar_signals(
    strategy: Any, frame: pd.DataFrame, simulation: Callable[[np.ndarray], Simulation]
) -> tuple[np.ndarray, pd.DataFrame, Simulation | None]:
    """Run ``strategy.on_bar`` over ``frame``: ``(int8 signals, frame read, live simulation)``.

    ``simulation(signals)`` builds the kernel run that a portfolio-reading strategy watches
    (it reads the signal array as it fills); the frame returned includes any indicator column
    computed on demand.
    """
    n = len(frame)
    source = BarSource(frame)
    codes = bytearray(n)
    cursor = BarCursor(
        codes, lambda answer, bar: decode_answer(answer, bar, strategy, source.frame) & 0xFF
    )
    view = HistoryView(source, cursor)
    signals = np.frombuffer(codes, dtype=np.int8)
    form = call_form(strategy)
    tracked = _plain_row_columns(strategy.on_bar, form, source)
    row: dict[Any, Any] = Row(source, view) if tracked is None else {}
    sim = None
    extra: Any = view
    if form in ("date", "row_portfolio"):
        sim = simulation(signals)
        extra = Portfolio(sim, view, frame["close"].to_numpy(dtype=np.float64))
    try:
        _loop(strategy.on_bar, form, row, extra, source, cursor, tracked or [])
    except Exception as exc:
        bar = cursor.bar
        cursor.flush()  # an unusable answer on an earlier bar is the first error
        raise _errors.raised(strategy, exc, "on_bar", source.frame, bar) from exc
    return signals, source.frame, sim


def _loop(
    call: Any,
    form: str,
    row: dict[Any, Any],
    extra: Any,
    source: BarSource,
    cursor: BarCursor,
    tracked: list[tuple[Any, Any]],
) -> None:
    n = len(source.frame)
    new = row._new if isinstance(row, Row) else []
    # The bar's index or timestamp only for a strategy that reads it, else None: a timestamp
    # costs about a microsecond, an index a new int (without it the seed rule runs 10-15 % faster).
    first = form in ("i", "date") and not never_read(call, 0)
    lo, block = 0, _FIRST_BLOCK
    while lo < n:
        hi = min(n, lo + block)
        for key, column in new:
            if all(k != key for k, _ in tracked):
                tracked.append((key, column))
        new.clear()
        keys = tuple(k for k, _ in tracked)
        lists = [source.values(c)[lo:hi].tolist() for _, c in tracked]
        dates = list(source.frame.index[lo:hi]) if first and form == "date" else None
        loop = _compiled_loop(form, len(keys), first)
        loop(call, row, extra, cursor.pending, lo, hi, keys, lists, dates)
        cursor.flush()
        lo, block = hi, min(block * 8, _MAX_BLOCK)


def _plain_row_columns(
    on_bar: Any, form: str, source: BarSource
) -> list[tuple[Any, Any]] | None:
    """``(key, column)`` for each ``row["<constant>"]`` in ``on_bar`` when that is all it does
    with the row (then a plain dict of those keys serves it: CPython's fast paths for reading
    and storing dict items skip dict subclasses such as :class:`Row`, about a third of a bar's
    cost for the seed's MA rule), else None."""
    keys = constant_subscripts(on_bar, 1 if form in ("i", "date") else 0)
    if keys is None:
        return None
    try:
        return [(key, _plain_column(source, key)) for key in keys]
    except (_UnknownColumnError, KeyError):
        return None  # the Row raises it, on the bar that reads it


def _plain_column(source: BarSource, key: str) -> Any:
    # A column the key names without the Row's own meanings (the bar's timestamp).
    if key.lower() in _INDEX_KEYS and key not in source.frame.columns:
        raise KeyError(key)
    return source.resolve(key)


_CALLS = {
    "i": "on_bar({}, row, extra)",
    "date": "on_bar({}, row, extra)",
    "row_portfolio": "on_bar(row, extra)",
    "row": "on_bar(row)",
}
_LOOPS: dict[tuple[str, int, bool], Callable[..., None]] = {}


def _compiled_loop(form: str, width: int, first: bool) -> Callable[..., None]:
    """The per-bar loop for a call form, a number of refreshed row keys and whether the bar's
    index (form ``"i"``) or timestamp (``"date"``) is passed (else None is).

    Generated (once per shape) so the loop body has no inner loop over the keys: each refresh
    is one dict store, each answer one list append (:class:`BarCursor`), written as
    ``answers.append(...)`` because CPython specialises that form into an in-place append (a
    bound ``append`` passed in is a generic call: measured, about 4 % of the loop). This is the
    hot path of every ``on_bar`` backtest (see benchmarks/backtest.py).
    """
    shape = (form, width, first)
    if shape not in _LOOPS:
        iters = [f"lists[{j}]" for j in range(width)]
        targets = [f"v{j}" for j in range(width)]
        if first:
            iters.insert(0, "range(lo, hi)" if form == "i" else "dates")
            targets.insert(0, "first")
        if not iters:
            iters, targets = ["range(lo, hi)"], ["_"]
        # The keys as locals: a tuple index per key and bar is a measurable share of the loop.
        unpack = "".join(f"    k{j} = keys[{j}]\n" for j in range(width))
        sets = "".join(f"        row[k{j}] = v{j}\n" for j in range(width))
        header = f"for {targets[0]} in {iters[0]}:"
        if len(iters) > 1:
            header = f"for {', '.join(targets)} in zip({', '.join(iters)}, strict=True):"
        source = (
            "def loop(on_bar, row, extra, answers, lo, hi, keys, lists, dates):\n"
            f"{unpack}"
            f"    {header}\n"
            f"{sets}"
            f"        answers.append({_CALLS[form].format('first' if first else 'None')})\n"
        )
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<on_bar loop {form}/{width}>", "exec"), namespace)
        _LOOPS[shape] = namespace["loop"]
    return _LOOPS[shape]
