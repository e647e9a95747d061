"""The pre-trade risk layer: every order of a trading session passes :meth:`RiskGate.check`.

Rules (each off when its limit is None), checked in this order; the first broken one rejects
the order, with a reason that names the limit:

1. kill switch: nothing new once :meth:`RiskGate.kill` was called;
2. daily loss limit: once the day's P&L (realised plus marked to the last prices, from the
   day's first mark) reaches ``-daily_loss_limit``, trading stops until the next UTC day of the
   clock; orders that only reduce a position still pass (they lower the risk);
3. orders per minute: at most ``max_orders_per_minute`` orders in any 60 s of the clock;
4. position per symbol: ``|position after the order|`` at most ``max_position`` shares and
   ``max_position_value`` in money (at the order's price);
5. gross exposure: the sum over symbols of ``|position| x last price`` after the order at most
   ``max_gross_exposure``.

Orders that only reduce a position pass rules 4 and 5 too. The clock is injected (the loop's
clock: in an accelerated replay, the bars' time), so a replay gives the same verdicts however
fast it runs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from algotrader.errors import InvalidInputError

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The limits of a trading session (None: no limit). See the module docstring."""

    max_position: float | None = None
    max_position_value: float | None = None
    max_gross_exposure: float | None = None
    max_orders_per_minute: int | None = None
    daily_loss_limit: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and (not math.isfinite(float(value)) or value <= 0):
                flag = "--" + name.replace("_", "-")
                raise InvalidInputError(f"invalid {flag} {value!r}", f"{flag} must be > 0")

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the session row."""
        return asdict(self)


@dataclass
class Ledger:
    """Cash flows and positions from fills, marked to the last prices: the session's P&L."""

    cash: float = 0.0
    positions: dict[str, float] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)

    def fill(self, symbol: str, signed_quantity: float, price: float, commission: float) -> None:
        """Book one execution (+ buys, - sells)."""
        self.cash -= signed_quantity * price + commission
        self.positions[symbol] = self.positions.get(symbol, 0.0) + signed_quantity
        self.prices.setdefault(symbol, price)

    def mark(self, symbol: str, price: float) -> None:
        """The last price of ``symbol`` (a bar's close)."""
        self.prices[symbol] = price

    @property
    def equity(self) -> float:
        """Cash flows plus positions at the last prices (0 before any trade)."""
        held = sum(q * self.prices.get(s, 0.0) for s, q in self.positions.items())
        return self.cash + held

    def gross(self, overrides: Mapping[str, float] | None = None) -> float:
        """Sum of ``|position| x last price`` (with ``overrides`` for some positions)."""
        positions = {**self.positions, **(overrides or {})}
        return sum(abs(q) * self.prices.get(s, 0.0) for s, q in positions.items())


def _reduces(position: float, delta: float) -> bool:
    """True when the order only moves the position towards flat (never through it)."""
    after = position + delta
    return abs(after) < abs(position) and after * position >= 0


class RiskGate:
    """Checks orders against :class:`RiskLimits` (see the module docstring)."""

    def __init__(self, limits: RiskLimits, clock: Clock, ledger: Ledger | None = None) -> None:
        self.limits = limits
        self.clock = clock
        self.ledger = ledger if ledger is not None else Ledger()
        self.killed = False
        self._sent: deque[datetime] = deque()
        self._day: date | None = None
        self._day_start = 0.0
        self.halted_day: date | None = None

    def kill(self) -> None:
        """The kill switch: reject every later order."""
        self.killed = True

    def mark(self, symbol: str, price: float) -> None:
        """A new last price; starts the day's P&L at the first mark of a new UTC day."""
        self.ledger.mark(symbol, price)
        today = self.clock().date()
        if today != self._day:
            self._day, self._day_start = today, self.ledger.equity

    @property
    def daily_pnl(self) -> float:
        """The day's P&L so far (0 before the day's first mark)."""
        return self.ledger.equity - self._day_start if self._day is not None else 0.0

    @property
    def halted(self) -> bool:
        """True while the daily loss limit stops trading (until the clock's next day)."""
        limit = self.limits.daily_loss_limit
        today = self.clock().date()
        if self.halted_day == today:
            return True
        if limit is not None and self._day == today and self.daily_pnl <= -limit:
            self.halted_day = today
            return True
        return False

    def halt_ends(self) -> datetime:
        """When a halt ends: the clock's next midnight (UTC)."""
        now = self.clock()
        return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)

    def check(self, symbol: str, delta: float, price: float) -> str | None:
        """None when the order (``delta`` signed shares at ``price``) may go, else the reason."""
        if self.killed:
            return "kill switch: trading stopped (algotrader trade stop)"
        position = self.ledger.positions.get(symbol, 0.0)
        reducing = _reduces(position, delta)
        if self.halted and not reducing:
            return (
                f"daily loss limit {self.limits.daily_loss_limit:,.2f} reached "
                f"(P&L today {self.daily_pnl:,.2f}): no new positions until tomorrow"
            )
        too_many = self._rate_limited()
        if too_many is not None:
            return too_many
        if reducing:
            return None
        return self._size_limits(symbol, position + delta, price)

    def _rate_limited(self) -> str | None:
        limit = self.limits.max_orders_per_minute
        if limit is None:
            return None
        now = self.clock()
        while self._sent and self._sent[0] <= now - timedelta(minutes=1):
            self._sent.popleft()
        if len(self._sent) >= limit:
            return f"max orders per minute {limit} reached"
        return None

    def _size_limits(self, symbol: str, after: float, price: float) -> str | None:
        lim = self.limits
        if lim.max_position is not None and abs(after) > lim.max_position:
            return f"position {after:g} {symbol} would exceed max position {lim.max_position:g}"
        value = abs(after) * price
        if lim.max_position_value is not None and value > lim.max_position_value:
            return (
                f"position value {value:,.2f} in {symbol} would exceed max position value "
                f"{lim.max_position_value:,.2f}"
            )
        if lim.max_gross_exposure is not None:
            prices = self.ledger.prices
            saved = prices.get(symbol)
            prices[symbol] = price
            gross = self.ledger.gross({symbol: after})
            if saved is not None:
                prices[symbol] = saved
            if gross > lim.max_gross_exposure:
                return (
                    f"gross exposure {gross:,.2f} would exceed max gross exposure "
                    f"{lim.max_gross_exposure:,.2f}"
                )
        return None

    def sent(self) -> None:
        """Count an order that went out (for the per-minute limit)."""
        self._sent.append(self.clock())
