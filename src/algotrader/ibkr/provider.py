"""Bars and instruments from Interactive Brokers (TWS / IB Gateway, or ``algotrader ib-sim``).

:class:`IbkrProvider` is the ``--source ibkr`` provider: contracts are qualified by
:mod:`algotrader.ibkr.contracts`, history is walked, paced and retried by
:mod:`algotrader.ibkr.history`, over one :class:`~algotrader.ibkr.connection.IbConnection`.

``ib_async`` runs on one event loop in a background thread owned by the provider; the blocking
methods hand their work to it, so several threads may call them at once (up to
:attr:`IbkrProvider.max_concurrency` series in flight) over the one connection. Close the
provider (or use ``with``) when done::

    with IbkrProvider(load_settings()) as ibkr:
        bars = ibkr.fetch_bars("AAPL", "1d", datetime(2020, 1, 1), datetime(2025, 1, 1))

Bars from ``algotrader ib-sim`` are synthetic: once connected to the simulator (it identifies
itself, see :func:`~algotrader.ibkr.connection.is_simulator`) the provider's ``name`` becomes
``ibsim`` and its label says so, whatever it was built as.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd

from algotrader.config import Settings
from algotrader.data.providers.base import InstrumentInfo, as_resolution, as_utc, normalise_symbol
from algotrader.data.validation import validate_bars
from algotrader.errors import UserError
from algotrader.frames import empty_bars
from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.contracts import ContractBook, QualifiedStock
from algotrader.ibkr.history import HistoricalPacer, HistoryClient, RetryPolicy, shared_pacer
from algotrader.timeframes import Resolution

log = logging.getLogger(__name__)

T = TypeVar("T")

_POLL_SECONDS = 0.25  # how soon a waiting caller notices that the provider was closed
_STOP_SECONDS = 30.0  # an upper bound for disconnecting, never reached in normal operation
SIMULATOR_NAME = "ibsim"
SIMULATOR_LABEL = "the IBKR simulator (synthetic data)"


class _LoopThread:
    """One asyncio event loop running in a daemon thread; coroutines come from any thread.

    Once :meth:`stop` has begun, every call still waiting (and every later one) ends with one
    "interrupted" line: nothing waits on a loop that will not run again.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stopped = False
        self._thread = threading.Thread(target=self._run, name="ibkr-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it (Ctrl-C cancels it)."""
        if self.stopped:
            coro.close()
            raise _interrupted()
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            while True:
                try:
                    return future.result(timeout=_POLL_SECONDS)
                except TimeoutError:
                    if future.done():
                        raise  # the coroutine's own TimeoutError
                    if self.stopped:
                        raise _interrupted() from None
        except concurrent.futures.CancelledError:
            raise _interrupted() from None
        except BaseException:
            future.cancel()
            raise

    def stop(self, last: Coroutine[Any, Any, None]) -> None:
        """Cancel what still runs (its callers get "interrupted"), run ``last``, stop."""
        self.stopped = True

        async def wind_down() -> None:
            mine = asyncio.current_task()
            others = [t for t in asyncio.all_tasks() if t is not mine]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            with contextlib.suppress(Exception):
                await last

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(wind_down(), self.loop).result(_STOP_SECONDS)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_STOP_SECONDS)
        if not self._thread.is_alive():
            self.loop.close()


def _interrupted() -> UserError:
    return UserError("interrupted", "run the same command again")


