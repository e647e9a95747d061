"""A resumable simulation over fixed arrays: the Python side of :func:`_kernel.run`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from algotrader.backtest import _kernel
from algotrader.backtest._orders import Book, Costs
from algotrader.strategies._rules import read_only


@dataclass(eq=False)
class Curves:
    """The equity and position curves of a run, drawn from the fills' books when first read.

    The kernel's plain loops leave the bars from ``start`` on unwritten (a run read only for its
    metrics does not pay for them); :meth:`arrays` writes them, once.
    """

    equity: np.ndarray
    position: np.ndarray
    start: int
    close: np.ndarray
    fills: tuple[np.ndarray, ...]
    cash: float

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Equity and position (-1/0/+1) at each bar's close."""
        n = self.close.shape[0]
        if self.start < n:
            _kernel.fill_curves(  # type: ignore[call-arg]
                self.equity, self.position, self.start, self.close, self.fills,
                self.fills[0].shape[0], self.cash,
            )
            self.start = n
        return self.equity, self.position


class Raw(NamedTuple):
    """What one simulation produced (arrays owned by the caller)."""

    curves: Curves
    fills: tuple[np.ndarray, ...]
    stats: _kernel.Stats
    variance_sum: float


def fill_buffers(capacity: int) -> tuple[np.ndarray, ...]:
    """Empty fill records: bar, side (+1 buy / -1 sell), price, quantity, commission, reason,
    then the book the fill left: cash, signed shares held, position (-1/0/+1)."""
    return (
        np.empty(capacity, np.int64),
        np.empty(capacity, np.int8),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.int8),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.int8),
    )


class Simulation:
    """One backtest's kernel run, advanced on demand.

    Args:
        costs: the order settings.
        kind, params: the signal rule (:mod:`algotrader.strategies._rules`); ``signals`` is read
            when the kind is SIGNALS (it may be filled while the simulation advances).
        inputs: the rule's input arrays (empty arrays for unused slots).
        prices: open, high, low, close.
        atr: the ATR per bar when a setting needs it, else an empty array.
        periods: periods per year (the annualisation of the metrics).
    """

    def __init__(
        self,
        costs: Costs,
        kind: int,
        params: tuple[float, float],
        signals: np.ndarray,
        inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
        prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        atr: np.ndarray,
        periods: float,
    ) -> None:
        self.n = prices[3].shape[0]
        self.periods = periods
        self.cash = costs.cash0
        self._costs = _kernel.pack_costs(costs)
        self._k = costs
        self._rule = (kind, float(params[0]), float(params[1]))
        self._arrays = tuple(map(read_only, (signals, *inputs, *prices, atr)))
        self.prices = prices
        self.state = _kernel.new_state(costs.cash0, kind)
        self.equity = np.empty(self.n, np.float64)
        self.position = np.empty(self.n, np.int8)
        self.bufs = fill_buffers(max(64, self.n // 32))
        self.curve_start = min(self.n, int(_kernel.first_plain_bar(self._costs, *self._rule)))
        self.t = 0
        self.nf = 0

    def run_to(self, end: int) -> None:
        """Simulate up to (excluding) bar ``end``."""
        while self.t < end:
            self.t, self.nf = _kernel.run(  # type: ignore[call-arg]
                self.t, end, self.state, self._costs, *self._rule, *self._arrays, self.equity,
                self.position, self.bufs, self.nf,
            )
            if self.t < end:
                self.bufs = tuple(
                    np.concatenate([buf[: self.nf], np.empty(buf.shape[0], buf.dtype)])
                    for buf in self.bufs
                )

    def peek(self, bar: int) -> Book:
        """The book during bar ``bar`` (after its open and intrabar fills, before its close
        decides anything), leaving the simulation where it was; bars before must be done."""
        saved = (self.state.copy(), self.t, self.nf, self.equity[bar], self.position[bar])
        self.run_to(bar + 1)
        book = _kernel.unpack_book(self.state)
        self.state, self.t, self.nf = saved[0], saved[1], saved[2]
        self.equity[bar], self.position[bar] = saved[3], saved[4]
        return book

    def finish(self) -> Raw:
        """Simulate the remaining bars: the curves, the fills, the statistics."""
        self.run_to(self.n)
        n, k = self.n, self._k
        bh_bar = 0 if k.fill_at_close else 1
        opens, closes = self.prices[0], self.prices[3]
        bh_price = closes[0] if k.fill_at_close else (opens[1] if n > 1 else np.nan)
        stats = _kernel.packed_stats(self.state, n, bh_bar, bh_price, k.cash0)
        fills = tuple(buf[: self.nf].copy() for buf in self.bufs)
        curves = Curves(self.equity, self.position, self.curve_start, closes, fills, k.cash0)
        spread = _kernel.squared_deviations(stats, n, lambda: curves.arrays()[0])
        return Raw(curves, fills, stats, spread)
