"""The trading loop of :mod:`algotrader.app.trading`: bars in, decisions and orders out.

Per completed bar of a symbol, in this order (the latency is measured from step 1 to the moment
the broker has the order):

1. the symbol's :class:`~algotrader.backtest.incremental.IncrementalDecider` decides on the
   bar's close with the strategy object and the backtest's sizing;
2. an order passes the :class:`~algotrader.trading.RiskGate`, is stored (``pending``, with its
   deterministic client reference), then sent; a rejection is recorded with its reason;
3. off the order path, at most every second (:meth:`TradingLoop.flush`) and at the end: the
   bars are stored (raw, under the series' writer lock, with ``store_raw_bars`` as the stream
   consumer's jobs mode does), then, in one transaction, the decisions without orders and each
   symbol's high-water mark and book; indicators are refreshed from the series' marker every
   few seconds. A crash loses only bars without side effects: the restarted session is fed them
   again and decides the same (an order decision found stored is never sent again).

Backfilled bars are stored and shown to the strategy but never traded. Fills and status
changes arrive through the broker's listener and are stored as they come (fills are unique by
``exec_id``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from algotrader.app._stores import Stores
from algotrader.app.pipeline import refresh_indicators, store_raw_bars
from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.incremental import (
    Decision,
    IncrementalDecider,
    book_from_json,
    book_to_json,
)
from algotrader.ports.bars import InstrumentInfo
from algotrader.ports.trading import (
    Broker,
    BrokerEvent,
    Fill,
    LiveBar,
    OrderStatusEvent,
    TradeOrder,
)
from algotrader.ports.trading_state import (
    BACKFILL,
    CANCELLED,
    FILLED,
    LOST,
    NONE,
    OPEN_STATUSES,
    PENDING,
    REJECTED,
    SENT,
    DecisionRecord,
    SessionRecord,
    SymbolState,
)
from algotrader.timeframes import parse_resolution
from algotrader.trading.risk import RiskGate

log = logging.getLogger("algotrader.trading")
_FAILED_STATUSES = frozenset({"Cancelled", "ApiCancelled", "Inactive", "Rejected"})
_INDICATOR_SECONDS = 2.0
_FLUSH_SECONDS = 1.0
_PROGRESS_EVERY = 500  # a progress line every this many bars


def trade_ref(session: str, symbol: str, bar_ts: datetime, side: str) -> str:
    """The client order reference of the order decided on ``bar_ts``'s close.

    Deterministic in (session, symbol, bar time, side), like ``orders place --ref``: the same
    decision after a restart maps to the same reference, which the broker and the decisions
    table both know, so it is never sent twice. Readable in TWS: ``AAPL-20240102T1431-B-1f2e3d4c``.
    """
    digest = hashlib.sha256(f"{session}|{symbol}|{bar_ts.isoformat()}|{side}".encode())
    return f"{symbol}-{bar_ts.astimezone(UTC):%Y%m%dT%H%M}-{side[0]}-{digest.hexdigest()[:8]}"


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """What the loop reports while it runs (for progress output): ``kind`` is ``bar``,
    ``order``, ``rejected``, ``fill``, ``reconciled``, ``stopped`` or ``warning``."""

    kind: str
    text: str
    symbol: str | None = None


Progress = Callable[[TradeEvent], None]
# (symbol, resolution, source, bars): takes the completed bars instead of the database (the
# price stream's publisher with ``--to kafka``).
BarSink = Callable[[str, str, str, pd.DataFrame], object]


@dataclass
class LoopStats:
    """Counters of one run of the loop."""

    bars: int = 0
    backfill: int = 0
    orders: int = 0
    rejected: int = 0
    fills: int = 0
    duplicates_skipped: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class _Open:
    """An order of this session the broker still works on."""

    symbol: str
    quantity: float
    filled: float = 0.0
    notional: float = 0.0


class TradingLoop:
    """One run of a session: decides on each completed bar and keeps the stores up to date."""

    def __init__(
        self,
        stores: Stores,
        session: SessionRecord,
        broker: Broker,
        make_strategy: Callable[[], Any],
        config: BacktestConfig,
        risk: RiskGate,
        *,
        store_source: str | None,
        sink: BarSink | None = None,
        bar_clock: bool,
        progress: Progress | None = None,
        warmup: int = 0,
    ) -> None:
        self.stores = stores
        self.session = session
        self.broker = broker
        self.make_strategy = make_strategy
        self.config = config
        self.risk = risk
        self.store_source = store_source
        self.sink = sink
        self.bar_clock = bar_clock
        self.progress = progress
        self.warmup = warmup
        self.stats = LoopStats()
        self.deciders: dict[str, IncrementalDecider] = {}
        self.last_bar: dict[str, datetime] = {}
        self.open: dict[str, _Open] = {}
        self.now = datetime.now(UTC)
        self._duration = timedelta(seconds=parse_resolution(session.resolution).seconds)
        self._refreshed: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._bars: dict[str, list[LiveBar]] = {}
        self._decisions: list[DecisionRecord] = []
        self._flushed = time.monotonic()
        broker.listen(self.on_event)

    # ------------------------------------------------------------------ events
    def say(self, kind: str, text: str, symbol: str | None = None) -> None:
        """Log ``text`` and pass it to the progress callback."""
        level = logging.WARNING if kind in ("rejected", "warning") else logging.INFO
        log.log(level, "session %s: %s", self.session.name, text)
        if self.progress is not None:
            self.progress(TradeEvent(kind, text, symbol))

    def clock(self) -> datetime:
        """The loop's clock: the completion time of the bar in hand (replays), or the wall."""
        return self.now if self.bar_clock else datetime.now(UTC)

    def on_event(self, event: BrokerEvent) -> None:
        """The broker's listener: fills and status changes of this session's orders."""
        if isinstance(event, Fill):
            self.on_fill(event)
        elif isinstance(event, OrderStatusEvent):
            self._on_status(event)

    def on_fill(self, fill: Fill) -> bool:
        """Store a fill once; book it into the ledger and its decision. False when known."""
        sid = self.session.id
        if not self.stores.trading.add_fill(sid, fill):
            return False
        self.stats.fills += 1
        self.risk.ledger.fill(fill.symbol, fill.signed_quantity, fill.price, fill.commission)
        held = self.open.get(fill.client_ref)
        if held is not None:
            held.filled += fill.quantity
            held.notional += fill.quantity * fill.price
            done = held.filled >= held.quantity - 1e-9
            self.stores.trading.update_decision(
                sid,
                fill.client_ref,
                filled=held.filled,
                avg_fill_price=held.notional / held.filled,
                status=FILLED if done else SENT,
            )
            if done:
                del self.open[fill.client_ref]
        self.say(
            "fill",
            f"{fill.side} {fill.quantity:g} {fill.symbol} @ {fill.price:.2f} "
            f"({fill.ts:%Y-%m-%d %H:%M} UTC, ref {fill.client_ref})",
            fill.symbol,
        )
        return True

    def _on_status(self, event: OrderStatusEvent) -> None:
        held = self.open.get(event.client_ref)
        if held is None or event.status not in _FAILED_STATUSES:
            return
        del self.open[event.client_ref]
        status = CANCELLED if "Cancel" in event.status else REJECTED
        self.stores.trading.update_decision(
            self.session.id,
            event.client_ref,
            status=status,
            reason=event.message or f"{event.status} at the broker",
        )
        if held.filled == 0:
            self._roll_back(event.client_ref, held.symbol)
        self.say(
            "rejected", f"order {event.client_ref} {event.status}: {event.message}", held.symbol
        )

    def _roll_back(self, client_ref: str, symbol: str) -> None:
        """An order that never filled: the symbol's book goes back to before it (when it was
        the symbol's latest decision)."""
        found = self.stores.trading.decision_by_ref(self.session.id, client_ref)
        decider = self.deciders.get(symbol)
        if found is None or found.book_before is None or decider is None:
            return
        if found.bar_ts == self.last_bar.get(symbol):
            decider.book = book_from_json(found.book_before)
            self.stores.trading.set_book(self.session.id, symbol, found.book_before)

    # ------------------------------------------------------------------ bars
    def decider_for(self, bar: LiveBar) -> IncrementalDecider:
        """The symbol's decider, created on its first bar (history from the stores)."""
        found = self.deciders.get(bar.symbol)
        if found is not None:
            return found
        states = self.stores.trading.symbol_states(self.session.id)
        state = states.get(bar.symbol)
        start = self.session.history_start.get(bar.symbol)
        res = self.session.resolution
        if start is None:
            history = self.stores.bars.load_bars(bar.symbol, res, end=bar.start, indicators=False)
            history = history.iloc[len(history) - min(self.warmup, len(history)) :]
            first = history.index[0] if len(history) else pd.Timestamp(bar.start)
            starts = {**self.session.history_start, bar.symbol: first.isoformat()}
            self.session = self.stores.trading.update_session(self.session.id, history_start=starts)
        else:
            end = (state.last_bar_ts if state and state.last_bar_ts else bar.start) + timedelta(
                microseconds=1
            )
            history = self.stores.bars.load_bars(
                bar.symbol, res, start=datetime.fromisoformat(start), end=end, indicators=False
            )
            history = history[history.index < pd.Timestamp(bar.start)]
        book = book_from_json(state.book) if state and state.book else None
        decider = IncrementalDecider(self.make_strategy(), self.config, history, book)
        self.deciders[bar.symbol] = decider
        return decider

    def _store_bars(self) -> None:
        """Write the buffered completed bars (raw), one batch per series under its lock, or hand
        them to the sink."""
        if self.store_source is None:
            self._bars.clear()
            return
        for symbol, bars in self._bars.items():
            if symbol not in self._refreshed:
                self.stores.instruments.ensure(InstrumentInfo(symbol=symbol), self.store_source)
                self._refreshed[symbol] = time.monotonic()
            index = pd.DatetimeIndex([b.start for b in bars], name="ts")
            columns = {k: [getattr(b, k) for b in bars] for k in ("open", "high", "low", "close")}
            frame = pd.DataFrame({**columns, "volume": [b.volume for b in bars]}, index=index)
            res = self.session.resolution
            if self.sink is not None:
                self.sink(symbol, res, self.store_source, frame)
                continue
            store_raw_bars(self.stores.bars, symbol, res, self.store_source, frame)
            self._dirty.add(symbol)
        self._bars.clear()

    def flush(self, *, force: bool = False) -> None:
        """Store the buffered bars, then the decisions without orders and the high-water marks
        (at most every second, or now with ``force``); refresh indicators every few seconds."""
        now = time.monotonic()
        if not force and now - self._flushed < _FLUSH_SECONDS:
            return
        self._flushed = now
        symbols = sorted(self._bars)
        self._store_bars()
        marks = [
            SymbolState(s, self.last_bar[s], book_to_json(self.deciders[s].book))
            for s in symbols
            if s in self.deciders
        ]
        if marks or self._decisions:
            self.stores.trading.save_progress(self.session.id, self._decisions, marks)
        self._decisions = []
        for symbol in sorted(self._dirty):
            if force or now - self._refreshed.get(symbol, 0.0) >= _INDICATOR_SECONDS:
                refresh_indicators(self.stores.bars, symbol, self.session.resolution)
                self._refreshed[symbol] = now
                self._dirty.discard(symbol)

    async def handle(self, bar: LiveBar, received: float) -> None:
        """One completed bar: decide, check, record, send (see the module docstring)."""
        last = self.last_bar.get(bar.symbol)
        if last is not None and bar.start <= last:
            return  # already processed (a replayed or re-sent bar)
        self.now = bar.start + self._duration
        decider = self.decider_for(bar)
        decision = decider.step(
            bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume, next_open=bar.next_open
        )
        self.risk.mark(bar.symbol, bar.close)
        self.last_bar[bar.symbol] = bar.start
        self._bars.setdefault(bar.symbol, []).append(bar)
        self.stats.bars += 1
        if self.stats.bars % _PROGRESS_EVERY == 0:
            self.say("bar", f"{self.stats.bars} bars processed (last: {bar.symbol} "
                     f"{bar.start:%Y-%m-%d %H:%M} UTC)", bar.symbol)  # fmt: skip
        record = DecisionRecord(
            self.session.id, bar.symbol, bar.start, bar.close, decision.signal, NONE,
            datetime.now(UTC),
        )  # fmt: skip
        if bar.is_backfill or decision.side is None:
            self.stats.backfill += bar.is_backfill
            status = BACKFILL if bar.is_backfill else NONE
            self._decisions.append(replace(record, status=status))
            return
        await self._order(bar, decider, decision, record, received)

    async def _order(
        self,
        bar: LiveBar,
        decider: IncrementalDecider,
        decision: Decision,
        record: DecisionRecord,
        received: float,
    ) -> None:
        side = decision.side
        assert side is not None
        ref = trade_ref(self.session.name, bar.symbol, bar.start, side)
        qty = abs(decision.delta)
        record = replace(
            record, side=side, quantity=qty, price=decision.price, client_ref=ref,
            book_before=book_to_json(decider.book),
        )  # fmt: skip
        reason = self.risk.check(bar.symbol, decision.delta, decision.price)
        if reason is not None:
            self.stats.rejected += 1
            self._decisions.append(replace(record, status=REJECTED, reason=reason))
            when = f"{bar.start:%Y-%m-%d %H:%M}"
            self.say("rejected", f"{side} {qty:g} {bar.symbol} on the {when} bar rejected: "
                      f"{reason}", bar.symbol)  # fmt: skip
            return
        stored, created = self.stores.trading.add_decision(replace(record, status=PENDING))
        if not created:
            # Decided before a restart: the order exists (or was reconciled); never resend.
            self.stats.duplicates_skipped += 1
            if stored.status not in (REJECTED, LOST, CANCELLED):
                decider.commit(decision)
            return
        decider.commit(decision)
        self.open[ref] = _Open(bar.symbol, qty)
        self.risk.sent()
        ack = await self.broker.place(TradeOrder(ref, bar.symbol, side, qty))
        latency = (time.perf_counter() - received) * 1000.0
        self.stats.orders += 1
        self.stats.latencies_ms.append(latency)
        status = SENT if ref in self.open else self._status_after(ref)
        self.stores.trading.update_decision(
            self.session.id, ref, status=status, broker_order_id=ack.broker_order_id,
            sent_at=datetime.now(UTC), latency_ms=latency,
        )  # fmt: skip
        when = f"{bar.start:%Y-%m-%d %H:%M}"
        text = f"{side} {qty:g} {bar.symbol} (signal on the {when} bar, ref {ref}, "
        self.say("order", f"{text}{latency:.1f} ms) -> {ack.status}", bar.symbol)

    def _status_after(self, ref: str) -> str:
        found = self.stores.trading.decision_by_ref(self.session.id, ref)
        return found.status if found is not None and found.status != PENDING else SENT

    async def sleep(self) -> None:
        """Let the event loop run other tasks (the stop watcher, the broker's events)."""
        await asyncio.sleep(0)


