"""``reqHistoricalData`` and ``reqHeadTimeStamp``: bars from the bar provider, TWS's errors for
bad requests, and the injected historical-data faults."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ibsim import protocol as P
from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.handlers.contracts import NO_SECURITY_TEXT
from algotrader.ibsim.history import (
    HMDS,
    MISSING_TZ_WARNING,
    RequestRejected,
    check_what_to_show,
    duration_for,
    format_bars,
    format_range_end,
    no_data_text,
    parse_end,
    request_window,
    resolution_for,
)
from algotrader.ibsim.protocol import In, parse_bool, parse_int
from algotrader.ibsim.session import BarSubscription, ClientSession
from algotrader.timeframes import Resolution

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator

log = logging.getLogger("algotrader.ibsim")

PACING_TEXT = f"{HMDS}Historical data request pacing violation"


class HistoryHandlers:
    """Historical bars and head timestamps; counts historical requests for the faults."""

    def __init__(self, sim: IBSimulator) -> None:
        self.sim = sim
        self.requests = 0  # historical requests received, 1-based numbering for the faults
        self._served_times: deque[float] = deque()

    def routes(self) -> dict[int, Handler]:
        return {
            In.REQ_HISTORICAL_DATA: self.historical_data,
            In.REQ_HEAD_TIMESTAMP: self.head_timestamp,
        }

    def _pacing_violated(self) -> bool:
        faults = self.sim.faults
        if faults.pacing_limit is None:
            return False
        now = time.monotonic()
        while self._served_times and now - self._served_times[0] > faults.pacing_window:
            self._served_times.popleft()
        if len(self._served_times) >= faults.pacing_limit:
            return True
        self._served_times.append(now)
        return False

    async def historical_data(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_HISTORICAL_DATA].parse(fields)
        req_id = parse_int(req["reqId"])
        self.requests += 1
        number, faults = self.requests, self.sim.faults
        if number in faults.silent_historical_requests:
            log.warning("ibsim: not answering historical request %d (fault)", number)
            return
        if req["secType"] == "BAG":
            self.sim.fail(session, "reqHistoricalData for BAG contracts is not simulated")
            return
        if number in faults.pacing_violations or self._pacing_violated():
            reply = P.ERROR.build(reqId=req_id, errorCode=162, errorString=PACING_TEXT)
        else:
            reply = self._bars_reply(session, req, req_id)
        if number == faults.drop_on_historical_request:
            await self._drop_mid_reply(session, reply)
            return
        session.send(reply)
        if reply[0] == P.Out.HISTORICAL_DATA and parse_bool(req["keepUpToDate"]):
            self._subscribe(session, req, req_id)

    def _subscribe(self, session: ClientSession, req: dict[str, str], req_id: int) -> None:
        """Stream updates for a live request the feed serves (others got a warning)."""
        replay = self.sim.replay
        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        resolution = resolution_for(req["barSizeSetting"])
        if replay is None or inst is None or not replay.serves(inst.symbol, resolution.seconds):
            return
        session.bar_updates[req_id] = BarSubscription(
            inst.symbol, check_what_to_show(req["whatToShow"]),
            parse_int(req["formatDate"], 1), inst.time_zone,
        )

    async def _drop_mid_reply(self, session: ClientSession, reply: list[object]) -> None:
        """Half a frame, then a dead socket: the client sees the connection die mid-request."""
        data = P.frame(reply)
        session.writer.write(data[: max(5, len(data) // 2)])
        with contextlib.suppress(ConnectionError):
            await session.writer.drain()
        log.warning("ibsim: dropping client %s mid-request (fault)", session.client_id)
        session.abort()

    def _bars_reply(self, session: ClientSession, req: dict[str, str], req_id: int,
                    ) -> list[object]:
        """The historicalData message for a request, or the error message TWS would send."""
        def error(code: int, text: str) -> list[object]:
            return P.ERROR.build(reqId=req_id, errorCode=code, errorString=text)

        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            return error(200, NO_SECURITY_TEXT)
        exchange = req["exchange"] or "SMART"
        try:
            what = check_what_to_show(req["whatToShow"])
            resolution = resolution_for(req["barSizeSetting"])
            duration = duration_for(req["durationStr"], req["barSizeSetting"])
            end = parse_end(req["endDateTime"], self.sim.now(), self.sim.login_tz)
        except RequestRejected as exc:
            return error(exc.code, exc.text)
        if end.zone_missing:
            session.error(req_id, 2174, MISSING_TZ_WARNING)
        live = parse_bool(req["keepUpToDate"])
        if live and req["endDateTime"].strip():
            return error(321, "Error validating request.-'bX' : cause - End date not supported "
                              "with live updates")
        if inst.symbol in self.sim.faults.no_data_symbols:
            return error(162, no_data_text(inst.symbol, exchange, what))
        try:
            start, stop = request_window(end.at, duration, resolution, ZoneInfo(inst.time_zone))
        except InvalidInputError as exc:  # a span reaching before pandas' calendar
            return error(321, f"Error validating request.-'bP' : cause - {exc.message}")
        replay = self.sim.replay
        if replay is not None and replay.serves(inst.symbol, resolution.seconds):
            # The feed's own bars; an end of '' includes the forming bar, as TWS does.
            bars = replay.history(inst.symbol, start, stop, not req["endDateTime"].strip())
        else:
            if live:
                log.warning("ibsim: no live updates for %s %s: only the feed's symbols at its "
                            "bar size stream (reqId %s)", inst.symbol, resolution, req_id)
            try:
                bars = self._provider_bars(inst.symbol, resolution, start, stop, req)
            except Exception as exc:
                return error(162, f"{HMDS}{exc}")
        if bars.empty:
            return error(162, no_data_text(inst.symbol, exchange, what))
        format_date = parse_int(req["formatDate"], 1)
        rows = format_bars(bars, resolution, what, format_date, inst.time_zone)
        return P.HISTORICAL_DATA.build(
            reqId=req_id,
            startDateStr=format_range_end(start, inst.time_zone),
            endDateStr=format_range_end(end.at, inst.time_zone),
            itemCount=len(bars),
        ) + rows

    def _provider_bars(self, symbol: str, resolution: Resolution, start: datetime,
                       stop: datetime, req: dict[str, str]) -> pd.DataFrame:
        try:
            bars = self.sim.provider.fetch_bars(
                symbol, resolution, start, stop, use_rth=parse_bool(req["useRTH"])
            )
        except Exception as exc:
            log.exception("ibsim: bar provider failed for %s", symbol)
            self.sim.failures.append(f"bar provider failed for {symbol}: {exc!r}")
            raise
        if len(bars):
            index = pd.DatetimeIndex(bars.index)
            bars = bars[(index >= pd.Timestamp(start)) & (index < pd.Timestamp(stop))]
        return bars

    async def head_timestamp(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_HEAD_TIMESTAMP].parse(fields)
        req_id = parse_int(req["reqId"])
        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            session.error(req_id, 200, NO_SECURITY_TEXT)
            return
        what = req["whatToShow"].upper()
        if inst.symbol in self.sim.faults.no_data_symbols:
            session.error(req_id, 162, no_data_text(inst.symbol, req["exchange"] or "SMART", what))
            return
        head = self.sim.provider.head_timestamp(inst.symbol)
        if head.tzinfo is None:
            head = head.replace(tzinfo=UTC)
        if parse_int(req["formatDate"], 1) == 2:
            stamp = str(int(head.timestamp()))
        else:
            # TWS's UTC notation; ib_async parses it as a naive datetime (in UTC).
            stamp = head.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
        session.out(P.HEAD_TIMESTAMP, reqId=req_id, headTimestamp=stamp)
