"""Streaming from the replay feed: ``keepUpToDate`` bar updates, 5-second real-time bars and
market-data ticks, as TWS sends them; and their requests and cancels.

Without a feed (or for a symbol the feed does not drive) ``reqMktData`` and ``reqRealTimeBars``
get 354 "not subscribed" at once, as before (:mod:`~algotrader.ibsim.handlers.unsupported`).

What each feed step sends, per symbol, to the connections subscribed to it:

1. ``historicalDataUpdate`` with the completed bar's final OHLCV (same date as the forming bar
   the client holds: ib_async replaces it), then the next bar's first update (its open as
   OHLC, no volume; a later date: ib_async appends it and fires ``barUpdateEvent(bars,
   hasNewBar=True)``, so the completed bar is ``bars[-2]``);
2. the completed bar's ``bar_seconds / 5`` real-time bars
   (:func:`~algotrader.ibsim.feed.split_bar`);
3. ``tickPrice`` BID/ASK (one tick around) and LAST (the new open), and ``tickSize`` LAST_SIZE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from algotrader.ibsim import protocol as P
from algotrader.ibsim.feed import REALTIME_BAR_SECONDS, Bar, Piece, forming_view, split_bar
from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.instruments import Instrument
from algotrader.ibsim.protocol import In, Tick, parse_bool, parse_int
from algotrader.ibsim.session import BarSubscription, ClientSession, TickSubscription
from algotrader.timeframes import Resolution

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator


QUOTE_SIZE = 100.0  # shares shown at the bid, the ask and the last trade


def update_fields(
    req_id: int, sub: BarSubscription, start: datetime, bar: Bar, resolution: Resolution
) -> list[object]:
    """One bar as a ``historicalDataUpdate`` message, with the values and date format
    :func:`~algotrader.ibsim.history.format_bars` gives the same bar in a history reply (built
    without pandas: this runs for every subscriber on every step)."""
    if not resolution.is_intraday:
        date = start.astimezone(UTC).strftime("%Y%m%d")
    elif sub.format_date == 2:
        date = str(int(start.timestamp()))
    else:
        date = start.astimezone(ZoneInfo(sub.time_zone)).strftime("%Y%m%d %H:%M:%S ")
        date += sub.time_zone
    o, h, lo, c, volume = bar
    if sub.what == "MIDPOINT":
        shown: object = -1
        wap: float = -1
        count = -1
    else:
        shown = int(volume) if volume.is_integer() else volume
        wap = float(np.round((h + lo + c) / 3.0, 4))
        count = max(1, int(volume // 100)) if volume > 0 else 0
    return P.HISTORICAL_DATA_UPDATE.build(
        reqId=req_id,
        barCount=count,
        date=date,
        open=o,
        close=c,
        high=h,
        low=lo,
        wap=wap,
        volume=shown,
    )


class StreamingHandlers:
    """Market data and real-time bars from the feed; publishes every feed step."""

    def __init__(self, sim: IBSimulator) -> None:
        self.sim = sim

    def routes(self) -> dict[int, Handler]:
        return {
            In.REQ_MKT_DATA: self.market_data,
            In.CANCEL_MKT_DATA: self.cancel_market_data,
            In.REQ_REAL_TIME_BARS: self.real_time_bars,
            In.CANCEL_REAL_TIME_BARS: self.cancel_real_time_bars,
            In.CANCEL_HISTORICAL_DATA: self.cancel_historical_data,
        }

    def _fed(self, inst: Instrument | None) -> bool:
        replay = self.sim.replay
        return inst is not None and replay is not None and inst.symbol in replay.feed.symbols

    # -- requests --------------------------------------------------------------------------

    async def market_data(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_MKT_DATA].parse(fields)
        req_id = parse_int(req["reqId"])
        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if not self._fed(inst) or req["secType"] == "BAG":
            await self.sim.unsupported.refuse(session, fields)
            return
        assert inst is not None
        # After the 12 contract fields: the delta-neutral flag (+3 fields), the generic tick
        # list, snapshot, regulatory snapshot, options.
        rest = fields[len(P.REQUESTS[In.REQ_MKT_DATA].fields) + 1 :]
        offset = 4 if rest and parse_bool(rest[0]) else 1
        snapshot = len(rest) > offset + 1 and parse_bool(rest[offset + 1])
        session.out(P.TICK_REQ_PARAMS, reqId=req_id, minTick=inst.min_tick, bboExchange="9c0001")
        self._send_quote(session, req_id, inst)
        if snapshot:
            session.out(P.TICK_SNAPSHOT_END, reqId=req_id)
        else:
            session.market_data[req_id] = TickSubscription(inst.symbol)

    async def cancel_market_data(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.CANCEL_MKT_DATA].parse(fields)
        session.market_data.pop(parse_int(req["reqId"]), None)

    async def real_time_bars(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_REAL_TIME_BARS].parse(fields)
        req_id = parse_int(req["reqId"])
        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if not self._fed(inst):
            await self.sim.unsupported.refuse(session, fields)
            return
        assert inst is not None
        if parse_int(req["barSize"]) != REALTIME_BAR_SECONDS:
            session.error(
                req_id,
                321,
                "Error validating request.-'bR' : cause - Invalid bar "
                "size: real-time bars are 5 seconds",
            )
            return
        session.realtime_bars[req_id] = BarSubscription(
            inst.symbol, req["whatToShow"].upper() or "TRADES"
        )

    async def cancel_real_time_bars(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.CANCEL_REAL_TIME_BARS].parse(fields)
        session.realtime_bars.pop(parse_int(req["reqId"]), None)

    async def cancel_historical_data(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.CANCEL_HISTORICAL_DATA].parse(fields)
        session.bar_updates.pop(parse_int(req["reqId"]), None)

    # -- publishing ------------------------------------------------------------------------

    def _send_quote(self, session: ClientSession, req_id: int, inst: Instrument) -> None:
        replay = self.sim.replay
        assert replay is not None
        last = replay.feed.last_price(inst.symbol)
        if last is None:
            return
        tick = inst.min_tick
        for tick_type, price in (
            (Tick.BID, round(last - tick, 4)),
            (Tick.ASK, round(last + tick, 4)),
            (Tick.LAST, last),
        ):
            session.out(
                P.TICK_PRICE, reqId=req_id, tickType=tick_type, price=price, size=QUOTE_SIZE
            )
        session.out(P.TICK_SIZE, reqId=req_id, tickType=Tick.LAST_SIZE, size=QUOTE_SIZE)

    def bar_completed(self, symbol: str, start: datetime, bar: Bar) -> None:
        """The forming bar of ``symbol`` is complete: final update and its real-time bars."""
        replay = self.sim.replay
        assert replay is not None
        resolution = replay.feed.resolution
        pieces: list[Piece] | None = None
        for session in self.sim.live_sessions():
            for req_id, sub in list(session.bar_updates.items()):
                if sub.symbol == symbol:
                    session.send(update_fields(req_id, sub, start, bar, resolution))
            for req_id, sub in list(session.realtime_bars.items()):
                if sub.symbol == symbol:
                    pieces = pieces or split_bar(start, bar, resolution.seconds)
                    for piece in pieces:
                        session.send(_realtime_fields(req_id, sub.what == "TRADES", piece))

    def bar_opened(self, symbol: str, start: datetime, bar: Bar) -> None:
        """A new bar of ``symbol`` opens: its first update and the new quote."""
        replay = self.sim.replay
        assert replay is not None
        opened = forming_view(bar)
        inst = self.sim.instruments[symbol]
        for session in self.sim.live_sessions():
            for req_id, sub in list(session.bar_updates.items()):
                if sub.symbol == symbol:
                    session.send(update_fields(req_id, sub, start, opened, replay.feed.resolution))
            for req_id, tick_sub in list(session.market_data.items()):
                if tick_sub.symbol == symbol:
                    self._send_quote(session, req_id, inst)


def _realtime_fields(req_id: int, trades: bool, piece: Piece) -> list[object]:
    """A ``realtimeBar`` message; volume, WAP and count are -1 unless it shows TRADES."""
    wap = float(np.round((piece.high + piece.low + piece.close) / 3.0, 4))
    count = max(1, int(piece.volume // 100)) if piece.volume > 0 else 0
    return P.REAL_TIME_BAR.build(
        reqId=req_id,
        time=int(piece.time.timestamp()),
        open=piece.open,
        high=piece.high,
        low=piece.low,
        close=piece.close,
        volume=piece.volume if trades else -1,
        wap=wap if trades else -1,
        count=count if trades else -1,
    )
