"""Running a simulator: in a background thread (for blocking-API callers) or in the foreground
(``algotrader ib-sim``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future as ConcurrentFuture
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

import pandas as pd

from algotrader.ibsim.config import Faults, SimConfig, SimulatorError
from algotrader.ibsim.history import BarProvider
from algotrader.ibsim.server import IBSimulator

T = TypeVar("T")


class SimulatorThread:
    """A simulator on its own event loop in a daemon thread, for blocking-API callers.

    ``host``/``port`` are where to connect; :meth:`call` runs a function on the simulator's loop
    (e.g. ``handle.call(lambda: handle.sim.set_price("AAPL", 150))``); :meth:`stop` shuts it down
    and, in strict mode, raises :class:`SimulatorError` for unhandled traffic.
    """

    def __init__(self, config: SimConfig | None = None, provider: BarProvider | None = None):
        self.sim = IBSimulator(config, provider)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ibsim", daemon=True)

    @property
    def host(self) -> str:
        return self.sim.host

    @property
    def port(self) -> int:
        return self.sim.port

    def start(self, timeout: float = 30.0) -> SimulatorThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SimulatorError("ibsim did not start in time")
        if self._error is not None:
            raise SimulatorError(f"ibsim failed to start: {self._error!r}") from self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.sim.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        try:
            await self.sim.stop()
        except BaseException as exc:
            self._error = exc

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn()`` on the simulator's loop and return its result."""
        async def run() -> T:
            return fn()

        future: ConcurrentFuture[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    # -- the replay feed (SimConfig.feed) ----------------------------------------------------

    def advance(self, n: int = 1, timeout: float = 60.0) -> datetime:
        """Complete the next ``n`` feed bars (thread-safe); returns the start (UTC) of the last
        bar completed, once every message it caused has been written to the sockets."""
        future = asyncio.run_coroutine_threadsafe(self.sim.advance(n), self._loop)
        return future.result(timeout)

    @property
    def feed_time(self) -> datetime:
        """The forming bar's start (UTC), the simulator's "now"."""
        return self.call(lambda: self.sim.feed_time)

    def feed_bars(self, symbol: str) -> pd.DataFrame:
        """The bars of ``symbol`` completed so far, as the feed released them."""
        return self.call(lambda: self.sim.feed_bars(symbol))

    @property
    def orders_received(self) -> int:
        """``placeOrder`` messages received so far (what ``Faults.reject_orders`` counts): a
        step-mode controller can wait for a client's orders before the next ``advance``."""
        return self.call(lambda: self.sim.orders.received)

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive() and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout)
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, SimulatorError):
                raise error
            raise SimulatorError(f"ibsim failed: {error!r}") from error

    def __enter__(self) -> SimulatorThread:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.stop()
        else:
            with contextlib.suppress(SimulatorError):
                self.stop()


def start_in_thread(
    config: SimConfig | None = None, provider: BarProvider | None = None
) -> SimulatorThread:
    """Start a simulator in a background thread; returns once it is listening."""
    return SimulatorThread(config, provider).start()


async def serve_async(
    config: SimConfig, provider: BarProvider | None = None,
    on_ready: Callable[[IBSimulator], None] | None = None,
) -> None:
    """Run a simulator until cancelled (Ctrl-C) or, on Unix, until SIGTERM."""
    sim = IBSimulator(config, provider)
    await sim.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Only possible from the main thread on Unix; elsewhere cancellation is the only way out.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        if on_ready is not None:
            on_ready(sim)
        await stopped.wait()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
        await sim.shutdown()


def serve(
    host: str = "127.0.0.1",
    port: int = 7497,
    *,
    account: str = "DU1234567",
    faults: Faults | None = None,
    strict: bool = False,
    config: SimConfig | None = None,
    provider: BarProvider | None = None,
    on_ready: Callable[[IBSimulator], None] | None = None,
) -> None:
    """Run a simulator in the foreground until Ctrl-C (``algotrader ib-sim``).

    Not strict by default: a long-running simulator logs what it does not handle rather than
    hanging up on the client.
    """
    base = config or SimConfig()
    cfg = replace(base, host=host, port=port, account=account, strict=strict,
                  faults=faults if faults is not None else base.faults)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_async(cfg, provider, on_ready))
