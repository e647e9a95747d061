"""The backtest engine stepped one completed bar at a time: what live trading runs.

:class:`IncrementalDecider` holds one strategy on one symbol's bars and the book the backtest
kernel would hold. Each :meth:`IncrementalDecider.step` appends a completed bar, asks the strategy
for its signal on that bar's close (the same path and row contract as :func:`run_backtest`:
a built-in's compiled rule, ``signals(frame)`` when the backtest would vectorise,
``on_bar(i, row, df)`` otherwise) and, when
the signal changes the position, returns the :class:`Decision` to trade at the next bar's open,
sized by the backtest's own compiled order logic (:mod:`algotrader.backtest._orders`:
``decide`` then ``at_open``) from the same :class:`BacktestConfig`. So a session that fills its
orders at the next bar's open places the orders the backtest fills, bar for bar::

    decider = IncrementalDecider(MACross(fast=5, slow=20), BacktestConfig(), history)
    decision = decider.step(ts, o, h, l, c, v, next_open=o_next)
    if decision.delta:                      # shares to buy (+) or sell (-) at the next open
        send(decision)
        decider.commit(decision)            # the book now holds the position (or: reject)

Supported live: market entries and exits, every sizing mode, commissions, slippage, shorting,
whole shares. Stops, take-profits, trailing stops, limit entries and ``fill="close"`` are
backtest-only for now (they would need resting orders at the broker): refused on construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.backtest import _errors
from algotrader.backtest._bars import normalise_bars, with_indicators
from algotrader.backtest._hooks import (
    call_hook,
    choose_path,
    fused_rule,
    prepared,
    vectorized_signals,
)
from algotrader.backtest._on_bar import (
    BarCursor,
    BarSource,
    HistoryView,
    Portfolio,
    Row,
    call_form,
)
from algotrader.backtest._on_bar import decode_answer as _decode
from algotrader.backtest._orders import (
    NO_ORDER,
    Book,
    at_open,
    commission,
    decide,
    new_book,
    slipped,
)
from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.engine import _costs, signals_from_on_bar
from algotrader.errors import InvalidInputError
from algotrader.strategies._rules import rule_signals

_COLUMNS = ("open", "high", "low", "close", "volume")
_GROW = 1024


@dataclass(frozen=True, slots=True)
class Decision:
    """What the strategy decided on one bar's close.

    ``signal`` is +1 (BUY), -1 (SELL) or 0. ``delta`` is the signed number of shares to trade at
    the next bar's open (0: nothing to do); ``target`` the signed position after it. ``price``
    is the price the quantity was sized with (the next bar's open when known, else the close).
    ``book`` is the kernel's book after that fill, applied by :meth:`IncrementalDecider.commit`.
    """

    ts: datetime
    signal: int
    delta: float
    target: float
    price: float
    book: Book

    @property
    def side(self) -> Literal["BUY", "SELL"] | None:
        """``BUY``, ``SELL`` or None when nothing is traded."""
        if self.delta > 0:
            return "BUY"
        return "SELL" if self.delta < 0 else None


def check_live_config(config: BacktestConfig) -> None:
    """Refuse the settings live trading cannot honour yet (one line each)."""
    if config.fill != "open":
        raise InvalidInputError(
            "live trading fills at the next bar's open", "drop --fill close (backtest only)"
        )
    exits = {
        "--stop-loss": config.stop_loss,
        "--take-profit": config.take_profit,
        "--trailing-stop": config.trailing_stop,
        "--limit-entry": config.limit_entry,
    }
    used = [flag for flag, value in exits.items() if value is not None]
    if used:
        raise InvalidInputError(
            f"{', '.join(used)} is backtest-only for now (live orders are market orders)",
            "drop it, or backtest with it",
        )


def market_fill(
    config: BacktestConfig, side: int, quantity: float, price: float
) -> tuple[float, float]:
    """``(fill price, commission)`` of a market order of ``side`` (+1 buy, -1 sell) for
    ``quantity`` shares at ``price``, as the backtest charges it: slippage against the order,
    then per-share plus basis-point commission with the minimum (the kernel's own function)."""
    filled = float(slipped(price, side, _costs(config, 0.0)))
    fee = commission(
        quantity, filled, config.commission_per_share, config.commission_bps, config.commission_min
    )
    return filled, float(fee)


def book_to_json(book: Book) -> list[float | int | None]:
    """The book as JSON-safe values (NaN as None), for the trading state tables."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in book]


def book_from_json(values: list[Any]) -> Book:
    """Inverse of :func:`book_to_json`."""
    kinds = (float, float, int, int, *([float] * 5), int, float, int, float)
    return Book._make(
        math.nan if v is None else kind(v) for v, kind in zip(values, kinds, strict=True)
    )


class _BookView:
    """What :class:`Portfolio` reads for seed-style strategies: the decider's current book."""

    def __init__(self, decider: IncrementalDecider) -> None:
        self._decider = decider

    def run_to(self, end: int) -> None:
        """Nothing to simulate: the decider's book is already at the current bar."""

    def peek(self, bar: int) -> Book:
        return self._decider.book


class IncrementalDecider:
    """One strategy on one symbol, one completed bar at a time (see the module docstring).

    Args:
        strategy: the strategy instance (registry or user), the same object a backtest runs.
        config: sizing and costs (:class:`BacktestConfig`); checked by
            :func:`check_live_config`.
        history: bars already seen (OHLCV frame, UTC index), oldest first; the strategy is
            warmed up on them (``start`` and, on the ``on_bar`` path, one call per bar) without
            trading. Pass the same history after a restart to get the same signals.
        book: the book to continue from (after a restart); default a flat book with
            ``config.cash``.
    """

    def __init__(
        self,
        strategy: Any,
        config: BacktestConfig,
        history: pd.DataFrame | None = None,
        book: Book | None = None,
    ) -> None:
        check_live_config(config)
        self.strategy = strategy
        self.config = config
        self.book: Book = book if book is not None else new_book(float(config.cash))
        self._costs = _costs(config, 0.0)
        self._vectorized = choose_path(strategy, "auto")
        # A built-in's compiled rule on raw prices (ma_cross, streak): what the backtest runs
        # for it (the fused path), cheaper than prepare + signals. Rules on indicators use
        # signals(), which agrees with them bar for bar (the strategies' parity tests).
        rule = fused_rule(strategy) if self._vectorized else None
        raw = rule is not None and all(c in _COLUMNS for c in rule.inputs)
        self._rule = rule if raw else None
        self._form = "i" if self._vectorized else call_form(strategy)
        self._index: list[pd.Timestamp] = []
        self._values = np.empty((_GROW, len(_COLUMNS)), np.float64)
        self._warm_up(history)

    @property
    def bars(self) -> int:
        """How many bars the decider has seen (history included)."""
        return len(self._index)

    @property
    def position(self) -> float:
        """The signed position of the book (shares)."""
        return float(self.book.pos * self.book.qty)

    def frame(self) -> pd.DataFrame:
        """The bars seen so far (OHLCV, UTC index named ``ts``)."""
        n = len(self._index)
        index = pd.DatetimeIndex(self._index, name="ts")
        return pd.DataFrame(self._values[:n], index=index, columns=list(_COLUMNS), copy=True)

    def _warm_up(self, history: pd.DataFrame | None) -> None:
        if history is not None and len(history):
            bars = normalise_bars(history)
            for ts, row in zip(bars.index, bars[list(_COLUMNS)].to_numpy(np.float64), strict=True):
                self._append(ts, row)
        self._load_compiled_code()
        if self._rule is not None:
            return  # the backtest's fused path calls no hook
        if self._vectorized or not self._index:
            call_hook(self.strategy, "start", self.frame())
            return
        # on_bar strategies keep state on self: replay the history through them, as the
        # backtest would have, so the first live bar sees the same state.
        signals_from_on_bar(self.strategy, prepared(self.strategy, self.frame()))

    def _load_compiled_code(self) -> None:
        # numba compiles (or loads from its cache) on a function's first call: make those calls
        # now, with the live calls' types, so that the first live order is not late by seconds.
        probe = decide(self.book, 1, self._costs.allow_short)
        at_open(probe, 1.0, 1.0, math.nan, self._costs)
        if self._rule is not None and self._index:
            self._signal()  # the compiled rule; pure, unlike an on_bar strategy's hook

    def _append(self, ts: Any, values: Any) -> None:
        stamp = pd.Timestamp(ts)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        if self._index and stamp <= self._index[-1]:
            raise InvalidInputError(
                f"bar {stamp.isoformat()} is not after the last bar {self._index[-1].isoformat()}",
                "feed completed bars in time order, each once",
            )
        n = len(self._index)
        if n == self._values.shape[0]:
            self._values = np.concatenate([self._values, np.empty_like(self._values)])
        self._values[n] = values
        self._index.append(stamp)

    def step(
        self,
        ts: datetime,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        *,
        next_open: float | None = None,
    ) -> Decision:
        """Append the completed bar ``ts`` and decide on its close (the book is not changed:
        :meth:`commit` the decision once its order is accepted)."""
        self._append(ts, (open_, high, low, close, volume))
        signal = self._signal()
        price = close if next_open is None or not next_open > 0 else float(next_open)
        decided = decide(self.book, signal, self._costs.allow_short)
        if decided.order == NO_ORDER:
            return Decision(self._index[-1].to_pydatetime(), signal, 0.0, self.position, price,
                            self.book)  # fmt: skip
        after, _, _ = at_open(decided, price, close, self._atr(), self._costs)
        after = Book(*after)
        target = float(after.pos * after.qty)
        return Decision(
            self._index[-1].to_pydatetime(), signal, target - self.position, target, price, after
        )

    def commit(self, decision: Decision) -> None:
        """The decision's order was accepted: the book moves to the position it trades to."""
        self.book = decision.book

    def _atr(self) -> float:
        if not self.config.uses_atr:
            return math.nan
        from algotrader.indicators import atr as wilder_atr

        n = len(self._index)
        high, low, close = (self._values[:n, j] for j in (1, 2, 3))
        return float(wilder_atr(high, low, close, self.config.atr_period)[-1])

    def _signal(self) -> int:
        if self._rule is not None:
            bars = with_indicators(self.frame(), self._rule.inputs)
            return int(rule_signals(self._rule, bars)[-1])
        frame = prepared(self.strategy, self.frame())
        if self._vectorized:
            return int(vectorized_signals(self.strategy, frame)[-1])
        i = len(frame) - 1
        source = BarSource(frame)
        # One decision, decoded below: the cursor stands on bar i with nothing to decode.
        view = HistoryView(source, BarCursor(bytearray(), lambda answer, bar: 0, start=i))
        row = Row(source, view)
        try:
            answer = self._call(row, view, source, i)
        except Exception as exc:
            raise _errors.raised(self.strategy, exc, "on_bar", source.frame, i) from exc
        return _decode(answer, i, self.strategy, source.frame)

    def _call(self, row: Row, view: HistoryView, source: BarSource, i: int) -> Any:
        on_bar = self.strategy.on_bar
        if self._form == "i":
            return on_bar(i, row, view)
        if self._form == "row":
            return on_bar(row)
        close = source.frame["close"].to_numpy(dtype=np.float64)
        portfolio = Portfolio(_BookView(self), view, close)  # type: ignore[arg-type]
        if self._form == "date":
            return on_bar(source.frame.index[i], row, portfolio)
        return on_bar(row, portfolio)
