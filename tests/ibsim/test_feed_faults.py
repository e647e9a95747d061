"""Counted faults while the feed streams: rejected orders, a gateway drop after the N-th
advance (reconnect, backfill through a pacing violation), subscriptions dying with the
connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ib_async import IB, MarketOrder, Stock
from tests.ibsim.conftest import until

from algotrader.ibsim import Faults, IBSimulator

AAPL = Stock("AAPL", "SMART", "USD")
PACING = "Historical data request pacing violation"


def _history(ib: IB, live: bool = False) -> Any:
    return ib.reqHistoricalDataAsync(
        AAPL, "", "1 D", "1 min", "TRADES", True, formatDate=2, keepUpToDate=live, timeout=10
    )


def test_the_nth_order_is_rejected_and_the_others_fill(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    errors: list[tuple[int, int, str]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code, text))
        [aapl] = await ib.qualifyContractsAsync(AAPL)
        trades = []
        for i in range(3):
            trades.append(ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef=f"n{i}")))
            await until(trades[-1].isDone)
        assert [t.orderStatus.status for t in trades] == ["Filled", "Cancelled", "Filled"]
        assert trades[1].fills == [] and sim.orders.received == 3
        [position] = await ib.reqPositionsAsync()
        assert position.position == 20.0
        completed = await ib.reqCompletedOrdersAsync(False)
        by_ref = {t.order.orderRef: t.orderStatus.status for t in completed}
        assert by_ref == {"n0": "Filled", "n1": "Inactive", "n2": "Filled"}

    run_with_ib(body, feed_config(faults=Faults(reject_orders=frozenset({2}))))
    [(req_id, _, text)] = [e for e in errors if e[1] == 201]
    assert text.startswith("Order rejected - reason:") and req_id > 0


def test_drop_after_advances_then_reconnect_backfills_through_a_pacing_violation(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    errors: list[tuple[int, str]] = []
    faults = Faults(drop_after_advances=2, pacing_violations=frozenset({2}))

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        live = await _history(ib, live=True)  # historical request 1
        await sim.advance()
        await until(lambda: len(live) == 32)
        await sim.advance()  # the 2nd advance: its messages, then the drop
        await asyncio.wait_for(dropped.wait(), 10)
        assert len(live) == 33  # it saw the second bar complete before the drop
        assert sim.connected_client_ids == set()
        await sim.advance(3)  # the feed goes on without clients
        await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=5)
        assert list(await _history(ib)) == []  # request 2: pacing violation
        backfill = await _history(ib)  # request 3
        released = sim.feed_bars("AAPL")
        assert [b.date for b in backfill[:-1]] == list(released.index)  # no bar missing
        assert backfill[-1].date == sim.feed_time  # plus the forming bar
        assert sim.historical_requests == 3
        assert len(live) == 33  # the old subscription died with its connection

    run_with_ib(body, feed_config(faults=faults))
    assert [code for code, text in errors if PACING in text] == [162]


def test_subscriptions_die_with_the_connection(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        live = await _history(ib, live=True)
        ib.disconnect()
        await until(lambda: not sim.connected_client_ids)
        await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=5)
        updates: list[bool] = []
        ib.barUpdateEvent += lambda bars, new: updates.append(new)
        await sim.advance(2)
        await asyncio.wait_for(ib.reqCurrentTimeAsync(), 10)
        assert updates == [] and len(live) == 31  # nothing unless the client subscribes again

    run_with_ib(body, feed_config())