# ---------------------------------------------------------------------- restart and stop
async def reconcile(loop: TradingLoop) -> int:
    """Before trading: bring the stored decisions and fills up to date with the broker
    (open orders, executions). Returns how many stored orders changed status."""
    sid = loop.session.id
    states = loop.stores.trading.symbol_states(sid)
    loop.last_bar = {s: st.last_bar_ts for s, st in states.items() if st.last_bar_ts}
    pending = [
        d for d in loop.stores.trading.decisions(sid, orders_only=True) if d.status in OPEN_STATUSES
    ]
    for d in pending:
        assert d.client_ref is not None
        loop.open[d.client_ref] = _Open(
            d.symbol, d.quantity, d.filled, d.filled * (d.avg_fill_price or 0.0)
        )
    for fill in loop.stores.trading.fills(sid):
        loop.risk.ledger.fill(fill.symbol, fill.signed_quantity, fill.price, fill.commission)
    mine = {d.client_ref for d in loop.stores.trading.decisions(sid, orders_only=True)}
    for fill in await loop.broker.executions():
        if fill.client_ref in mine:
            loop.on_fill(fill)
    working = {o.client_ref for o in await loop.broker.open_orders()}
    changed = 0
    for d in pending:
        ref = d.client_ref
        assert ref is not None
        if ref in working or ref not in loop.open:
            continue
        held = loop.open.pop(ref)
        status = LOST if d.status == PENDING and held.filled == 0 else CANCELLED
        loop.stores.trading.update_decision(
            sid, ref, status=status, reason="unknown to the broker after a restart"
        )
        latest = loop.last_bar.get(d.symbol) == d.bar_ts
        if held.filled == 0 and d.book_before is not None and latest:
            loop.stores.trading.set_book(sid, d.symbol, d.book_before)
        changed += 1
    return changed


