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
    :meth:`run` advances every symbol with working orders one :meth:`tick` per ``interval``.
    """

    def __init__(
        self, book: Book, prices: PriceProcess, now: Callable[[], datetime],
        stamp: Callable[[datetime], str],
    ) -> None:
        self.book = book
        self.prices = prices
        self._now = now
        self._stamp = stamp
        self.listener: MatchListener | None = None
        self.failures: list[str] = []

    def set_price(self, inst: Instrument, price: float) -> None:
        """Move the market to ``price`` and fill whatever that triggers, at once."""
        self.prices.set(inst, price)
        self.match(inst)

    def tick(self, instruments: dict[str, Instrument]) -> None:
        """Advance every symbol with working orders one step, then match."""
        symbols = {o.instrument.symbol for o in self.book.working()}
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

    def fill(self, order: SimOrder, price: float) -> None:
        now = self._now()
        execution = self.book.fill(order, price, now)
        order.completed_time = self._stamp(now)
        if self.listener is not None:
            self.listener.order_filled(order, execution)

    def cancel(self, order: SimOrder) -> None:
        order.status = "Cancelled"
        order.completed_time = self._stamp(self._now())
        if self.listener is not None:
            self.listener.order_cancelled(order)
