"""The IB broker of the trading loop against the simulator (real ib_async client, real socket):
client references are IB order refs and never sent twice (also after a restart or a dropped
gateway: known orders are adopted); partial fills with commissions; rejections reported as
``Rejected``; cancels; positions equal to the fills."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pandas as pd
from tests.ibkr.conftest import (
    FAST_RETRY,
    FEED_START,
    feed_config,
    hold_client,
    settings_for,
    until,
)

from algotrader.ibkr.broker import IbBroker
from algotrader.ibkr.connection import IbConnection
from algotrader.ibsim import FeedConfig, IBSimulator, SimConfig
from algotrader.ports.trading import BrokerEvent, Fill, OrderStatusEvent, TradeOrder

ACCOUNT = "DU1234567"


class _Session:
    """A broker on its own connection, recording every event it reports."""

    def __init__(self, sim: IBSimulator, client_id: int = 5) -> None:
        self.settings = settings_for(sim, client_id)
        self.conn = IbConnection(self.settings, readonly=False, require_sync=True)
        self.events: list[BrokerEvent] = []
        self.broker: IbBroker | None = None

    async def __aenter__(self) -> IbBroker:
        await self.conn.ensure()
        self.broker = IbBroker(self.conn, self.settings, ACCOUNT, is_paper=True, retry=FAST_RETRY)
        self.broker.listen(self.events.append)
        return self.broker

    async def __aexit__(self, *exc: object) -> None:
        assert self.broker is not None
        await self.broker.close()
        await self.conn.close()

    def fills(self, ref: str | None = None) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill) and ref in (None, e.client_ref)]

    def statuses(self, ref: str) -> list[str]:
        return [e.status for e in self.events if isinstance(e, OrderStatusEvent)
                and e.client_ref == ref]  # fmt: skip


def _sent_by_ref(sim: IBSimulator) -> Counter[str]:
    """placeOrder messages the simulator accepted, per order ref (a duplicate would show)."""
    return Counter(o.order_ref for o in sim.book.orders.values())


def _run(body: Callable[[IBSimulator], Awaitable[None]], config: SimConfig) -> None:
    async def main() -> None:
        async with IBSimulator(config) as sim:
            await asyncio.wait_for(body(sim), 60)

    asyncio.run(main())


def test_partial_fills_with_commissions_and_positions_equal_to_the_fills() -> None:
    async def body(sim: IBSimulator) -> None:
        session = _Session(sim)
        async with session as broker:
            ack = await broker.place(TradeOrder("AAPL-1-B", "AAPL", "BUY", 100))
            assert not ack.duplicate and ack.status in ("Submitted", "Filled")
            await until(lambda: sum(f.quantity for f in session.fills()) == 100)
            await sim.advance()
            await broker.place(TradeOrder("AAPL-2-S", "AAPL", "SELL", 30))
            await until(lambda: len(session.fills("AAPL-2-S")) == 1)

            bought = session.fills("AAPL-1-B")
            assert [f.quantity for f in bought] == [40, 40, 20]  # max_fill_size = 40
            assert all(f.side == "BUY" and f.symbol == "AAPL" for f in bought)
            assert len({f.exec_id for f in session.fills()}) == len(session.fills())
            # IB's minimum applies once per order, spread over its executions.
            cfg = sim.config
            for ref, qty in (("AAPL-1-B", 100), ("AAPL-2-S", 30)):
                paid = sum(f.commission for f in session.fills(ref))
                assert paid == max(cfg.min_commission, qty * cfg.commission_per_share)
            assert "Filled" in session.statuses("AAPL-1-B")
            # The market order filled at the forming bar's open, at the simulator's "now".
            assert {f.ts for f in bought} == {min(f.ts for f in session.fills())}
            held = {p.symbol: p.quantity for p in await broker.positions()}
            assert held == {"AAPL": sum(f.signed_quantity for f in session.fills())} == {"AAPL": 70}
            reported = {f.exec_id: f for f in await broker.executions()}
            assert reported == {f.exec_id: f for f in session.fills()}
            assert sum(f.commission for f in reported.values()) == sum(
                e.commission for e in sim.book.executions
            )
        assert sim.orders.received == 2
        assert _sent_by_ref(sim) == Counter({"AAPL-1-B": 1, "AAPL-2-S": 1})

    _run(body, feed_config(("AAPL",), max_fill_size=40))


def test_a_known_ref_is_never_sent_twice_also_after_a_restart_or_a_drop() -> None:
    async def body(sim: IBSimulator) -> None:
        order = TradeOrder("MSFT-1-B", "MSFT", "BUY", 10)
        first = _Session(sim)
        async with first as broker:
            await broker.place(order)
            again = await broker.place(order)
            assert again.duplicate
            await until(lambda: len(first.fills()) == 1)
        # A restarted process (new connection, new broker) finds the order at the gateway.
        second = _Session(sim)
        async with second as broker:
            adopted = await broker.place(order)
            assert adopted.duplicate and adopted.status == "Filled"
            # The gateway drops; the next call reconnects and still knows the order.
            sim.faults = replace(sim.faults, drop_after_advances=sim.replay.advances + 1)  # type: ignore[union-attr]
            await sim.advance()
            await until(lambda: not second.conn.ib or not second.conn.ib.isConnected())
            assert (await broker.place(order)).duplicate
            fresh = await broker.place(TradeOrder("MSFT-2-S", "MSFT", "SELL", 4))
            assert not fresh.duplicate
            await until(lambda: len(second.fills("MSFT-2-S")) == 1)
            assert second.conn.reconnects == 1
            held = {p.symbol: p.quantity for p in await broker.positions()}
        assert sim.orders.received == 2  # one placeOrder per ref, whatever happened
        assert _sent_by_ref(sim) == Counter({"MSFT-1-B": 1, "MSFT-2-S": 1})
        assert held == {"MSFT": 6.0}

    _run(body, feed_config(("MSFT",)))


def test_a_rejected_order_is_reported_as_rejected_and_fills_nothing() -> None:
    async def body(sim: IBSimulator) -> None:
        session = _Session(sim)
        async with session as broker:
            ack = await broker.place(TradeOrder("TSLA-1-B", "TSLA", "BUY", 5))
            await until(lambda: "Rejected" in session.statuses("TSLA-1-B"))
            assert ack.status == "Rejected" and "201" in ack.message + "".join(
                e.message for e in session.events if isinstance(e, OrderStatusEvent)
            )
            assert session.statuses("TSLA-1-B").count("Rejected") == 1
            await broker.place(TradeOrder("TSLA-2-B", "TSLA", "BUY", 5))
            await until(lambda: len(session.fills()) == 1)
            assert session.fills()[0].client_ref == "TSLA-2-B"
            assert {p.symbol: p.quantity for p in await broker.positions()} == {"TSLA": 5}
            assert [o.client_ref for o in await broker.open_orders()] == []
        assert sim.orders.received == 2

    _run(body, feed_config(("TSLA",), faults=replace(SimConfig().faults, reject_orders={1})))


def test_a_resting_order_is_cancelled_by_its_ref() -> None:
    async def body(sim: IBSimulator) -> None:
        session = _Session(sim)
        async with session as broker:
            price = float(sim.feed_bars("AAPL")["close"].iloc[-1]) * 0.5  # far below: rests
            ack = await broker.place(
                TradeOrder("AAPL-L-B", "AAPL", "BUY", 3, order_type="LMT", limit_price=price)
            )
            assert ack.status in ("PreSubmitted", "Submitted")
            assert [o.client_ref for o in await broker.open_orders()] == ["AAPL-L-B"]
            assert await broker.cancel("AAPL-L-B")
            assert not await broker.cancel("AAPL-L-B")  # nothing open any more
            assert "Cancelled" in session.statuses("AAPL-L-B")
            assert await broker.open_orders() == []
            assert session.fills() == []

    _run(body, feed_config(("AAPL",)))


def test_a_fill_while_the_gateway_was_away_is_reported_after_the_reconnect() -> None:
    # A flat market at 100 whose 7th bar reaches 110: a SELL limit at 105 rests until then.
    index = pd.date_range(FEED_START + timedelta(hours=14), periods=10, freq="1min")
    frame = pd.DataFrame({"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0,
                          "volume": 1000.0}, index=index)  # fmt: skip
    frame.iloc[6, frame.columns.get_loc("high")] = 110.0
    feed = FeedConfig(("AAPL",), "1m", history_bars=5, bars={"AAPL": frame})

    async def body(sim: IBSimulator) -> None:
        session = _Session(sim)
        async with session as broker:
            order = TradeOrder("AAPL-L-S", "AAPL", "SELL", 7, order_type="LMT", limit_price=105)
            await broker.place(order)
            hold_client(sim, 5, True)
            sim.faults = replace(sim.faults, drop_after_advances=sim.replay.advances + 1)  # type: ignore[union-attr]
            await sim.advance()  # the 6th bar (high 100) completes, then the gateway drops
            await until(lambda: not session.conn.ib or not session.conn.ib.isConnected())
            await sim.advance()  # the 7th reaches 110: the order fills while the client is away
            assert sum(e.shares for e in sim.book.executions) == 7
            assert session.fills() == []
            hold_client(sim, 5, False)
            held = {p.symbol: p.quantity for p in await broker.positions()}  # reconnects
            await until(lambda: len(session.fills("AAPL-L-S")) == 1)
            assert held == {"AAPL": -7}
            (fill,) = session.fills()
            assert (fill.side, fill.quantity, fill.price) == ("SELL", 7, 105)
            assert fill.ts == index[6].to_pydatetime()
            assert (await broker.place(order)).duplicate
        assert sim.orders.received == 1

    _run(body, feed_config(("AAPL",), feed=feed))
