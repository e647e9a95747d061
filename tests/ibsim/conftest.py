"""Shared helpers for the simulator tests: a fixed clock, a real ib_async client, a raw socket.

Everything runs on real loopback sockets with ephemeral ports. Each test drives its own event
loop with ``asyncio.run``; no pytest plugins.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from ib_async import IB
from ib_async.client import Client
from ib_async.decoder import Decoder

from algotrader.ibsim import FeedConfig, IBSimulator, SimConfig
from algotrader.ibsim.protocol import split_payload

# A Friday evening after the close: every weekday session before it is complete, so the synthetic
# provider has all the bars the tests ask for, and nothing depends on when the tests run.
FIXED_NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)


def _fixed_now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def fixed_now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def make_config() -> Callable[..., SimConfig]:
    """``make_config(**overrides)``: a strict config on the fixed clock with fast ticks."""

    def make(**overrides: Any) -> SimConfig:
        return replace(SimConfig(clock=_fixed_now, tick_interval=0.02), **overrides)

    return make


# The Monday of the fixed week: a replay starting then has whole sessions of 1-minute bars.
FEED_START = datetime(2024, 6, 10, tzinfo=UTC)


@pytest.fixture
def feed_config(make_config: Callable[..., SimConfig]) -> Callable[..., SimConfig]:
    """``feed_config(symbols=("AAPL",), history_bars=30, speed=None, **sim_overrides)``: a strict
    config replaying synthetic 1-minute bars from :data:`FEED_START`, in step mode by default."""

    def make(symbols: tuple[str, ...] = ("AAPL",), history_bars: int = 30,
             speed: float | None = None, bar_size: str = "1m", **overrides: Any) -> SimConfig:
        feed = FeedConfig(symbols, bar_size, history_bars=history_bars, speed=speed,
                          start=FEED_START)
        return make_config(feed=feed, **overrides)

    return make


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``predicate`` (polling); the timeout only guards against a hang."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


Body = Callable[[IBSimulator, IB], Awaitable[Any]]


@pytest.fixture
def run_with_ib(make_config: Callable[..., SimConfig]) -> Callable[..., Any]:
    """``run_with_ib(body, config=None, connect=True)``: run ``await body(sim, ib)``.

    The simulator is strict, so anything it does not handle fails the test when it stops.
    """

    def run(body: Body, config: SimConfig | None = None, connect: bool = True,
            client_id: int = 1, timeout: float = 15.0) -> Any:
        async def main() -> Any:
            async with IBSimulator(config or make_config()) as sim:
                ib = IB()
                try:
                    if connect:
                        await ib.connectAsync(sim.host, sim.port, clientId=client_id, timeout=2)
                    return await asyncio.wait_for(body(sim, ib), timeout)
                finally:
                    ib.disconnect()
                    await asyncio.sleep(0.01)  # let the transports close before the loop ends

        return asyncio.run(main())

    return run


class _Recorder:
    """A wrapper for ``ib_async.decoder.Decoder`` that records every call with its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        # Decoder.execDetails reads these two attributes of the real Wrapper.
        self.ib = SimpleNamespace(TimezoneTWS=None)
        self.defaultTimezone = UTC

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__"):
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]


@pytest.fixture
def decode() -> Callable[[list[str]], list[tuple[str, tuple[Any, ...]]]]:
    """Decode one frame's fields with ib_async's own Decoder at v178; return the wrapper calls.

    Any exception inside the decoder (it logs rather than raises) fails the test.
    """

    def run(fields: list[str]) -> list[tuple[str, tuple[Any, ...]]]:
        recorder = _Recorder()
        decoder = Decoder(recorder, 178)  # type: ignore[arg-type]
        msg_id = int(fields[0])
        decoder.handlers[msg_id](list(fields))  # the handler itself, so errors propagate
        return recorder.calls

    return run


@pytest.fixture
def encode() -> Callable[..., bytes]:
    """``encode("reqHistoricalData", *args)``: the exact frame ib_async's Client would send."""

    def run(method: str, *args: Any) -> bytes:
        sent: list[str] = []
        client = Client(SimpleNamespace())
        client._serverVersion = 178
        client.connState = Client.CONNECTED
        client.clientId = 1  # startApi sends it
        client.sendMsg = sent.append  # type: ignore[method-assign]
        getattr(client, method)(*args)
        payload = sent[0].encode()
        return struct.pack(">I", len(payload)) + payload

    return run


class RawClient:
    """A bare TWS API client on a socket, for looking at the frames themselves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, versions: bytes = b"v157..178") -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"API\0" + struct.pack(">I", len(versions)) + versions)
        return cls(reader, writer)

    async def read(self, timeout: float = 2.0) -> list[str]:
        size = struct.unpack(">I", await asyncio.wait_for(self.reader.readexactly(4), timeout))[0]
        return split_payload(await asyncio.wait_for(self.reader.readexactly(size), timeout))

    async def read_until(self, msg_id: int, timeout: float = 2.0) -> list[list[str]]:
        """Frames up to and including the first with ``msg_id``."""
        frames = []
        while True:
            fields = await self.read(timeout)
            frames.append(fields)
            if int(fields[0]) == msg_id:
                return frames

    def send(self, frame: bytes) -> None:
        self.writer.write(frame)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
def raw_client() -> type[RawClient]:
    return RawClient
