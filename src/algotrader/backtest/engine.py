"""The in-memory backtest engine: frame + strategy + settings -> :class:`Result`.

Two execution paths share one accounting kernel (:mod:`algotrader.backtest._kernel`):

* **on_bar** (the reference): calls ``strategy.on_bar`` once per bar in Python and collects its
  answers into a signal array. Per-bar overhead is kept to a dict refresh of the columns the
  strategy actually reads; ``df`` is materialised only if touched.
* **vectorized**: one call to ``strategy.signals(frame)``.

Both hand the int8 signal array (+1 BUY, -1 SELL, 0 none) to the numba kernel, which applies the
fill rule, costs and sizing; so for a strategy whose ``signals`` agrees with its ``on_bar`` the two
paths give identical trades to the last bit. Strategies that read the ``portfolio`` (the seed form
``on_bar(date, row, portfolio)``) get a live :class:`Portfolio` updated by the same kernel
functions bar by bar.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.backtest import _kernel
from algotrader.backtest.metrics import compute_metrics
from algotrader.backtest.result import TRADE_COLUMNS, BacktestConfig, Result
from algotrader.errors import InvalidInputError
from algotrader.strategies.base import first_valid_bar
from algotrader.strategies.registry import strategy_name, strategy_params
from algotrader.timeframes import RESOLUTIONS, Resolution, parse_resolution

ExecutionPath = Literal["auto", "on_bar", "vectorized"]

_DATE_NAMES = frozenset({"date", "dt", "ts", "time", "timestamp", "datetime", "bar_time"})
_INDEX_KEYS = frozenset({"ts", "date", "datetime", "timestamp", "time"})


def run_backtest(
    frame: pd.DataFrame,
    strategy: Any,
    config: BacktestConfig | None = None,
    *,
    path: ExecutionPath = "auto",
    resolution: str | Resolution | None = None,
) -> Result:
    """Backtest ``strategy`` over ``frame`` (OHLCV plus whatever columns the strategy reads).

    Args:
        frame: bars indexed by a UTC ``DatetimeIndex``; needs ``open`` and ``close``.
        strategy: a strategy instance (a :class:`~algotrader.strategies.Strategy` or any object with
            ``on_bar``/``signals``).
        config: execution settings; defaults to :class:`BacktestConfig()`.
        path: ``"vectorized"`` uses ``strategy.signals``, ``"on_bar"`` the per-bar loop, ``"auto"``
            the vectorised one when the strategy's most derived hook is ``signals``.
        resolution: bar size for annualising metrics; inferred from the index spacing if omitted.
    """
    cfg = config or BacktestConfig()
    _check_frame(frame)
    if callable(getattr(strategy, "start", None)):
        strategy.start()
    if callable(getattr(strategy, "prepare", None)):
        frame = strategy.prepare(frame)
        _check_frame(frame)
    res = _resolution(pd.DatetimeIndex(frame.index), resolution)
    use_fast = _choose_path(strategy, path)
    if use_fast:
        signals = _vectorized_signals(strategy, frame)
    else:
        signals = _on_bar_signals(strategy, frame, cfg)
    return _build_result(frame, strategy, cfg, signals, res)


def signals_from_on_bar(strategy: Any, frame: pd.DataFrame) -> np.ndarray:
    """The int8 signal array ``strategy.on_bar`` produces over ``frame`` (already prepared)."""
    if callable(getattr(strategy, "start", None)):
        strategy.start()
    return _on_bar_signals(strategy, frame, BacktestConfig())


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError("the bars must be a pandas DataFrame", "pass a bar frame")
    missing = [c for c in ("open", "close") if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"the bars lack column(s) {', '.join(missing)}", "load OHLCV bars first"
        )
    if len(frame) == 0:
        raise InvalidInputError("no bars to backtest", "load a longer period")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InvalidInputError("the bars need a DatetimeIndex", "index them by UTC timestamp")


def _resolution(index: pd.DatetimeIndex, given: str | Resolution | None) -> Resolution:
    if given is not None:
        return given if isinstance(given, Resolution) else parse_resolution(given)
    if len(index) < 2:
        return RESOLUTIONS["1d"]
    # The first 10k spacings are plenty and keep this O(1) for million-bar frames.
    head = index[: 10_001].as_unit("ns").asi8
    step = float(np.median(np.diff(head))) / 1e9
    # Nearest bar size on a log scale: daily bars with weekends still have a median of one day.
    return min(RESOLUTIONS.values(), key=lambda r: abs(math.log(max(step, 1.0) / r.seconds)))


def _defining_class(cls: type, attr: str) -> type | None:
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass
    return None


def _choose_path(strategy: Any, path: ExecutionPath) -> bool:
    has_signals = callable(getattr(strategy, "signals", None))
    has_on_bar = callable(getattr(strategy, "on_bar", None))
    if path == "vectorized":
        if not has_signals:
            raise InvalidInputError(
                f"{type(strategy).__name__} has no signals(frame) method",
                "use the on_bar path or add a vectorised signals method",
            )
        return True
    if path == "on_bar":
        if not has_on_bar:
            raise InvalidInputError(f"{type(strategy).__name__} has no on_bar method")
        return False
    if path != "auto":
        raise InvalidInputError(f"invalid path {path!r}", 'use "auto", "on_bar" or "vectorized"')
    if not has_signals:
        return False
    # A subclass that overrides on_bar but inherits signals must run its own on_bar.
    mro = type(strategy).__mro__
    sig_cls = _defining_class(type(strategy), "signals")
    bar_cls = _defining_class(type(strategy), "on_bar")
    if bar_cls is None or sig_cls is None or bar_cls.__module__ == "algotrader.strategies.base":
        return True
    return mro.index(sig_cls) <= mro.index(bar_cls)


def _vectorized_signals(strategy: Any, frame: pd.DataFrame) -> np.ndarray:
    raw = np.asarray(strategy.signals(frame))
    if raw.shape != (len(frame),):
        raise InvalidInputError(
            f"{type(strategy).__name__}.signals returned shape {raw.shape}",
            f"return one value per bar ({len(frame)})",
        )
    if raw.dtype != np.int8:
        if not np.all(np.isin(raw, (-1, 0, 1))):
            raise InvalidInputError(
                f"{type(strategy).__name__}.signals returned values other than -1, 0, 1"
            )
        raw = raw.astype(np.int8)
    return raw


# --------------------------------------------------------------------------- on_bar path


class _Row(dict[str, Any]):
    """The current bar, as a dict whose keys are filled in on first use.

    Reading ``row["MA20"]`` the first time resolves the name case-insensitively, converts that
    column to a Python list once and registers the key, so the engine refreshes just that key
    every bar and later lookups are plain (C-speed) dict hits.
    """

    __slots__ = ("_columns", "_frame", "_lower", "_tracked", "_view")

    def __init__(self, frame: pd.DataFrame, view: _HistoryView) -> None:
        super().__init__()
        self._frame = frame
        self._view = view
        self._lower = {str(c).lower(): c for c in frame.columns}
        self._columns: dict[Any, list[Any]] = {}
        self._tracked: list[tuple[Any, list[Any]]] = []

    def __missing__(self, key: Any) -> Any:
        values = self._values_for(key)
        self._tracked.append((key, values))
        value = values[self._view._i]
        dict.__setitem__(self, key, value)
        return value

    def _values_for(self, key: Any) -> list[Any]:
        col = key if key in self._frame.columns else None
        if col is None and isinstance(key, str):
            col = self._lower.get(key.lower())
        if col is None:
            if isinstance(key, str) and key.lower() in _INDEX_KEYS:
                return list(self._frame.index)
            raise _UnknownColumnError(key, list(self._frame.columns))
        if col not in self._columns:
            self._columns[col] = self._frame[col].tolist()
        return self._columns[col]

    def _has(self, key: Any) -> bool:
        if dict.__contains__(self, key) or key in self._frame.columns:
            return True
        return isinstance(key, str) and (
            key.lower() in self._lower or key.lower() in _INDEX_KEYS
        )

    def __contains__(self, key: object) -> bool:
        return self._has(key)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if self._has(key) else default

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def keys(self) -> Any:
        return list(self._frame.columns)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._frame.columns))

    def __len__(self) -> int:
        return len(self._frame.columns)

    def values(self) -> Any:
        return [self[c] for c in self._frame.columns]

    def items(self) -> Any:
        return [(c, self[c]) for c in self._frame.columns]

    @property
    def name(self) -> pd.Timestamp:
        """The bar's timestamp (like ``pandas.Series.name`` in ``iterrows``)."""
        return self._frame.index[self._view._i]

    def __repr__(self) -> str:
        return f"Row({dict(self.items())!r})"


