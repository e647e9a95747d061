"""Paper orders through the real client: fills, resting limits, cancels, stops, state queries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Order, Stock, StopOrder, Trade

from algotrader.ibsim import IBSimulator


async def _until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def _qualified(ib: IB, symbol: str = "AAPL") -> Stock:
    contract = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    return contract


def test_market_order_fills_with_commission_and_position(
    run_with_ib: Callable[..., Any],
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _qualified(ib)
        before = sim.price("AAPL")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10))
        reports: list[Any] = []
        trade.commissionReportEvent += lambda t, fill, report: reports.append(report)
        await _until(lambda: bool(reports))
        assert trade.orderStatus.status == "Filled"
        assert (trade.orderStatus.filled, trade.orderStatus.remaining) == (10.0, 0.0)
        [fill] = trade.fills
        price = fill.execution.price
        assert price == trade.orderStatus.avgFillPrice == sim.price("AAPL")
        assert abs(price / before - 1) < 0.01  # the next tick of a gentle walk
        assert fill.execution.side == "BOT" and fill.execution.shares == 10
        assert fill.commissionReport.commission == 1.0 and fill.commissionReport.currency == "USD"
        assert [s.status for s in (e for e in trade.log)][-1] == "Filled"
        await _until(lambda: bool(ib.positions()))
        [position] = ib.positions()
        assert (position.contract.conId, position.position) == (265598, 10.0)
        assert position.avgCost == pytest.approx(price + 0.1)
        cash = {v.tag: v.value for v in ib.accountValues() if v.currency == "USD"}
        assert float(cash["TotalCashValue"]) == pytest.approx(1_000_000 - 10 * price - 1.0)
        [item] = ib.portfolio()
        assert item.position == 10.0

        # selling it back realises the round trip
        sell = ib.placeOrder(aapl, MarketOrder("SELL", 10))
        await _until(lambda: sell.isDone() and bool(sell.fills)
                     and sell.fills[0].commissionReport.commission > 0)
        await _until(lambda: not ib.positions())
        realized = sell.fills[0].commissionReport.realizedPNL
        exit_price = sell.fills[0].execution.price
        assert realized == pytest.approx(10 * (exit_price - price) - 2.0, abs=1e-3)
        assert len(ib.fills()) == 2 and ib.openTrades() == []

    run_with_ib(body)


def test_limit_rests_then_cancel(run_with_ib: Callable[..., Any]) -> None:
    errors: list[tuple[int, int]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code))
        aapl = await _qualified(ib)
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 5, round(sim.price("AAPL") * 0.5, 2)))
        await _until(lambda: trade.orderStatus.status == "Submitted")
        await asyncio.sleep(0.1)  # several ticks: still resting
        assert trade.orderStatus.status == "Submitted" and ib.openTrades() == [trade]
        [listed] = await ib.reqAllOpenOrdersAsync()
        assert listed.order.orderId == trade.order.orderId
        ib.cancelOrder(trade.order)
        assert trade.orderStatus.status == "PendingCancel"
        await _until(lambda: trade.orderStatus.status == "Cancelled")
        assert trade.isDone() and ib.openTrades() == [] and trade.fills == []
        assert await ib.reqOpenOrdersAsync() == []

    run_with_ib(body)
    assert errors[-1][1] == 202


def test_limit_fills_when_price_crosses(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _qualified(ib)
        limit = round(sim.price("AAPL") * 0.9, 2)
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 3, limit))
        await _until(lambda: trade.orderStatus.status == "Submitted")
        sim.set_price("AAPL", limit - 0.5)
        await _until(lambda: trade.orderStatus.status == "Filled")
        assert trade.fills[0].execution.price == limit - 0.5  # at the market, not worse

    run_with_ib(body)


def test_stop_triggers_and_fills(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _qualified(ib)
        price = sim.price("AAPL")
        stop = round(price * 0.95, 2)
        trade = ib.placeOrder(aapl, StopOrder("SELL", 4, stop))
        await _until(lambda: trade.orderStatus.status == "Submitted")
        await asyncio.sleep(0.05)
        assert trade.orderStatus.status == "Submitted"
        sim.set_price("AAPL", round(price * 0.9, 2))
        await _until(lambda: trade.orderStatus.status == "Filled")
        assert trade.fills[0].execution.price == round(price * 0.9, 2)
        await _until(lambda: bool(ib.positions()))
        assert ib.positions()[0].position == -4.0

    run_with_ib(body)


def test_state_queries_reflect_history(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _qualified(ib)
        filled = ib.placeOrder(aapl, MarketOrder("BUY", 2))
        await _until(filled.isDone)
        resting = ib.placeOrder(aapl, LimitOrder("SELL", 2, 9_999.0))
        await _until(lambda: resting.orderStatus.status == "Submitted")
        executions = await ib.reqExecutionsAsync()
        assert [f.execution.orderId for f in executions] == [filled.order.orderId]
        completed = await ib.reqCompletedOrdersAsync(False)
        assert [t.orderStatus.status for t in completed] == ["Filled"]
        open_trades = await ib.reqOpenOrdersAsync()
        assert [t.order.orderId for t in open_trades] == [resting.order.orderId]
        ib.reqGlobalCancel()
        await _until(lambda: resting.orderStatus.status == "Cancelled")

    run_with_ib(body)


def test_orders_survive_reconnect_and_what_if(
    run_with_ib: Callable[..., Any],
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = await _qualified(ib)
        state = await ib.whatIfOrderAsync(aapl, MarketOrder("BUY", 100))
        assert float(state.initMarginChange) > 0 and state.commission == 1.0
        assert sim.book.orders == {}  # what-if places nothing
        trade: Trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 1.0))
        await _until(lambda: trade.orderStatus.status == "Submitted")
        ib.disconnect()
        await asyncio.sleep(0.05)
        await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=2)
        [again] = ib.openTrades()
        assert again.order.orderId == trade.order.orderId
        assert again.order.permId == trade.order.permId
        bad = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=1, orderType="TRAIL"))
        await _until(bad.isDone)
        assert bad.orderStatus.status == "Cancelled"  # error 387 cancels it

    run_with_ib(body)
