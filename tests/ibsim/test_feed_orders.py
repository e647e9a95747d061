"""Orders against the replay feed, as TWS reports them to the real ib_async client: the status
sequence, fills at the forming bar's open, partial fills, commissions, limits filled by a later
bar's range, orderRef round trips, and positions equal to the executions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, StopOrder, Trade
from tests.ibsim.conftest import until

from algotrader.ibsim import IBSimulator


async def _aapl(ib: IB) -> Stock:
    [contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    return contract


def _statuses(trade: Trade) -> list[str]:
    """The distinct statuses the trade went through, in order."""
    out: list[str] = []
    for entry in trade.log:
        if not out or out[-1] != entry.status:
            out.append(entry.status)
    return out


def test_market_order_fills_at_the_forming_bars_open(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _aapl(ib)
        await sim.advance(2)
        opened_at, open_price = sim.feed_time, sim.price("AAPL")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="strat:1"))
        await until(lambda: bool(trade.fills) and trade.fills[0].commissionReport.execId != "")
        assert _statuses(trade) == ["PendingSubmit", "PreSubmitted", "Submitted", "Filled"]
        [fill] = trade.fills
        assert fill.execution.price == open_price and fill.execution.time == opened_at
        assert fill.commissionReport.commission == 1.0  # the minimum
        assert sim.feed_time == opened_at  # filling does not move the feed
        await sim.advance()  # bar t+1 completes: its open is the price the order got
        assert sim.feed_bars("AAPL")["open"].iloc[-1] == open_price

    run_with_ib(body, feed_config())


def test_partial_fills_report_filled_and_remaining(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    statuses: list[tuple[str, float, float]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _aapl(ib)
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 1000))
        trade.statusEvent += lambda t: statuses.append(
            (t.orderStatus.status, t.orderStatus.filled, t.orderStatus.remaining)
        )
        await until(lambda: trade.isDone() and len(trade.fills) == 3)
        await until(lambda: all(f.commissionReport.execId for f in trade.fills))
        price = sim.price("AAPL")
        assert [f.execution.shares for f in trade.fills] == [400.0, 400.0, 200.0]
        assert [f.execution.cumQty for f in trade.fills] == [400.0, 800.0, 1000.0]
        assert {f.execution.price for f in trade.fills} == {price}
        assert trade.orderStatus.avgFillPrice == price
        # One order, one commission (0.005 x 1000 = 5.00), split across its fills.
        commissions = [f.commissionReport.commission for f in trade.fills]
        assert sum(commissions) == pytest.approx(5.0) and commissions[0] == 2.0
        positions = await ib.reqPositionsAsync()
        assert [(p.contract.symbol, p.position) for p in positions] == [("AAPL", 1000.0)]

    run_with_ib(body, feed_config(max_fill_size=400))
    partial = [(f, r) for s, f, r in statuses if s == "Submitted" and f > 0]
    assert partial == [(400.0, 600.0), (800.0, 200.0)]
    assert statuses[-1] == ("Filled", 1000.0, 0.0)


def test_resting_limit_fills_at_its_limit_on_the_bar_that_reaches_it(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _aapl(ib)
        limit = round(sim.price("AAPL") - 0.25, 2)
        placed_at = sim.feed_time
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 5, limit))
        await until(lambda: trade.orderStatus.status == "Submitted")
        for _ in range(200):
            await sim.advance()
            await asyncio.wait_for(ib.reqCurrentTimeAsync(), 10)
            if trade.fills:
                break
        bars = sim.feed_bars("AAPL")
        since = bars[bars.index >= placed_at]
        reached = since[since["low"] <= limit]
        assert len(reached) >= 1, "the walk never came down to the limit"
        [fill] = trade.fills
        assert fill.execution.price == limit  # not the bar's low: where the path crossed
        assert fill.execution.time == reached.index[0]  # the first bar that reached it
        assert trade.orderStatus.status == "Filled"

    run_with_ib(body, feed_config())


def test_a_stop_gapped_through_fills_at_the_open(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _aapl(ib)
        buy = ib.placeOrder(aapl, MarketOrder("BUY", 3))
        await until(buy.isDone)
        # A sell stop above the market is already triggered: it sells at the last price.
        stop = ib.placeOrder(aapl, StopOrder("SELL", 3, round(sim.price("AAPL") + 1, 2)))
        await until(stop.isDone)
        assert stop.fills[0].execution.price == sim.price("AAPL")
        assert (await ib.reqPositionsAsync()) == []

    run_with_ib(body, feed_config())


def test_positions_equal_the_sum_of_executions_and_order_refs_come_back(
    run_with_ib: Callable[..., Any], feed_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _aapl(ib)
        msft = (await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD")))[0]
        trades = []
        for i, (contract, action, qty) in enumerate(
            [(aapl, "BUY", 70), (msft, "BUY", 20), (aapl, "SELL", 30), (msft, "SELL", 50)]
        ):
            trades.append(ib.placeOrder(contract, MarketOrder(action, qty, orderRef=f"r{i}")))
            await sim.advance()
        await until(lambda: all(t.isDone() for t in trades))
        rest = ib.placeOrder(aapl, LimitOrder("BUY", 1, 1.0, orderRef="resting"))
        await until(lambda: rest.orderStatus.status == "Submitted")
        fills = await ib.reqExecutionsAsync()
        net: dict[str, float] = {}
        for f in fills:
            sign = 1 if f.execution.side == "BOT" else -1
            net[f.contract.symbol] = net.get(f.contract.symbol, 0.0) + sign * f.execution.shares
        positions = {p.contract.symbol: p.position for p in await ib.reqPositionsAsync()}
        assert positions == net == {"AAPL": 40.0, "MSFT": -30.0}
        assert sorted(f.execution.orderRef for f in fills) == ["r0", "r1", "r2", "r3"]
        completed = await ib.reqCompletedOrdersAsync(False)
        assert sorted(t.order.orderRef for t in completed) == ["r0", "r1", "r2", "r3"]
        [open_trade] = await ib.reqOpenOrdersAsync()
        assert open_trade.order.orderRef == "resting"

    run_with_ib(body, feed_config(symbols=("AAPL", "MSFT")))