class _UnknownColumnError(InvalidInputError, KeyError):
    def __init__(self, key: Any, columns: list[Any]) -> None:
        import difflib

        names = [str(c) for c in columns]
        close = difflib.get_close_matches(str(key).lower(), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        super().__init__(f"the strategy reads unknown column {key!r}", f"{hint}columns: {names}")

    def __str__(self) -> str:
        return self.message


class _HistoryView:
    """``df`` for ``on_bar``: the frame up to and including the current bar, built on first use.

    Any attribute or item access materialises ``frame.iloc[:i + 1]`` (cached for the bar), so a
    strategy can never see a later row; strategies that ignore ``df`` pay nothing.
    """

    __slots__ = ("_cache", "_cache_i", "_frame", "_i")

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._i = 0
        self._cache: pd.DataFrame | None = None
        self._cache_i = -1

    def _history(self) -> pd.DataFrame:
        if self._cache_i != self._i or self._cache is None:
            self._cache = self._frame.iloc[: self._i + 1]
            self._cache_i = self._i
        return self._cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._history(), name)

    def __getitem__(self, key: Any) -> Any:
        return self._history()[key]

    def __len__(self) -> int:
        return self._i + 1

    def __iter__(self) -> Iterator[Any]:
        return iter(self._history())

    def __repr__(self) -> str:
        return repr(self._history())


