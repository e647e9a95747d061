"""The simulator's matching engine: working orders against a price process, fills, cancels.

Pure market logic on :class:`~algotrader.ibsim.state.Book` and
:class:`~algotrader.ibsim.state.PriceProcess`; what each event means on the wire is the
:class:`MatchListener`'s business (the order handlers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from algotrader.ibsim.instruments import Instrument
from algotrader.ibsim.state import Book, Execution, PriceProcess, SimOrder

log = logging.getLogger("algotrader.ibsim")


class MatchListener(Protocol):
    """Told about every fill and cancel, after the book has been updated."""

    def order_filled(self, order: SimOrder, execution: Execution) -> None: ...

    def order_cancelled(self, order: SimOrder) -> None: ...


class MatchingEngine:
    """Fills working orders when the market reaches them.

    ``now`` is the simulator's clock; ``stamp`` formats a time as TWS writes completion times.
    :meth:`run` advances every symbol with working orders one :meth:`tick` per ``interval``,
    except the ``external`` symbols, whose prices come from the replay feed: those move and
    match in :meth:`match_bar` (a completed bar's range) and :meth:`set_price` (the next open).
    ``max_fill_size`` splits larger fills into executions of at most that size.
    """

    def __init__(
        self, book: Book, prices: PriceProcess, now: Callable[[], datetime],
        stamp: Callable[[datetime], str], max_fill_size: float | None = None,
    ) -> None:
        self.book = book
        self.prices = prices
        self._now = now
        self._stamp = stamp
        self.max_fill_size = max_fill_size
        self.external: frozenset[str] = frozenset()
        self.listener: MatchListener | None = None
        self.failures: list[str] = []

    def set_price(self, inst: Instrument, price: float) -> None:
        """Move the market to ``price`` and fill whatever that triggers, at once."""
        self.prices.set(inst, price)
        self.match(inst)

    def tick(self, instruments: dict[str, Instrument]) -> None:
        """Advance every symbol with working orders one step, then match."""
        symbols = {o.instrument.symbol for o in self.book.working()} - self.external
        for symbol in sorted(symbols):
            inst = instruments[symbol]
            self.prices.step(inst)
            self.match(inst)

    async def run(self, interval: float, instruments: dict[str, Instrument]) -> None:
        """Tick forever (until cancelled); a failing tick is recorded, not fatal."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick(instruments)
            except Exception as exc:  # keep ticking, but make the bug visible
                log.exception("ibsim: tick failed")
                self.failures.append(f"tick failed: {exc!r}")

    def match(self, inst: Instrument) -> None:
        """Fill the working orders of ``inst`` that the current price reaches."""
        price = self.prices.price(inst)
        for order in self.book.working():
            if order.instrument.symbol != inst.symbol:
                continue
            fill_at = order.fill_price(price)
            if fill_at is not None:
                self.fill(order, fill_at)

    def match_bar(self, inst: Instrument, high: float, low: float, when: datetime) -> None:
        """Fill the resting orders of ``inst`` that a completed bar's range reaches.

        They were not marketable at the bar's open (they would have filled then), so a limit
        fills at its limit and a stop at its stop price, where the bar's path crossed them.
        """
        for order in self.book.working():
            if order.instrument.symbol == inst.symbol:
                price = _bar_fill_price(order, high, low)
                if price is not None:
                    self.fill(order, price, when)

    def fill(self, order: SimOrder, price: float, when: datetime | None = None) -> None:
        """Fill the rest of ``order`` at ``price``, in chunks of at most ``max_fill_size``."""
        now = when or self._now()
        while order.remaining > 0:
            execution = self.book.fill(order, price, now, self.max_fill_size)
            if order.remaining <= 0:
                order.completed_time = self._stamp(now)
            if self.listener is not None:
                self.listener.order_filled(order, execution)

    def cancel(self, order: SimOrder) -> None:
        order.status = "Cancelled"
        order.completed_time = self._stamp(self._now())
        if self.listener is not None:
            self.listener.order_cancelled(order)


def _bar_fill_price(order: SimOrder, high: float, low: float) -> float | None:
    """Where a resting order fills inside a bar ranging ``low..high``, or None."""
    buy = order.sign > 0
    if order.order_type in ("STP", "STP LMT") and not order.stop_triggered:
        stop = order.aux_price
        if stop is None or (buy and high < stop) or (not buy and low > stop):
            return None
        order.stop_triggered = True
        if order.order_type == "STP":
            return stop
        # A stop-limit becomes a limit at the stop; if that limit is not marketable there, it
        # rests until a later bar (the rest of this bar's path is not known in order).
        limit = order.lmt_price
        if limit is not None and ((buy and stop <= limit) or (not buy and stop >= limit)):
            return stop
        return None
    limit = order.lmt_price
    if order.order_type in ("MKT", "STP") or limit is None:
        return None  # market orders fill on arrival, never from a range
    if (buy and low <= limit) or (not buy and high >= limit):
        return limit
    return None
