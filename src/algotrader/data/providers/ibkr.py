"""Bars and instruments from Interactive Brokers (TWS / IB Gateway, or ``algotrader ib-sim``).

:class:`IbkrProvider` is the ``--source ibkr`` provider. It talks to the gateway through
``ib_async`` and turns a window ``[start, end)`` into requests IB accepts:

* **Qualify.** ``Stock(symbol, "SMART", "USD")`` is resolved with ``reqContractDetails``: conId,
  primary exchange, long name and time zone go into the ``instruments`` row. An unknown symbol
  is one line (IB's error 200).
* **Chunk.** History is walked backwards from ``end`` with explicit UTC end times
  (``yyyymmdd-hh:mm:ss``), each request no longer than IB allows for the bar size
  (:data:`~algotrader.timeframes.IB_MAX_DURATION`), sized in calendar units (S, W, M, Y) so that
  consecutive chunks meet exactly. ``reqHeadTimeStamp`` bounds how far back to go; an empty chunk
  (162 "no data") ends the walk. ``useRTH=True``, ``whatToShow=TRADES``; intraday bars use
  ``formatDate=2`` (UTC epoch), daily bars arrive as dates and are keyed 00:00 UTC, weekly bars by
  their Monday. Chunks are trimmed to the window, their edges de-duplicated, ``-1`` volumes (IB's
  "not available") become 0, and each chunk is validated.
* **Pace.** Every historical request of the process goes through one :class:`HistoricalPacer`
  (IB's rules: no identical request within 15 s, fewer than 6 per contract within 2 s, and at
  most 60 per 10 minutes for bars of 30 s or less; all configurable).
* **Retry.** Pacing violations, timeouts and dropped connections are retried with exponential
  back-off (:class:`RetryPolicy`), reconnecting as needed; when the attempts run out the error is
  one :class:`~algotrader.errors.UserError` line.
* **Concurrency.** :meth:`IbkrProvider.ingest_many` ingests several symbols at once over one
  connection and one pacer (at most ``concurrency`` in flight); each chunk is committed as it
  arrives. ``algotrader ingest -s AAPL,MSFT --source ibkr`` uses it.

The blocking methods (:meth:`~IbkrProvider.describe`, :meth:`~IbkrProvider.iter_bars`,
:meth:`~IbkrProvider.fetch_bars`) run the async code on the provider's own event loop, which
keeps the connection open between calls; no ``nest_asyncio`` is involved. Inside a running event
loop use the ``a``-prefixed coroutines instead. Close the provider (or use ``with``) when done::

    with IbkrProvider(load_settings()) as ibkr:
        bars = ibkr.fetch_bars("AAPL", "1d", datetime(2020, 1, 1), datetime(2025, 1, 1))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Hashable,
    Iterator,
)
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import pandas as pd

from algotrader.config import Settings
from algotrader.data.providers.base import InstrumentInfo, as_resolution, as_utc, normalise_symbol
from algotrader.data.validation import validate_bars
from algotrader.errors import DataNotFoundError, GatewayUnavailableError, UserError
from algotrader.frames import INDEX_NAME, empty_bars
from algotrader.timeframes import IB_MAX_DURATION, Duration, Resolution

if TYPE_CHECKING:
    from ib_async import IB, BarData, Contract, ContractDetails


log = logging.getLogger(__name__)

T = TypeVar("T")

WHAT_TO_SHOW = "TRADES"
# Informational codes IB also sends with a request id; they never decide a request's fate.
_WARNING_CODES = frozenset({165, 2174}) | frozenset(range(2100, 2200))


# -- pacing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PacingRules:
    """IB's historical-data pacing rules (``historical_limitations`` in IB's API docs).

    - ``max_requests`` per ``window`` seconds: IB enforces 60 per 10 minutes for bars of
      ``window_max_bar_seconds`` (30 s) or less; raise ``window_max_bar_seconds`` to apply it to
      larger bars too (IB "lifted" it there but still throttles heavy users).
    - ``identical_interval``: no identical request (same contract, end, duration, bar size,
      what to show) within this many seconds.
    - fewer than ``per_contract_max + 1`` requests for one contract within
      ``per_contract_window`` seconds (IB: 6 or more within 2 s is a violation).
    """

    max_requests: int = 60
    window: float = 600.0
    window_max_bar_seconds: int = 30
    identical_interval: float = 15.0
    per_contract_max: int = 5
    per_contract_window: float = 2.0


class HistoricalPacer:
    """One gate for every historical request of a process, so IB never sees a violation.

    ``await pacer.acquire(request_key, contract_key, bar_seconds)`` waits until the request may
    be sent under :class:`PacingRules` and records it. After a violation (the server's own view
    of the window disagrees with ours: other programs on the same account count too)
    :meth:`hold` pauses every caller. State is guarded by a thread lock, not an asyncio one, so
    one pacer serves any number of event loops (each blocking provider call runs its own).
    ``clock`` and ``sleep`` are injectable for deterministic tests.
    """

    def __init__(
        self,
        rules: PacingRules | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rules = rules or PacingRules()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # requests that count towards the window rule
        self._by_contract: dict[Hashable, deque[float]] = {}
        self._last_identical: dict[Hashable, float] = {}
        self._held_until = 0.0
        self.requests = 0
        self.waited = 0.0

    def delay(self, request_key: Hashable, contract_key: Hashable, bar_seconds: int) -> float:
        """Seconds to wait before this request may go out (0: now). Records nothing."""
        with self._lock:
            return self._delay(self._clock(), request_key, contract_key, bar_seconds)

    def _delay(
        self, now: float, request_key: Hashable, contract_key: Hashable, bar_seconds: int
    ) -> float:
        r = self.rules
        self._expire(now)
        wait = self._held_until - now
        last = self._last_identical.get(request_key)
        if last is not None:
            wait = max(wait, last + r.identical_interval - now)
        recent = self._by_contract.get(contract_key)
        if recent is not None and len(recent) >= r.per_contract_max:
            wait = max(wait, recent[-r.per_contract_max] + r.per_contract_window - now)
        if bar_seconds <= r.window_max_bar_seconds and len(self._sent) >= r.max_requests:
            wait = max(wait, self._sent[-r.max_requests] + r.window - now)
        return max(wait, 0.0)

    def _expire(self, now: float) -> None:
        r = self.rules
        while self._sent and now - self._sent[0] >= r.window:
            self._sent.popleft()
        for key, recent in list(self._by_contract.items()):
            while recent and now - recent[0] >= r.per_contract_window:
                recent.popleft()
            if not recent:
                del self._by_contract[key]
        stale = [k for k, t in self._last_identical.items() if now - t >= r.identical_interval]
        for key in stale:
            del self._last_identical[key]

    async def acquire(
        self, request_key: Hashable, contract_key: Hashable, bar_seconds: int
    ) -> float:
        """Wait for a slot and take it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay(now, request_key, contract_key, bar_seconds)
                if wait <= 0:
                    self._last_identical[request_key] = now
                    self._by_contract.setdefault(contract_key, deque()).append(now)
                    if bar_seconds <= self.rules.window_max_bar_seconds:
                        self._sent.append(now)
                    self.requests += 1
                    self.waited += waited
                    return waited
            # Sleep outside the lock; another caller may take the slot first, so re-check.
            await self._sleep(wait)
            waited += wait

    def hold(self, seconds: float) -> None:
        """Let no request out for ``seconds`` (after IB reported a pacing violation)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)


_SHARED_PACER = HistoricalPacer()


def shared_pacer() -> HistoricalPacer:
    """The process-wide pacer every :class:`IbkrProvider` uses unless given its own."""
    return _SHARED_PACER


# -- retries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one request: ``attempts`` in all, waiting ``base_delay * factor**(n-1)``
    (at most ``max_delay``) after the n-th failure. ``request_timeout`` bounds one historical
    request (IB answers long 1-minute requests in seconds, or never)."""

    attempts: int = 5
    base_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 120.0
    request_timeout: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_delay, self.base_delay * self.factor ** max(failures - 1, 0)))