class Portfolio:
    """What a seed-style ``on_bar(date, row, portfolio)`` sees: the book at the current bar.

    Attributes:
        cash: cash after all fills so far.
        position: shares held, signed (negative when short).
        side: -1 short, 0 flat, +1 long.
    """

    __slots__ = ("_close", "_i", "cash", "position", "side")

    def __init__(self, cash: float, close: np.ndarray) -> None:
        self.cash = cash
        self.position = 0.0
        self.side = 0
        self._close = close
        self._i = 0

    @property
    def in_position(self) -> bool:
        """True while long or short."""
        return self.side != 0

    @property
    def equity(self) -> float:
        """Cash plus the position marked to the current bar's close."""
        return float(self.cash + self.position * self._close[self._i])

    def __repr__(self) -> str:
        return f"Portfolio(cash={self.cash:.2f}, position={self.position}, side={self.side})"


def _call_form(strategy: Any) -> str:
    """How to call ``on_bar``: "i" (i, row, df), "date" (date, row, portfolio), "row_portfolio",
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


def _on_bar_signals(strategy: Any, frame: pd.DataFrame, cfg: BacktestConfig) -> np.ndarray:
    n = len(frame)
    view = _HistoryView(frame)
    row = _Row(frame, view)
    tracked = row._tracked
    put = row.__setitem__
    on_bar = strategy.on_bar
    out: list[Any] = [None] * n
    form = _call_form(strategy)
    if form == "i":
        # The hot loop: keep it this small (see benchmarks/backtest.py).
        for i in range(n):
            for key, values in tracked:
                put(key, values[i])
            view._i = i
            out[i] = on_bar(i, row, view)
        return _decode(out, strategy)
    if form == "row":
        for i in range(n):
            for key, values in tracked:
                put(key, values[i])
            view._i = i
            out[i] = on_bar(row)
        return _decode(out, strategy)
    return _portfolio_loop(strategy, frame, cfg, row, view, form)


def _portfolio_loop(
    strategy: Any,
    frame: pd.DataFrame,
    cfg: BacktestConfig,
    row: _Row,
    view: _HistoryView,
    form: str,
) -> np.ndarray:
    n = len(frame)
    open_ = frame["open"].to_numpy(dtype=np.float64)
    close = frame["close"].to_numpy(dtype=np.float64)
    book = Portfolio(cfg.cash, close)
    costs = (cfg.whole_shares, cfg.commission_per_share, cfg.commission_bps,
             cfg.commission_min, cfg.slippage_bps)
    at_close = cfg.fill == "close"
    codes = np.zeros(n, np.int8)
    tracked = row._tracked
    put = row.__setitem__
    on_bar = strategy.on_bar
    qty = 0.0

    def fill(code: int, price: float) -> None:
        nonlocal qty
        target = _kernel.target_of(code, cfg.allow_short, book.side)
        if target != book.side:
            cash, qty, side, *_ = _kernel.rebalance(
                book.cash, qty, book.side, target, price, *costs
            )
            book.cash, book.side, book.position = cash, side, side * qty

    for i, date in enumerate(frame.index):
        if not at_close and i > 0 and codes[i - 1] != 0:
            fill(int(codes[i - 1]), float(open_[i]))
        for key, values in tracked:
            put(key, values[i])
        view._i = i
        book._i = i
        answer = on_bar(date, row, book) if form == "date" else on_bar(row, book)
        code = _decode_one(answer, i, strategy)
        codes[i] = code
        if at_close and code != 0:
            fill(code, float(close[i]))
    return codes


def _decode(answers: list[Any], strategy: Any) -> np.ndarray:
    arr = np.array(answers, dtype=object)
    buy = arr == "BUY"
    sell = arr == "SELL"
    codes = buy.astype(np.int8) - sell.astype(np.int8)
    unusual = np.flatnonzero(~(buy | sell | (arr == np.array(None))))
    for i in unusual:
        codes[i] = _decode_one(arr[i], int(i), strategy)
    return codes


def _decode_one(answer: Any, i: int, strategy: Any) -> int:
    if answer is None:
        return 0
    if isinstance(answer, str):
        text = answer.strip().upper()
        if text == "BUY":
            return 1
        if text == "SELL":
            return -1
        if text in ("", "HOLD", "NONE"):
            return 0
    elif isinstance(answer, (int, np.integer)) and int(answer) in (-1, 0, 1):
        return int(answer)
    raise InvalidInputError(
        f"{type(strategy).__name__}.on_bar returned {answer!r} on bar {i}",
        'return "BUY", "SELL" or None',
    )


# --------------------------------------------------------------------------- results


def _build_result(
    frame: pd.DataFrame,
    strategy: Any,
    cfg: BacktestConfig,
    signals: np.ndarray,
    res: Resolution,
) -> Result:
    index = pd.DatetimeIndex(frame.index)
    open_ = frame["open"].to_numpy(dtype=np.float64)
    close = frame["close"].to_numpy(dtype=np.float64)
    equity, position, f_bar, f_side, f_price, f_qty, f_comm = _kernel.simulate(
        open_, close, signals, cfg.fill == "close", cfg.allow_short, cfg.whole_shares,
        float(cfg.cash), cfg.commission_per_share, cfg.commission_bps, cfg.commission_min,
        cfg.slippage_bps,
    )
    fills = pd.DataFrame(
        {
            "ts": index[f_bar],
            "action": np.where(f_side > 0, "BUY", "SELL"),
            "price": f_price,
            "quantity": f_qty,
            "commission": f_comm,
        }
    )
    trades = _trades(index, close, f_bar, f_side, f_price, f_qty, f_comm)
    buy_hold = _buy_hold(strategy, frame, open_, close, cfg)
    metrics = compute_metrics(
        index, equity, buy_hold, position, trades["pnl"].to_numpy(),
        cash=cfg.cash, resolution=res, risk_free_rate=cfg.risk_free_rate,
    )
    # copy=False: the kernel's arrays are fresh and owned by the Result (pandas 3 copies).
    return Result(
        strategy=strategy_name(strategy),
        params=strategy_params(strategy),
        config=cfg,
        resolution=res.name,
        trades=trades,
        fills=fills,
        equity=pd.Series(equity, index=index, name="equity", copy=False),
        buy_hold=pd.Series(buy_hold, index=index, name="buy_hold", copy=False),
        position=pd.Series(position, index=index, name="position", copy=False),
        metrics=metrics,
    )


def _trades(
    index: pd.DatetimeIndex,
    close: np.ndarray,
    f_bar: np.ndarray,
    f_side: np.ndarray,
    f_price: np.ndarray,
    f_qty: np.ndarray,
    f_comm: np.ndarray,
) -> pd.DataFrame:
    # The book always passes through flat, so fills alternate entry, exit, entry, exit, ...
    entries = slice(0, None, 2)
    exits = slice(1, None, 2)
    n_open = f_bar.size - 2 * (f_bar.size // 2)
    side = f_side[entries].astype(np.int64)
    qty = f_qty[entries]
    entry_px = f_price[entries]
    exit_bar = np.append(f_bar[exits], [len(index) - 1] * n_open).astype(np.int64)
    exit_px = np.append(f_price[exits], close[-1:] if n_open else [])
    commission = f_comm[entries] + np.append(f_comm[exits], [0.0] * n_open)
    pnl = side * qty * (exit_px - entry_px) - commission
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = pnl / (qty * entry_px) * 100.0
    is_open = np.zeros(side.size, dtype=bool)
    is_open[side.size - n_open :] = True
    trades = pd.DataFrame(
        {
            "entry_time": index[f_bar[entries]],
            "exit_time": index[exit_bar],
            "side": np.where(side > 0, "long", "short"),
            "quantity": qty,
            "entry_price": entry_px,
            "exit_price": exit_px,
            "pnl": pnl,
            "return_pct": ret,
            "commission": commission,
            "open": is_open,
        }
    )
    return trades[list(TRADE_COLUMNS)]


def _buy_hold(
    strategy: Any, frame: pd.DataFrame, open_: np.ndarray, close: np.ndarray, cfg: BacktestConfig
) -> np.ndarray:
    n = close.size
    warmup = strategy.warmup_bars(frame) if callable(getattr(strategy, "warmup_bars", None)) else 0
    if not isinstance(warmup, (int, np.integer)):
        warmup = first_valid_bar(frame, ())
    bar = int(warmup) if cfg.fill == "close" else int(warmup) + 1
    out = np.full(n, float(cfg.cash))
    if bar < n:
        price = close[bar] if cfg.fill == "close" else open_[bar]
        out[bar:] = cfg.cash / price * close[bar:]
    return out
