"""Requests the simulator does not simulate get TWS's error at once: no client waits on them."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ib_async import IB, Stock

from algotrader.ibsim import IBSimulator


def test_unsimulated_requests_are_answered_at_once_with_the_error_tws_sends(
    run_with_ib: Callable[..., Any],
) -> None:
    errors: list[tuple[int, int]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code))
        aapl = Stock("AAPL", "SMART", "USD", conId=265598)

        async def answered(request: Any) -> Any:
            return await asyncio.wait_for(request, 30)  # only a guard against a hang

        [ticker] = await answered(ib.reqTickersAsync(aapl))  # a market-data snapshot
        assert math.isnan(ticker.last)
        assert not await answered(ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 265598))
        ticks = ib.reqHistoricalTicksAsync(
            aapl, datetime(2024, 6, 14, 14, tzinfo=UTC), None, 100, "TRADES", True
        )
        assert not await answered(ticks)
        assert not await answered(ib.reqMatchingSymbolsAsync("AAP"))
        ib.reqPnL("DU1234567")
        await answered(ib.reqCurrentTimeAsync())  # everything before it has been answered
        assert sim.failures == []  # known, just not simulated: strict mode does not hang up

    run_with_ib(body)
    assert [code for _, code in errors] == [354, 200, 162, 200, 321]
    assert all(req_id > 0 for req_id, _ in errors)  # each answer names its request
