"""Bars and instruments from Interactive Brokers (TWS / IB Gateway, or ``algotrader ib-sim``).

:class:`IbkrProvider` is the ``--source ibkr`` provider: contracts are qualified by
:mod:`algotrader.ibkr.contracts`, history is walked, paced and retried by
:mod:`algotrader.ibkr.history`, over one :class:`~algotrader.ibkr.connection.IbConnection`.

The blocking methods (:meth:`~IbkrProvider.describe`, :meth:`~IbkrProvider.iter_bars`,
:meth:`~IbkrProvider.fetch_bars`) run the async code on the provider's own event loop, which
keeps the connection open between calls. Close the provider (or use ``with``) when done::

    with IbkrProvider(load_settings()) as ibkr:
        bars = ibkr.fetch_bars("AAPL", "1d", datetime(2020, 1, 1), datetime(2025, 1, 1))
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future as ConcurrentFuture
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pandas as pd

from algotrader.config import Settings
from algotrader.data.providers.base import InstrumentInfo, as_resolution, as_utc, normalise_symbol
from algotrader.data.validation import validate_bars
from algotrader.errors import UserError
from algotrader.frames import empty_bars
from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.contracts import ContractBook
from algotrader.ibkr.history import HistoricalPacer, HistoryClient, RetryPolicy, shared_pacer
from algotrader.timeframes import Resolution

if TYPE_CHECKING:
    from algotrader.data.ingest import IngestReport, IngestWindow
    from algotrader.db.store import BarStore

T = TypeVar("T")


class IbkrProvider:
    """Bars and instrument facts from TWS / IB Gateway (see the module docstring).

    ``settings`` gives host, port, clientId and connect timeout. ``pacer`` defaults to the
    process-wide :func:`shared_pacer`; ``retry`` to :class:`RetryPolicy`; ``concurrency`` bounds
    how many symbols :meth:`ingest_many` fetches at once. ``name``/``label`` say what the bars are
    stored and shown as (``ibsim`` for the simulator's synthetic bars).
    """

    name = "ibkr"
    label = "IBKR"

    def __init__(
        self,
        settings: Settings,
        *,
        pacer: HistoricalPacer | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        client_id: int | None = None,
        name: str = "ibkr",
        label: str = "IBKR",
    ) -> None:
        self.name, self.label = name, label
        self.settings = settings
        self.pacer = pacer or shared_pacer()
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, concurrency)
        self._conn = IbConnection(settings, client_id)
        self._contracts = ContractBook(self._conn, self.retry)
        self._history = HistoryClient(self._conn, self.pacer, self.retry)
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> IbkrProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect and release the provider's event loop (it reconnects if used again)."""
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            loop.run_until_complete(self.aclose())
            loop.run_until_complete(loop.shutdown_default_executor())  # ingest_many's threads
        loop.close()

    async def aclose(self) -> None:
        """Disconnect (async API)."""
        await self._conn.close()
        await asyncio.sleep(0)  # let the transport finish closing on this loop

    @property
    def requests(self) -> int:
        """Historical-bar requests this provider has sent (retries included)."""
        return self._history.sent

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established after being lost."""
        return self._conn.reconnects

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise RuntimeError(
                "IbkrProvider's blocking methods cannot run inside a running event loop; "
                "await adescribe()/aiter_bars()/afetch_bars() instead"
            )
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    # -- BarProvider --------------------------------------------------------------------------

    def describe(self, symbol: str) -> InstrumentInfo:
        """The ``instruments`` row of ``symbol`` as IB qualifies it (one line if unknown)."""
        return self._run(self.adescribe(symbol))

    async def adescribe(self, symbol: str) -> InstrumentInfo:
        return (await self._contracts.qualify(normalise_symbol(symbol))).info

    def fetch_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime,
        end: datetime,
    ) -> pd.DataFrame:
        """All validated bars of ``symbol`` in ``[start, end)`` (empty frame when none)."""
        return self._run(self.afetch_bars(symbol, resolution, start, end))

    async def afetch_bars(
        self, symbol: str, resolution: Resolution | str, start: datetime, end: datetime
    ) -> pd.DataFrame:
        chunks = [c async for c in self.aiter_bars(symbol, resolution, start, end)]
        if not chunks:
            return empty_bars()
        return validate_bars(pd.concat(chunks[::-1]))

    def iter_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime,
        end: datetime,
    ) -> Iterator[pd.DataFrame]:
        """Validated chunks of ``[start, end)``, newest first, each yielded as it arrives.

        The ingest pipeline commits each chunk before the next request, so an interruption
        loses nothing already fetched.
        """
        agen = self.aiter_bars(symbol, resolution, start, end)
        try:
            while True:
                chunk = self._run(_next_or_none(agen))
                if chunk is None:
                    return
                yield chunk
        finally:
            if self._loop is not None and not self._loop.is_closed():
                self._run(agen.aclose())

    async def aiter_bars(
        self,
        symbol: str,
        resolution: Resolution | str,
        start: datetime,
        end: datetime,
    ) -> AsyncGenerator[pd.DataFrame, None]:
        """Async form of :meth:`iter_bars`."""
        symbol = normalise_symbol(symbol)
        res = as_resolution(resolution)
        lo = as_utc(start, "start").to_pydatetime()
        hi = as_utc(end, "end").to_pydatetime()
        stock = await self._contracts.qualify(symbol)
        async for chunk in self._history.walk(stock, res, lo, hi):
            yield chunk

    # -- several symbols ------------------------------------------------------------------------

    def ingest_many(
        self,
        store: BarStore,
        symbols: list[str],
        resolutions: list[Resolution],
        window: IngestWindow,
        *,
        on_start: Callable[[str, Resolution], None] | None = None,
        on_report: Callable[[IngestReport], None] | None = None,
    ) -> list[IngestReport]:
        """Ingest every (symbol, resolution), up to ``concurrency`` at once, over one connection.

        Fetching runs on the provider's event loop; each symbol's store work runs in a worker
        thread (``asyncio.to_thread``) that commits every chunk as it arrives (SQLite writers
        take turns). All symbols are attempted; the first failure is raised at the end, after
        ``on_report`` has seen every success. Reports come back in input order.
        """
        return self._run(
            self._ingest_many(store, symbols, resolutions, window, on_start, on_report)
        )

    async def _ingest_many(
        self,
        store: BarStore,
        symbols: list[str],
        resolutions: list[Resolution],
        window: IngestWindow,
        on_start: Callable[[str, Resolution], None] | None,
        on_report: Callable[[IngestReport], None] | None,
    ) -> list[IngestReport]:
        from algotrader.data.ingest import ingest_symbol

        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        bridge = _ThreadBridge(self, loop)
        # SQLite has one writer at a time; its busy handler cannot resolve a read-then-write
        # upgrade, so store calls take turns. PostgreSQL writes concurrently.
        shared: Any = store if store.db.is_postgres else _SerialStore(store)

        def run_one(symbol: str, resolution: Resolution) -> IngestReport:
            if on_start is not None:
                on_start(symbol, resolution)
            report = ingest_symbol(shared, bridge, symbol, resolution, window)
            if on_report is not None:
                on_report(report)
            return report

        async def one(symbol: str, resolution: Resolution) -> IngestReport:
            async with gate:
                return await asyncio.to_thread(run_one, symbol, resolution)

        jobs = [one(s, r) for s in symbols for r in resolutions]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return cast("list[IngestReport]", results)


async def _next_or_none(agen: AsyncIterator[T]) -> T | None:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return None


class _ThreadBridge:
    """A blocking BarProvider for worker threads whose requests run on the provider's loop."""

    def __init__(self, provider: IbkrProvider, loop: asyncio.AbstractEventLoop) -> None:
        self._provider = provider
        self._loop = loop
        self.name = provider.name
        self.label = provider.label

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future: ConcurrentFuture[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        while True:
            try:
                return future.result(timeout=0.5)
            except TimeoutError:
                if future.done():
                    raise  # the coroutine's own TimeoutError
                # Ctrl-C stops the loop: give up rather than wait forever (and block exit).
                if not self._loop.is_running():
                    future.cancel()
                    raise UserError("interrupted", "run the same command again") from None

    def describe(self, symbol: str) -> InstrumentInfo:
        return self._call(self._provider.adescribe(symbol))

    def fetch_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> pd.DataFrame:
        return self._call(self._provider.afetch_bars(symbol, resolution, start, end))

    def iter_bars(
        self, symbol: str, resolution: Resolution, start: datetime, end: datetime
    ) -> Iterator[pd.DataFrame]:
        agen = self._provider.aiter_bars(symbol, resolution, start, end)
        try:
            while (chunk := self._call(_next_or_none(agen))) is not None:
                yield chunk
        finally:
            with contextlib.suppress(UserError, RuntimeError):
                self._call(agen.aclose())


class _SerialStore:
    """A :class:`BarStore` whose calls from several threads take turns."""

    def __init__(self, store: BarStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


__all__ = [
    "IbkrProvider",
]