class _Retry(Exception):
    """A failure worth another attempt (pacing, timeout, lost connection)."""

    def __init__(self, reason: str, *, pacing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pacing = pacing


# -- chunk planning ----------------------------------------------------------------------------

_MAX_UNITS = {"W": 52, "M": 11}  # beyond these, the next larger unit is used


def _max_in(unit: str, limit: Duration) -> int:
    """How many ``unit``s fit in the IB limit ``limit`` (0: the unit is too large)."""
    if unit == limit.unit:
        return limit.count
    per = Duration(1, unit).approx_seconds
    return int(limit.approx_seconds // per)


def plan_duration(cursor: datetime, start: datetime, resolution: Resolution) -> Duration:
    """The ``durationStr`` of the request ending at ``cursor``: the shortest that reaches back to
    ``start``, or the longest IB allows for the bar size when ``start`` is further away.

    Only calendar units are used (S, W, M, Y: ``D`` counts trading days and would make chunk
    edges depend on the exchange calendar), so the next chunk can end exactly where this one
    began (``duration.start_before(cursor)``).

    >>> from algotrader.timeframes import parse_resolution
    >>> plan_duration(datetime(2024, 6, 14), datetime(2024, 6, 9), parse_resolution("1m")).ib_str
    '1 W'
    """
    limit = IB_MAX_DURATION.get(resolution.ib_bar_size, Duration(1, "Y"))
    span = (cursor - start).total_seconds()
    if resolution.is_intraday and span <= 86_400:
        # Never shorter than one bar: IB refuses a duration below the bar size.
        seconds = max(math.ceil(span), resolution.seconds, 60)
        if seconds <= limit.approx_seconds:
            return Duration(seconds, "S")
    for unit in ("W", "M", "Y"):
        most = min(_max_in(unit, limit), _MAX_UNITS.get(unit, 10**6))
        for n in range(1, most + 1):
            candidate = Duration(n, unit)
            if candidate.start_before(cursor) <= start:
                return candidate
    return limit


def ib_end(moment: datetime) -> str:
    """IB's explicit-UTC end time, ``yyyymmdd-hh:mm:ss`` (no zone ambiguity, no warning 2174)."""
    return moment.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


def bars_to_frame(bars: list[BarData], resolution: Resolution) -> pd.DataFrame:
    """IB bars -> an unvalidated bar frame keyed as the rest of the platform keys bars.

    Daily bars arrive as dates (session date -> 00:00 UTC), weekly ones are keyed by their
    Monday, intraday ones (``formatDate=2``) as UTC datetimes. IB's ``-1`` volume means "not
    available" (MIDPOINT and friends) and becomes 0.
    """
    if not bars:
        return empty_bars()
    first = bars[0].date
    if isinstance(first, datetime):
        index = pd.DatetimeIndex(pd.to_datetime([b.date for b in bars], utc=True))
    else:
        # Days since 1970-01-01 (ordinal 719163), vectorised: a 5 Y history is ~1,300 dates.
        days = np.fromiter((cast(date, b.date).toordinal() for b in bars), np.int64, len(bars))
        days -= 719_163
        if resolution.seconds >= 7 * 86_400:
            days -= (days + 3) % 7  # back to Monday (1970-01-01 was a Thursday)
        index = pd.DatetimeIndex(pd.to_datetime(days * 86_400, unit="s", utc=True))
    index = index.as_unit("us").rename(INDEX_NAME)
    frame = pd.DataFrame(
        {
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [max(float(b.volume), 0.0) for b in bars],
        },
        index=index,
        dtype="float64",
    )
    # Overlapping requests or a repeated bar: keep the last copy IB sent.
    return frame[~frame.index.duplicated(keep="last")].sort_index()


# -- the connection ----------------------------------------------------------------------------


@dataclass
class _Qualified:
    contract: Contract
    info: InstrumentInfo
    head: datetime | None = None
    head_known: bool = False


@dataclass
class _Session:
    """One ``ib_async`` connection shared by all requests of a provider, reconnected on demand.

    Lives on one event loop (the provider's). Errors IB sends for a request id are collected by
    ``errorEvent`` so a failed request can be told apart: 162 pacing, 162 no data, 200 unknown
    contract, or anything else.
    """

    settings: Settings
    pacer: HistoricalPacer
    retry: RetryPolicy
    client_id: int | None = None
    ib: IB | None = None
    errors: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    contracts: dict[str, _Qualified] = field(default_factory=dict)
    generation: int = 0
    reconnects: int = 0
    sent: int = 0  # historical requests sent, retries included
    _stack: contextlib.AsyncExitStack | None = None
    _lock: asyncio.Lock | None = None

    @property
    def where(self) -> str:
        return f"{self.settings.ib_host}:{self.settings.ib_port}"

    def _on_error(self, req_id: int, code: int, text: str, contract: object = None) -> None:
        if req_id >= 0 and code not in _WARNING_CODES:
            self.errors.setdefault(req_id, []).append((code, text))

    async def connect(self) -> IB:
        """The connected ``IB``: connects on first use and after a dropped connection."""
        if self.ib is not None and self.ib.isConnected():
            return self.ib
        if self._lock is None:
            self._lock = asyncio.Lock()
        generation = self.generation
        async with self._lock:
            if self.generation != generation and self.ib is not None and self.ib.isConnected():
                return self.ib  # another task reconnected while this one waited
            await self.close()
            from algotrader.ibkr.connection import connect_ib

            stack = contextlib.AsyncExitStack()
            ib = await stack.enter_async_context(
                connect_ib(self.settings, client_id=self.client_id, readonly=True)
            )
            ib.errorEvent += self._on_error
            if self.generation:
                self.reconnects += 1
                log.info("reconnected to IBKR at %s", self.where)
            self.ib, self._stack = ib, stack
            self.generation += 1
            return ib

    async def close(self) -> None:
        stack, self._stack, self.ib = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def attempt(self, what: str, op: Callable[[IB], Awaitable[T]]) -> T:
        """``await op(ib)`` with retries: :class:`_Retry`, lost connections and an unreachable
        gateway are retried with back-off; anything else propagates at once."""
        failures = 0
        while True:
            try:
                ib = await self.connect()
                return await op(ib)
            except _Retry as exc:
                reason, pacing = exc.reason, exc.pacing
            except ConnectionError as exc:
                reason, pacing = f"connection lost ({exc or 'socket closed'})", False
                await self.close()
            except GatewayUnavailableError as exc:
                if self.generation == 0:
                    raise  # never connected: the gateway is simply not there
                reason, pacing = exc.problem, False
            failures += 1
            if failures >= self.retry.attempts:
                raise UserError(
                    f"IBKR {what} failed after {failures} attempts (last: {reason})",
                    f"check TWS/IB Gateway at {self.where} and run the same command again; "
                    "bars already fetched are stored",
                )
            pause = self.retry.delay(failures)
            if pacing:
                self.pacer.hold(pause)  # the whole process backs off, not just this request
            log.warning("IBKR %s: %s; retry %d in %.1fs", what, reason, failures, pause)
            await asyncio.sleep(pause)

    def take_error(self, req_id: int) -> tuple[int, str] | None:
        found = self.errors.pop(req_id, None)
        return found[-1] if found else None

    async def qualify(self, symbol: str) -> _Qualified:
        known = self.contracts.get(symbol)
        if known is not None:
            return known
        from ib_async import Stock

        async def op(ib: IB) -> list[ContractDetails]:
            before = set(self.errors)
            details = await asyncio.wait_for(
                ib.reqContractDetailsAsync(Stock(symbol, "SMART", "USD")),
                self.retry.request_timeout,
            )
            if not details:
                # The request id is internal to ib_async: take the error that arrived meanwhile.
                new = [self.errors.pop(k)[-1] for k in set(self.errors) - before]
                code = new[-1][0] if new else 200
                raise DataNotFoundError(
                    f"IBKR has no contract for {symbol!r} (error {code}: no US stock by that "
                    "symbol on SMART)",
                    "check the ticker (e.g. BRK B for Berkshire class B) or use --source synthetic",
                )
            return list(details)

        try:
            details = await self.attempt(f"contract lookup of {symbol}", op)
        except TimeoutError:
            raise UserError(
                f"IBKR did not answer the contract lookup of {symbol} within "
                f"{self.retry.request_timeout:g}s",
                f"check TWS/IB Gateway at {self.where}",
            ) from None
        best = details[0]
        contract = best.contract
        assert contract is not None
        contract.exchange = "SMART"  # route through SMART, as requested
        info = InstrumentInfo(
            symbol=symbol,
            sec_type=contract.secType or "STK",
            exchange="SMART",
            primary_exchange=contract.primaryExchange or None,
            currency=contract.currency or "USD",
            con_id=int(contract.conId) if contract.conId else None,
            name=best.longName or None,
            timezone=best.timeZoneId or None,
        )
        qualified = _Qualified(contract, info)
        self.contracts[symbol] = qualified
        return qualified

    async def head_timestamp(self, q: _Qualified) -> datetime | None:
        """The earliest bar IB has (UTC), or ``None`` when it has none."""
        if q.head_known:
            return q.head

        async def op(ib: IB) -> datetime | None:
            try:
                head = await asyncio.wait_for(
                    ib.reqHeadTimeStampAsync(q.contract, WHAT_TO_SHOW, True, 2),
                    self.retry.request_timeout,
                )
            except TimeoutError:
                raise _Retry("no head timestamp in time") from None
            if not isinstance(head, datetime):
                return None  # 162 no data (the request ended without a value)
            return head if head.tzinfo else head.replace(tzinfo=UTC)

        q.head = await self.attempt(f"head timestamp of {q.info.symbol}", op)
        q.head_known = True
        return q.head

    async def bars(
        self, q: _Qualified, end: datetime, duration: Duration, resolution: Resolution
    ) -> list[BarData] | None:
        """One ``reqHistoricalData`` (paced, retried); ``None`` when IB has no bars there."""
        end_text = ib_end(end)
        key = (q.contract.conId, end_text, duration.ib_str, resolution.ib_bar_size, WHAT_TO_SHOW)
        timeout = self.retry.request_timeout

        async def op(ib: IB) -> list[BarData] | None:
            await self.pacer.acquire(key, q.contract.conId, resolution.seconds)
            self.sent += 1
            started = time.monotonic()
            result = await ib.reqHistoricalDataAsync(
                q.contract,
                end_text,
                duration.ib_str,
                resolution.ib_bar_size,
                WHAT_TO_SHOW,
                True,
                formatDate=2 if resolution.is_intraday else 1,
                timeout=timeout,
            )
            error = self.take_error(result.reqId)
            if len(result):
                return list(result)
            if error is None:
                if time.monotonic() - started >= timeout * 0.99:
                    raise _Retry(f"no answer within {timeout:g}s")
                return None  # an empty answer without an error: nothing there
            code, text = error
            lowered = text.lower()
            if code == 162 and "pacing" in lowered:
                raise _Retry("pacing violation (error 162)", pacing=True)
            if code == 162 and "no data" in lowered:
                return None
            if code in (162, 366) and "cancel" in lowered:
                raise _Retry(f"request cancelled by IB (error {code})")
            if code == 200:
                raise DataNotFoundError(
                    f"IBKR has no contract for {q.info.symbol!r} (error 200)", "check the ticker"
                )
            raise UserError(
                f"IBKR refused {resolution.ib_bar_size} bars of {q.info.symbol} ending "
                f"{end_text} UTC for {duration.ib_str} (error {code}: {text})",
                "check the market-data permissions of the account, or use another resolution",
            )

        what = f"request for {resolution.ib_bar_size} bars of {q.info.symbol} ending {end_text}"
        return await self.attempt(what, op)


# -- the provider ------------------------------------------------------------------------------


class IbkrProvider:
    """Bars and instrument facts from TWS / IB Gateway (see the module docstring).

    ``settings`` gives host, port, clientId and connect timeout. ``pacer`` defaults to the
    process-wide :func:`shared_pacer`; ``retry`` to :class:`RetryPolicy`; ``concurrency`` bounds
    how many symbols :meth:`ingest_many` fetches at once. ``name``/``label`` say what the bars are
    stored and shown as (``ibsim`` for the simulator's synthetic bars).
    """

    name = "ibkr"
    label = "IBKR"
    streams_chunks = True
    # iter_bars drives the provider's own event loop from the calling thread: one at a time.
    max_concurrency = 1

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
        self._session = _Session(settings, self.pacer, self.retry, client_id)
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
        await self._session.close()
        await asyncio.sleep(0)  # let the transport finish closing on this loop

    @property
    def requests(self) -> int:
        """Historical-bar requests this provider has sent (retries included)."""
        return self._session.sent

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established after being lost."""
        return self._session.reconnects

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
        return (await self._session.qualify(normalise_symbol(symbol))).info

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
        hi = min(hi, datetime.now(UTC) + timedelta(days=1))  # IB has no future
        q = await self._session.qualify(symbol)
        if plan_duration(hi, lo, res).start_before(hi) > lo:
            # Several requests: the head timestamp stops the walk where IB's history begins. (One
            # request needs no bound, and skipping it saves two messages per symbol against
            # ib_async's 45-messages-per-second client throttle.)
            head = await self._session.head_timestamp(q)
            if head is None:
                return
            # Daily/weekly bars are keyed at 00:00 UTC of the session date: the first bar IB
            # has is keyed at or before its head timestamp's date.
            floor = pd.Timestamp(head).floor("D").to_pydatetime() if not res.is_intraday else head
            lo = max(lo, floor)
        cursor = hi
        oldest: pd.Timestamp | None = None  # the earliest bar already yielded
        while cursor > lo:
            duration = plan_duration(cursor, lo, res)
            bars = await self._session.bars(q, cursor, duration, res)
            if bars is None:
                break  # IB has nothing further back
            frame = bars_to_frame(bars, res)
            index = frame.index
            keep = (index >= pd.Timestamp(lo)) & (index < pd.Timestamp(hi))
            if oldest is not None:
                keep &= index < oldest
            frame = frame[keep]
            if len(frame):
                oldest = frame.index[0]
                yield validate_bars(frame)
            cursor = duration.start_before(cursor)


async def _next_or_none(agen: AsyncIterator[T]) -> T | None:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return None


__all__ = [
    "HistoricalPacer",
    "IbkrProvider",
    "PacingRules",
    "RetryPolicy",
    "bars_to_frame",
    "ib_end",
    "plan_duration",
    "shared_pacer",
]
