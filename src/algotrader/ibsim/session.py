"""One client connection of the simulator: its socket, clientId, subscriptions, and sending."""

from __future__ import annotations

import asyncio
import logging
import struct

from algotrader.ibsim import protocol as P

log = logging.getLogger("algotrader.ibsim")


class ClientSession:
    """One client connection: its socket, clientId and subscriptions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.positions_subscribed = False
        self.account_updates_subscribed = False
        self.multi_req_ids: set[int] = set()
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

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()
