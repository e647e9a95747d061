"""The simulated brokerage: order book, fills, positions, cash and a deterministic price process.

Pure state, no I/O: the server feeds it requests and ticks and relays what it returns to the
connected clients.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from algotrader.ibsim.instruments import Instrument

WORKING_STATES = frozenset({"PreSubmitted", "Submitted"})
SUPPORTED_ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT"})


@dataclass
class SimOrder:
    """One order as TWS holds it. ``lmt_price``/``aux_price`` are None when unset."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    exchange: str
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str = ""
    outside_rth: bool = False
    status: str = "Submitted"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    stop_triggered: bool = False
    completed_time: str = ""
    commission_paid: float = 0.0

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATES

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def sign(self) -> int:
        return 1 if self.action == "BUY" else -1

    def fill_price(self, price: float) -> float | None:
        """The price this order fills at when the market trades at ``price``, or None (rests).

        MKT fills at the market; LMT when the market reaches the limit (at the market, which is
        then no worse than the limit); STP becomes MKT and STP LMT becomes LMT once the market
        touches the stop (buy stops at or above, sell stops at or below).
        """
        order_type = self.order_type
        if order_type in ("STP", "STP LMT") and not self.stop_triggered:
            stop = self.aux_price
            if stop is None:
                return None
            if (self.sign > 0 and price < stop) or (self.sign < 0 and price > stop):
                return None
            self.stop_triggered = True
        if order_type in ("MKT", "STP"):
            return price
        limit = self.lmt_price
        if limit is None:
            return None
        if (self.sign > 0 and price <= limit) or (self.sign < 0 and price >= limit):
            return price
        return None


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill, with its commission; ``realized_pnl`` is None for a fill that opens a position."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    exchange: str
    account: str
    side: str
    shares: float
    price: float
    time: datetime
    cum_qty: float
    avg_price: float
    order_ref: str
    commission: float
    realized_pnl: float | None


@dataclass
class Holding:
    """A position; ``avg_cost`` includes commissions, as IB reports it."""

    instrument: Instrument
    quantity: float = 0.0
    avg_cost: float = 0.0


class PriceProcess:
    """A per-symbol multiplicative random walk with a fixed seed, advanced one step per tick.

    The first price of a symbol comes from ``seed_price`` (the server passes the last synthetic
    close, so fills land near the bars a strategy looked at). Tests pin prices with :meth:`set`.
    """

    def __init__(self, seed_price: Callable[[Instrument], float], step_vol: float = 5e-4) -> None:
        self._seed_price = seed_price
        self._step_vol = step_vol
        self._prices: dict[str, float] = {}
        self._rngs: dict[str, random.Random] = {}

    def price(self, instrument: Instrument) -> float:
        symbol = instrument.symbol
        if symbol not in self._prices:
            self._prices[symbol] = round(self._seed_price(instrument), 2)
            self._rngs[symbol] = random.Random(zlib.crc32(symbol.encode()))
        return self._prices[symbol]

    def set(self, instrument: Instrument, price: float) -> None:
        """Pin the price (no seeding first: a feed's symbols never need the seed's bars)."""
        symbol = instrument.symbol
        self._rngs.setdefault(symbol, random.Random(zlib.crc32(symbol.encode())))
        self._prices[symbol] = float(price)

    def step(self, instrument: Instrument) -> float:
        current = self.price(instrument)
        shock = self._rngs[instrument.symbol].gauss(0.0, 1.0)
        new = round(max(instrument.min_tick, current * math.exp(self._step_vol * shock)), 2)
        self._prices[instrument.symbol] = new
        return new

    def known(self) -> dict[str, float]:
        return dict(self._prices)


