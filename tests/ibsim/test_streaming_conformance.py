"""Every streamed frame (live bar updates, real-time bars, ticks), captured off a real socket,
encoded by ib_async's Client and decoded field by field by ib_async's Decoder at v178 (and by
IB's official decoder when ``ibapi`` is installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ib_async import Stock
from tests.ibsim.test_conformance import STREAMED, _check_official

from algotrader.ibsim import IBSimulator

Decode = Callable[[list[str]], list[tuple[str, tuple[Any, ...]]]]


def test_streamed_frames_decode_field_by_field(
    feed_config: Callable[..., Any],
    raw_client: Any,
    encode: Callable[..., bytes],
    decode: Decode,
) -> None:
    frames: list[list[str]] = []

    async def main() -> None:
        async with IBSimulator(feed_config()) as sim:
            client = await raw_client.open(sim.port)
            try:
                await client.read()
                client.send(encode("startApi"))
                _ = [await client.read() for _ in range(5)]  # the start-up frames
                await scenario(sim, client)
            finally:
                await client.close()

    async def scenario(sim: IBSimulator, client: Any) -> None:
        aapl = Stock("AAPL", "SMART", "USD", conId=265598)
        price = sim.price("AAPL")
        client.send(
            encode("reqHistoricalData", 3, aapl, "", "1 D", "1 min", "TRADES", True, 1, True, [])
        )
        frames.append(await client.read())
        client.send(encode("reqRealTimeBars", 4, aapl, 5, "TRADES", True, []))
        client.send(encode("reqMktData", 5, aapl, "", False, False, []))
        quote = [await client.read() for _ in range(5)]
        frames.extend(quote)
        assert [decode(f)[0] for f in quote] == [
            ("tickReqParams", (5, 0.01, "9c0001", 3)),
            ("priceSizeTick", (5, 1, round(price - 0.01, 4), 100.0)),
            ("priceSizeTick", (5, 2, round(price + 0.01, 4), 100.0)),
            ("priceSizeTick", (5, 4, price, 100.0)),
            ("tickSize", (5, 5, 100.0)),
        ]
        client.send(encode("reqMktData", 6, aapl, "", True, False, []))
        snapshot = [await client.read() for _ in range(6)]
        frames.extend(snapshot)
        assert decode(snapshot[-1]) == [("tickSnapshotEnd", (6,))]

        completed_at = await sim.advance()
        step = [await client.read() for _ in range(18)]
        frames.extend(step)
        names = [decode(f)[0][0] for f in step]
        assert names == [
            "historicalDataUpdate",
            *12 * ["realtimeBar"],
            "historicalDataUpdate",
            "priceSizeTick",
            "priceSizeTick",
            "priceSizeTick",
            "tickSize",
        ]
        bar = sim.feed_bars("AAPL").iloc[-1]
        [(_, (req_id, final))] = decode(step[0])
        assert req_id == 3 and final.date == "20240610 10:00:00 US/Eastern"
        assert (final.open, final.high, final.low, final.close, final.volume) == tuple(
            float(bar[k]) for k in ("open", "high", "low", "close", "volume")
        )
        [(_, (rt_id, stamp, o, *_rest))] = decode(step[1])
        assert (rt_id, stamp, o) == (4, int(completed_at.timestamp()), float(bar["open"]))
        [(_, (_, opened))] = decode(step[13])
        assert opened.date == "20240610 10:01:00 US/Eastern" and opened.volume == 0
        assert decode(step[16]) == [("priceSizeTick", (5, 4, sim.price("AAPL"), 100.0))]

    asyncio.run(main())
    _check_official(frames)
    assert {int(f[0]) for f in frames} == STREAMED | {17}  # and the history reply
