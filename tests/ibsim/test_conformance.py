"""Every kind of frame the simulator sends, captured off a real socket and decoded field by field.

The requests are encoded by ib_async's own ``Client`` and the replies decoded by ib_async's own
``Decoder(wrapper, 178)``, so a shifted field in any layout shows up as a wrong value here. When
IB's official client (``ibapi-stable``, test-only) is installed, each frame must also be consumed
exactly by its decoder at version 178.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from ib_async import ExecutionFilter, LimitOrder, MarketOrder, Stock

from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.ibsim import IBSimulator, protocol
from algotrader.timeframes import RESOLUTIONS

UNSET_DOUBLE = sys.float_info.max
# Sent only with a replay feed; exercised in test_streaming_conformance.py.
STREAMED = frozenset({1, 2, 50, 57, 81, 90})
ACCOUNT = "DU1234567"


def _official_leftovers(fields: list[str]) -> list[bytes] | None:
    """Fields IB's official decoder left unread (None when ibapi is not installed)."""
    try:
        from ibapi.decoder import Decoder as OfficialDecoder
        from ibapi.wrapper import EWrapper
    except ImportError:
        return None
    decoder = OfficialDecoder(EWrapper(), 178)
    body = [f.encode() for f in fields[1:]]  # its decoders start after the message id
    info = decoder.msgId2handleInfo[int(fields[0])]
    if info.processMeth is not None:
        rest = iter(body)
        info.processMeth(decoder, rest)
        return list(rest)
    # Signature-driven handlers skip one version field, then take one field per parameter.
    expected = len(info.wrapperParams) - 1  # minus self
    assert len(body) - 1 >= expected, f"too few fields for {info}: {fields}"
    return body[1 + expected:]


def _check_official(frames: list[list[str]]) -> None:
    for fields in frames:
        left = _official_leftovers(fields)
        assert left in (None, []), f"official decoder left {left!r} of {fields!r}"