@dataclass
class Book:
    """Orders, executions, holdings and cash of the one simulated account."""

    account: str
    cash: float
    commission_per_share: float = 0.005
    min_commission: float = 1.0
    orders: dict[tuple[int, int], SimOrder] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    holdings: dict[int, Holding] = field(default_factory=dict)
    realized_pnl: float = 0.0
    _next_perm_id: int = 1_300_000_000
    _exec_seq: int = 0

    def new_perm_id(self) -> int:
        self._next_perm_id += 1
        return self._next_perm_id

    def working(self, client_id: int | None = None) -> list[SimOrder]:
        return [
            o for o in self.orders.values()
            if o.is_working and (client_id is None or o.client_id == client_id)
        ]

    def completed(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if not o.is_working]

    def commission(self, shares: float, price: float) -> float:
        # IB's fixed US stock schedule: per share, with a minimum, capped at 1% of trade value.
        raw = max(self.min_commission, shares * self.commission_per_share)
        return round(min(raw, 0.01 * shares * price), 4) if price > 0 else raw

    def fill(
        self, order: SimOrder, price: float, when: datetime, shares: float | None = None
    ) -> Execution:
        """Fill ``shares`` of ``order`` (default: all that remains) at ``price`` and book it.

        The commission is the order's: IB's minimum applies once per order, so each execution
        pays what the order's total commission grows by.
        """
        shares = order.remaining if shares is None else min(shares, order.remaining)
        before = order.filled
        order.filled += shares
        order.avg_fill_price = price if before == 0 else (
            (before * order.avg_fill_price + shares * price) / order.filled
        )
        order.last_fill_price = price
        total = self.commission(order.filled, order.avg_fill_price)
        commission = round(max(0.0, total - order.commission_paid), 4)
        order.commission_paid += commission
        realized = self._book_position(order.instrument, order.sign * shares, price, commission)
        self.cash -= order.sign * shares * price + commission
        order.status = "Filled" if order.remaining <= 0 else "Submitted"
        self._exec_seq += 1
        execution = Execution(
            exec_id=f"0000{order.perm_id:08x}.{self._exec_seq:08x}.01.01",
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            instrument=order.instrument,
            exchange=order.instrument.primary_exchange,
            account=order.account,
            side="BOT" if order.sign > 0 else "SLD",
            shares=shares,
            price=price,
            time=when,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            order_ref=order.order_ref,
            commission=commission,
            realized_pnl=realized,
        )
        self.executions.append(execution)
        return execution

    def _book_position(
        self, instrument: Instrument, signed_qty: float, price: float, commission: float
    ) -> float | None:
        holding = self.holdings.setdefault(instrument.con_id, Holding(instrument))
        old = holding.quantity
        if old == 0 or (old > 0) == (signed_qty > 0):
            # Opening or adding: the commission raises a long's cost basis and lowers a short's.
            side = 1 if signed_qty > 0 else -1
            cost = abs(old) * holding.avg_cost + abs(signed_qty) * price + side * commission
            holding.quantity = old + signed_qty
            holding.avg_cost = cost / abs(holding.quantity)
            return None
        closed = min(abs(signed_qty), abs(old))
        realized = closed * (price - holding.avg_cost) * (1 if old > 0 else -1) - commission
        holding.quantity = old + signed_qty
        if holding.quantity == 0:
            holding.avg_cost = 0.0
        elif (holding.quantity > 0) != (old > 0):
            holding.avg_cost = price  # flipped through zero: the rest opened at this price
        self.realized_pnl += realized
        return realized

    def account_values(self, marks: dict[str, float]) -> list[tuple[str, str, str]]:
        """``(tag, value, currency)`` rows shared by account updates and the account summary."""
        market_value = 0.0
        gross = 0.0
        unrealized = 0.0
        for h in self.holdings.values():
            mark = marks.get(h.instrument.symbol, h.avg_cost)
            market_value += h.quantity * mark
            gross += abs(h.quantity) * mark
            unrealized += (mark - h.avg_cost) * h.quantity
        net_liq = self.cash + market_value
        init_margin = 0.25 * gross
        maint_margin = 0.25 * gross
        available = net_liq - init_margin
        excess = net_liq - maint_margin

        def money(value: float) -> str:
            return f"{value:.2f}"

        rows = [
            ("AccountCode", self.account, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("Currency", "USD", "USD"),
            ("NetLiquidation", money(net_liq), "USD"),
            ("TotalCashValue", money(self.cash), "USD"),
            ("SettledCash", money(self.cash), "USD"),
            ("CashBalance", money(self.cash), "USD"),
            ("CashBalance", money(self.cash), "BASE"),
            ("AccruedCash", "0.00", "USD"),
            ("BuyingPower", money(4 * max(available, 0.0)), "USD"),
            ("EquityWithLoanValue", money(net_liq), "USD"),
            ("PreviousDayEquityWithLoanValue", money(net_liq), "USD"),
            ("GrossPositionValue", money(gross), "USD"),
            ("StockMarketValue", money(market_value), "USD"),
            ("RegTEquity", money(net_liq), "USD"),
            ("RegTMargin", money(0.5 * gross), "USD"),
            ("SMA", money(max(net_liq - 0.5 * gross, 0.0)), "USD"),
            ("InitMarginReq", money(init_margin), "USD"),
            ("MaintMarginReq", money(maint_margin), "USD"),
            ("FullInitMarginReq", money(init_margin), "USD"),
            ("FullMaintMarginReq", money(maint_margin), "USD"),
            ("AvailableFunds", money(available), "USD"),
            ("FullAvailableFunds", money(available), "USD"),
            ("ExcessLiquidity", money(excess), "USD"),
            ("FullExcessLiquidity", money(excess), "USD"),
            ("Cushion", f"{(excess / net_liq) if net_liq else 0.0:.6f}", ""),
            ("Leverage", f"{(gross / net_liq) if net_liq else 0.0:.4f}", ""),
            ("DayTradesRemaining", "-1", ""),
            ("UnrealizedPnL", money(unrealized), "USD"),
            ("RealizedPnL", money(self.realized_pnl), "USD"),
        ]
        return rows
