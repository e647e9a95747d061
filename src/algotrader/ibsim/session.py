"""One client connection of the simulator: its socket, clientId, subscriptions, and sending."""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass

from algotrader.ibsim import protocol as P

log = logging.getLogger("algotrader.ibsim")


_FLUSH_TIMEOUT = 10.0  # seconds a reader may lag before a flush gives up on it


@dataclass(frozen=True, slots=True)
class BarSubscription:
    """A ``keepUpToDate`` history request, or a real-time bar request, of one connection."""

    symbol: str
    what: str
    format_date: int = 1
    time_zone: str = "US/Eastern"


@dataclass(frozen=True, slots=True)
class TickSubscription:
    """A ``reqMktData`` streaming subscription of one connection."""

    symbol: str


class ClientSession:
    """One client connection: its socket, clientId and subscriptions.

    Subscriptions (live bars, real-time bars, market data) belong to the connection and die with
    it, as in TWS: a client that reconnects must subscribe again.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.positions_subscribed = False
        self.account_updates_subscribed = False
        self.multi_req_ids: set[int] = set()
        self.bar_updates: dict[int, BarSubscription] = {}
        self.realtime_bars: dict[int, BarSubscription] = {}
        self.market_data: dict[int, TickSubscription] = {}
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    async def read_frame(self) -> list[str]:
        """The fields of the next length-prefixed frame."""
        size = struct.unpack(">I", await self.reader.readexactly(4))[0]
        return P.split_payload(await self.reader.readexactly(size))

    def send(self, fields: list[object]) -> None:
        if self.writer.is_closing():
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("ibsim >>> %s: %s", self.peer, P.join_fields(fields)[:300])
        self.writer.write(P.frame(fields))

    def out(self, layout: P.Layout, **values: object) -> None:
        self.send(layout.build(**values))

    def error(self, req_id: int, code: int, text: str) -> None:
        self.out(P.ERROR, reqId=req_id, errorCode=code, errorString=text)

    async def flush(self) -> None:
        """Wait until everything sent so far has been handed to the socket (or it closed)."""
        transport = self.writer.transport
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FLUSH_TIMEOUT
        try:
            await asyncio.wait_for(self.writer.drain(), _FLUSH_TIMEOUT)
        except (ConnectionError, TimeoutError):
            return
        while not transport.is_closing() and transport.get_write_buffer_size() > 0:
            if loop.time() > deadline:
                log.warning("ibsim: client %s is not reading; not waiting for it", self.peer)
                return
            await asyncio.sleep(0.001)

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()