def test_every_frame_decodes_field_by_field(
    make_config: Callable[..., Any],
    raw_client: Any,
    encode: Callable[..., bytes],
    decode: Callable[[list[str]], list[tuple[str, tuple[Any, ...]]]],
    fixed_now: datetime,
) -> None:
    frames: list[list[str]] = []

    async def main() -> None:
        async with IBSimulator(make_config()) as sim:
            client = await raw_client.open(sim.port)
            try:
                await scenario(sim, client)
            finally:
                await client.close()

    async def scenario(sim: IBSimulator, client: Any) -> None:
        # -- handshake and start-up
        hello = await client.read()
        assert hello[0] == "178" and len(hello) == 2
        assert hello[1].startswith("20240614 16:30:00 ")  # TWS login time zone (US/Eastern)
        client.send(encode("startApi"))
        startup = [await client.read() for _ in range(5)]
        frames.extend(startup)
        assert decode(startup[0]) == [("managedAccounts", (ACCOUNT,))]
        assert decode(startup[1]) == [("nextValidId", (1,))]
        codes = [decode(f)[0][1][1] for f in startup[2:]]
        assert codes == [2104, 2106, 2158]
        assert decode(startup[2]) == [
            ("error", (-1, 2104, "Market data farm connection is OK:usfarm", ""))
        ]

        # -- contract details
        aapl = Stock("AAPL", "SMART", "USD")
        client.send(encode("reqContractDetails", 3, aapl))
        details, end = await client.read_until(52)
        frames.extend([details, end])
        assert len(details) == 40
        [(name, (req_id, cd))] = decode(details)
        assert (name, req_id) == ("contractDetails", 3)
        c = cd.contract
        assert (c.conId, c.symbol, c.secType, c.exchange, c.primaryExchange, c.currency,
                c.localSymbol, c.tradingClass) == (
            265598, "AAPL", "STK", "SMART", "NASDAQ", "USD", "AAPL", "NMS")
        assert (cd.longName, cd.timeZoneId, cd.minTick, cd.marketName, cd.stockType) == (
            "APPLE INC", "US/Eastern", 0.01, "NMS", "COMMON")
        assert cd.liquidHours.startswith("20240614:0930-20240614:1600;20240615:CLOSED")
        assert (cd.minSize, cd.sizeIncrement, cd.suggestedSizeIncrement) == (0.0001, 0.0001, 100)
        assert decode(end) == [("contractDetailsEnd", (3,))]

        client.send(encode("reqContractDetails", 4, Stock("NOPE", "SMART", "USD")))
        unknown = await client.read()
        frames.append(unknown)
        assert decode(unknown) == [
            ("error", (4, 200, "No security definition has been found for the request", ""))
        ]

        # -- historical data: values equal the provider's, dates in IB's formats
        client.send(encode("reqHistoricalData", 5, aapl, "20240612 16:00:00 US/Eastern",
                           "2 D", "1 hour", "TRADES", True, 1, False, []))
        hist = await client.read()
        frames.append(hist)
        calls = decode(hist)
        bars = [args[1] for name, args in calls if name == "historicalData"]
        assert calls[-1][0] == "historicalDataEnd"
        expected = SyntheticProvider(clock=lambda: fixed_now).fetch_bars(
            "AAPL", RESOLUTIONS["1h"], datetime(2024, 6, 11, tzinfo=UTC),
            datetime(2024, 6, 12, 20, tzinfo=UTC))
        assert len(bars) == len(expected) == 14
        assert bars[0].date == "20240611 09:30:00 US/Eastern"
        assert bars[1].date == "20240611 10:00:00 US/Eastern"  # TWS: on the hour after 09:30
        assert bars[-1].date == "20240612 15:00:00 US/Eastern"
        first = expected.iloc[0]
        assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (
            first["open"], first["high"], first["low"], first["close"], first["volume"])
        assert bars[0].barCount == int(first["volume"] // 100)
        assert bars[0].average == pytest.approx((first["high"] + first["low"] +
                                                 first["close"]) / 3, abs=1e-4)

        client.send(encode("reqHistoricalData", 6, aapl, "20240612-20:00:00", "1 D", "1 day",
                           "MIDPOINT", True, 2, False, []))
        daily = await client.read()
        frames.append(daily)
        [(_, (_, bar)), end_call] = decode(daily)
        assert bar.date == "20240612" and end_call[0] == "historicalDataEnd"
        assert (bar.volume, bar.average, bar.barCount) == (-1, -1, -1)

        # -- head timestamp, current time, account summary
        client.send(encode("reqHeadTimeStamp", 7, aapl, "TRADES", True, 2))
        head = await client.read()
        frames.append(head)
        assert decode(head) == [("headTimestamp", (7, "946857600"))]  # 2000-01-03 00:00 UTC

        client.send(encode("reqCurrentTime"))
        now = await client.read()
        frames.append(now)
        assert decode(now) == [("currentTime", (int(fixed_now.timestamp()),))]

        client.send(encode("reqAccountSummary", 8, "All", "NetLiquidation,AccountType"))
        summary = await client.read_until(64)
        frames.extend(summary)
        assert [decode(f)[0] for f in summary] == [
            ("accountSummary", (8, ACCOUNT, "AccountType", "INDIVIDUAL", "")),
            ("accountSummary", (8, ACCOUNT, "NetLiquidation", "1000000.00", "USD")),
            ("accountSummaryEnd", (8,)),
        ]

        # -- a market order: PreSubmitted, Submitted, then filled on the next tick
        qualified = Stock("AAPL", "SMART", "USD", conId=265598, primaryExchange="NASDAQ")
        buy = MarketOrder("BUY", 10, orderRef="conformance", account=ACCOUNT)
        client.send(encode("placeOrder", 11, qualified, buy))
        pre = [await client.read(), await client.read()]
        frames.extend(pre)
        assert [decode(f)[0][1][-1].status for f in pre[:1]] == ["PreSubmitted"]
        assert decode(pre[1])[0][1][:2] == (11, "PreSubmitted")
        ack = [await client.read(), await client.read()]
        frames.extend(ack)
        [(_, (order_id, contract, order, state))] = decode(ack[0])
        assert (order_id, contract.conId, contract.symbol, contract.exchange) == (
            11, 265598, "AAPL", "SMART")
        assert (order.action, order.totalQuantity, order.orderType, order.lmtPrice,
                order.auxPrice, order.tif, order.orderRef, order.account, order.clientId) == (
            "BUY", 10.0, "MKT", UNSET_DOUBLE, UNSET_DOUBLE, "DAY", "conformance", ACCOUNT, 1)
        assert order.permId > 0 and state.status == "Submitted" and not order.whatIf
        perm_id = order.permId
        assert decode(ack[1]) == [("orderStatus", (
            11, "Submitted", 0.0, 10.0, 0.0, perm_id, 0, 0.0, 1, "", 0.0))]

        fill = await client.read_until(59)
        frames.extend(fill)
        assert [int(f[0]) for f in fill] == [11, 5, 3, 59]
        [(_, (req_id, exec_contract, ex))] = decode(fill[0])
        price = ex.price
        assert (req_id, exec_contract.conId, ex.side, ex.shares, ex.permId, ex.clientId,
                ex.orderId, ex.cumQty, ex.avgPrice, ex.acctNumber, ex.orderRef) == (
            -1, 265598, "BOT", 10.0, perm_id, 1, 11, 10.0, price, ACCOUNT, "conformance")
        assert ex.time == datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
        assert price == sim.price("AAPL") and ex.execId
        [(_, (_, _, filled_order, filled_state))] = decode(fill[1])
        assert filled_state.status == "Filled" and filled_order.permId == perm_id
        assert decode(fill[2]) == [("orderStatus", (
            11, "Filled", 10.0, 0.0, price, perm_id, 0, price, 1, "", 0.0))]
        [(_, (report,))] = decode(fill[3])
        assert (report.execId, report.commission, report.currency, report.realizedPNL) == (
            ex.execId, 1.0, "USD", UNSET_DOUBLE)

        # -- positions, account updates (single and multi) now that there is a position
        client.send(encode("reqPositions"))
        positions = await client.read_until(62)
        frames.extend(positions)
        [(_, (account, pos_contract, quantity, avg_cost))] = decode(positions[0])
        assert (account, pos_contract.conId, pos_contract.symbol, quantity) == (
            ACCOUNT, 265598, "AAPL", 10.0)
        assert avg_cost == pytest.approx(price + 0.1)  # commission is part of IB's cost
        assert decode(positions[1]) == [("positionEnd", ())]

        client.send(encode("reqAccountUpdates", True, ACCOUNT))
        updates = await client.read_until(54)
        frames.extend(updates)
        values = {args[0]: args for name, args in (decode(f)[0] for f in updates)
                  if name == "updateAccountValue"}
        assert values["TotalCashValue"] == (
            "TotalCashValue", f"{1_000_000 - 10 * price - 1.0:.2f}", "USD", ACCOUNT)
        assert values["AccountType"] == ("AccountType", "INDIVIDUAL", "", ACCOUNT)
        [portfolio] = [args for name, args in (decode(f)[0] for f in updates)
                       if name == "updatePortfolio"]
        assert (portfolio[0].conId, portfolio[0].primaryExchange, portfolio[1], portfolio[2],
                portfolio[3], portfolio[7]) == (
            265598, "NASDAQ", 10.0, price, round(10 * price, 2), ACCOUNT)
        assert decode(updates[-2])[0][0] == "updateAccountTime"
        assert decode(updates[-2])[0][1] == ("16:30",)
        assert decode(updates[-1]) == [("accountDownloadEnd", (ACCOUNT,))]

        client.send(encode("reqAccountUpdatesMulti", 12, ACCOUNT, "", False))
        multi = await client.read_until(74)
        frames.extend(multi)
        first_multi = decode(multi[0])[0]
        assert first_multi == ("accountUpdateMulti", (12, ACCOUNT, "", "AccountCode", ACCOUNT, ""))
        assert decode(multi[-1]) == [("accountUpdateMultiEnd", (12,))]

        # -- a resting limit order, open orders, cancel
        rest = LimitOrder("SELL", 5, 10_000.0, tif="GTC")
        client.send(encode("placeOrder", 13, qualified, rest))
        frames.extend([await client.read() for _ in range(4)])  # PreSubmitted, Submitted
        client.send(encode("reqOpenOrders"))
        open_orders = await client.read_until(53)
        frames.extend(open_orders)
        assert [int(f[0]) for f in open_orders] == [5, 3, 53]
        [(_, (_, _, open_order, open_state))] = decode(open_orders[0])
        assert (open_order.orderId, open_order.action, open_order.totalQuantity,
                open_order.orderType, open_order.lmtPrice, open_order.tif,
                open_state.status) == (13, "SELL", 5.0, "LMT", 10_000.0, "GTC", "Submitted")
        assert decode(open_orders[2]) == [("openOrderEnd", ())]

        client.send(encode("cancelOrder", 13, ""))
        cancelled = [await client.read(), await client.read()]
        frames.extend(cancelled)
        assert decode(cancelled[0])[0][1][:4] == (13, "Cancelled", 0.0, 5.0)
        assert decode(cancelled[1]) == [("error", (13, 202, "Order Canceled - reason:", ""))]

        # -- executions and completed orders reflect the state
        client.send(encode("reqExecutions", 14, ExecutionFilter()))
        executions = await client.read_until(55)
        frames.extend(executions)
        assert [int(f[0]) for f in executions] == [11, 59, 55]
        assert decode(executions[0])[0][1][0] == 14
        assert decode(executions[0])[0][1][2].execId == ex.execId
        assert decode(executions[2]) == [("execDetailsEnd", (14,))]

        client.send(encode("reqCompletedOrders", False))
        completed = await client.read_until(102)
        frames.extend(completed)
        decoded = [decode(f)[0] for f in completed]
        assert [d[0] for d in decoded] == ["completedOrder", "completedOrder",
                                          "completedOrdersEnd"]
        (_, (done_contract, done_order, done_state)) = decoded[0]
        assert (done_contract.conId, done_order.action, done_order.totalQuantity,
                done_order.orderType, done_order.permId, done_order.filledQuantity,
                done_state.status, done_state.completedStatus) == (
            265598, "BUY", 10.0, "MKT", perm_id, 10.0, "Filled", "Filled")
        assert decoded[1][1][2].status == "Cancelled"
        assert decoded[1][1][1].lmtPrice == 10_000.0

    asyncio.run(main())
    _check_official(frames)
    # Every outgoing layout the simulator defines was exercised above, but the streamed ones
    # (test_streaming_conformance.py: they need a replay feed).
    layouts = {v.msg_id for v in vars(protocol).values() if isinstance(v, protocol.Layout)}
    assert {int(f[0]) for f in frames} == layouts - STREAMED