class IbkrProvider:
    """Bars and instrument facts from TWS / IB Gateway (see the module docstring).

    ``settings`` gives host, port, clientId and timeouts. ``pacer`` defaults to the process-wide
    :func:`~algotrader.ibkr.history.shared_pacer`; ``retry`` to
    :class:`~algotrader.ibkr.history.RetryPolicy`. ``name``/``label`` say what the bars are
    stored and shown as (``ibsim`` for the simulator's synthetic bars, also found out by
    connecting). ``max_concurrency`` is how many :meth:`iter_bars` calls may run at once from
    different threads.
    """

    name: str
    label: str
    max_concurrency: int
    # Slow, paced requests walking back in time: the pipeline commits each chunk as it arrives.
    streams_chunks = True

    def __init__(
        self,
        settings: Settings,
        *,
        pacer: HistoricalPacer | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 4,
        client_id: int | None = None,
        name: str = "ibkr",
        label: str = "IBKR",
    ) -> None:
        self.name, self.label = name, label
        self.max_concurrency = max(1, max_concurrency)
        self.settings = settings
        self.pacer = pacer or shared_pacer()
        self.retry = retry or RetryPolicy()
        self._conn = IbConnection(settings, client_id)
        self._contracts = ContractBook(self._conn, self.retry)
        self._history = HistoryClient(self._conn, self.pacer, self.retry)
        self._thread: _LoopThread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> IbkrProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect and stop the provider's event loop; calls still running end with one
        "interrupted" line. The provider connects again if used after this."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop(self._conn.close())

    @property
    def requests(self) -> int:
        """Historical-bar requests this provider has sent (retries included)."""
        return self._history.sent

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established after being lost."""
        return self._conn.reconnects

    def _loop(self) -> _LoopThread:
        """The provider's event loop thread (started on first use, and after :meth:`close`)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "IbkrProvider's blocking methods would block this event loop; call them from "
                "a worker thread, e.g. await asyncio.to_thread(provider.fetch_bars, ...)"
            )
        with self._lock:
            if self._thread is None:
                self._thread = _LoopThread()
            return self._thread

    # -- BarProvider --------------------------------------------------------------------------

    def describe(self, symbol: str) -> InstrumentInfo:
        """The ``instruments`` row of ``symbol`` as IB qualifies it (one line if unknown)."""
        return self._loop().run(self._qualify(normalise_symbol(symbol))).info

    async def _qualify(self, symbol: str) -> QualifiedStock:
        stock = await self._contracts.qualify(symbol)
        if self._conn.simulator and self.name != SIMULATOR_NAME:
            log.info("%s is the IBKR simulator: its bars are stored as %r", self._conn.where,
                     SIMULATOR_NAME)
            self.name, self.label = SIMULATOR_NAME, SIMULATOR_LABEL
        return stock

    def fetch_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime,
        end: datetime,
    ) -> pd.DataFrame:
        """All validated bars of ``symbol`` in ``[start, end)`` (empty frame when none)."""
        walk = self._walk(normalise_symbol(symbol), as_resolution(resolution),
                          as_utc(start, "start").to_pydatetime(),
                          as_utc(end, "end").to_pydatetime())
        # One hand-over to the loop for the whole history (joined there too): threads waiting
        # on fetches then leave the loop the interpreter to itself.
        return self._loop().run(_joined(walk))

    def iter_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime,
        end: datetime,
    ) -> Iterator[pd.DataFrame]:
        """Validated chunks of ``[start, end)``, newest first, each yielded as it arrives.

        The ingest pipeline commits each chunk before the next request, so an interruption
        loses nothing already fetched. Several threads may iterate different series at once.
        """
        walk = self._walk(normalise_symbol(symbol), as_resolution(resolution),
                          as_utc(start, "start").to_pydatetime(),
                          as_utc(end, "end").to_pydatetime())
        thread = self._loop()  # one loop for the whole walk, even if the provider is reopened
        try:
            while (chunk := thread.run(_next_or_none(walk))) is not None:
                yield chunk
        finally:
            if not thread.stopped:
                with contextlib.suppress(UserError, RuntimeError):
                    thread.run(walk.aclose())

    async def _walk(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> AsyncGenerator[pd.DataFrame, None]:
        stock = await self._qualify(symbol)
        async for chunk in self._history.walk(stock, resolution, start, end):
            yield chunk


async def _joined(walk: AsyncIterator[pd.DataFrame]) -> pd.DataFrame:
    chunks = [chunk async for chunk in walk]
    if not chunks:
        return empty_bars()
    return validate_bars(pd.concat(chunks[::-1]))


async def _next_or_none(agen: AsyncIterator[T]) -> T | None:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return None


__all__ = ["SIMULATOR_LABEL", "SIMULATOR_NAME", "IbkrProvider"]