async def cancel_all(loop: TradingLoop) -> int:
    """The kill switch: cancel every open order of this session."""
    cancelled = 0
    for order in await loop.broker.open_orders():
        if order.client_ref in loop.open and await loop.broker.cancel(order.client_ref):
            cancelled += 1
    return cancelled


async def flatten(loop: TradingLoop) -> int:
    """Close every position of the session's symbols with market orders (refs tied to the
    last bar, so a repeated flatten does not send them twice)."""
    sent = 0
    for position in await loop.broker.positions():
        if position.symbol not in loop.session.symbols or position.quantity == 0:
            continue
        side = "SELL" if position.quantity > 0 else "BUY"
        last = loop.last_bar.get(position.symbol, loop.now)
        ref = trade_ref(loop.session.name, position.symbol, last, f"X{side}")
        ack = await loop.broker.place(
            TradeOrder(ref, position.symbol, side, abs(position.quantity))  # type: ignore[arg-type]
        )
        sent += not ack.duplicate
        _flat_book(loop, position.symbol)
        loop.say(
            "order",
            f"flatten: {side} {abs(position.quantity):g} {position.symbol} "
            f"(ref {ref}) -> {ack.status}",
            position.symbol,
        )
    return sent


def _flat_book(loop: TradingLoop, symbol: str) -> None:
    """After a flatten the decider's book is flat too (its position sold at the last close)."""
    decider = loop.deciders.get(symbol)
    if decider is None:
        return
    book = decider.book
    price = loop.risk.ledger.prices.get(symbol, 0.0)
    decider.book = book._replace(cash=book.cash + book.pos * book.qty * price, qty=0.0, pos=0)
    loop.stores.trading.set_book(loop.session.id, symbol, book_to_json(decider.book))
