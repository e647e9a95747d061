"""Historical bars from IB: pacing, retries, chunk planning and the backwards walk.

* **Chunk.** History is walked backwards from ``end`` with explicit UTC end times
  (``yyyymmdd-hh:mm:ss``), each request no longer than IB allows for the bar size
  (:data:`~algotrader.timeframes.IB_MAX_DURATION`), sized in calendar units (S, W, M, Y) so that
  consecutive chunks meet exactly. ``reqHeadTimeStamp`` bounds how far back to go; an empty chunk
  (162 "no data") ends the walk. ``useRTH=True``, ``whatToShow=TRADES``; intraday bars use
  ``formatDate=2`` (UTC epoch), daily bars arrive as dates and are keyed 00:00 UTC, weekly bars by
  their Monday. A window that starts during a day includes that day's daily bar (and that week's
  weekly bar): bars are keyed at midnight, sessions are not. Chunks are trimmed to the window,
  their edges de-duplicated, ``-1`` volumes (IB's "not available") become 0, and each chunk is
  validated.
* **Pace.** Every historical request of the process goes through one :class:`HistoricalPacer`
  (IB's rules: no identical request within 15 s, fewer than 6 per contract within 2 s, and at
  most 60 per 10 minutes for bars of 30 s or less; all configurable).
* **Retry.** Pacing violations, timeouts and dropped connections are retried with exponential
  back-off (:class:`RetryPolicy`), reconnecting as needed; when the attempts run out the error is
  one :class:`~algotrader.errors.UserError` line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import pandas as pd

from algotrader.data.validation import validate_bars
from algotrader.errors import DataNotFoundError, GatewayUnavailableError, UserError
from algotrader.frames import INDEX_NAME, empty_bars
from algotrader.ibkr.connection import IbConnection
from algotrader.observability import metrics
from algotrader.timeframes import IB_MAX_DURATION, Duration, Resolution

if TYPE_CHECKING:
    from ib_async import IB, BarData

    from algotrader.ibkr.contracts import QualifiedStock

log = logging.getLogger(__name__)

T = TypeVar("T")

WHAT_TO_SHOW = "TRADES"


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
    one pacer serves any number of event loops. ``clock`` and ``sleep`` are injectable for
    deterministic tests.
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
                    self._take(now, request_key, contract_key, bar_seconds)
                    self.waited += waited
                    if waited > 0:
                        metrics.record_ib_pacing_wait(waited)
                    return waited
            # Sleep outside the lock; another caller may take the slot first, so re-check.
            await self._sleep(wait)
            waited += wait

    def _take(
        self, now: float, request_key: Hashable, contract_key: Hashable, bar_seconds: int
    ) -> None:
        self._last_identical[request_key] = now
        self._by_contract.setdefault(contract_key, deque()).append(now)
        if bar_seconds <= self.rules.window_max_bar_seconds:
            self._sent.append(now)
        self.requests += 1

    def hold(self, seconds: float) -> None:
        """Let no request out for ``seconds`` (after IB reported a pacing violation)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)


_SHARED_PACER = HistoricalPacer()


def shared_pacer() -> HistoricalPacer:
    """The process-wide pacer every :class:`~algotrader.ibkr.provider.IbkrProvider` uses unless
    given its own."""
    return _SHARED_PACER


# -- retries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one request: ``attempts`` in all, waiting ``base_delay * factor**(n-1)``
    (at most ``max_delay``) after the n-th failure. ``request_timeout`` bounds one request
    (IB answers long 1-minute requests in seconds, or never)."""

    attempts: int = 5
    base_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 120.0
    request_timeout: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_delay, self.base_delay * self.factor ** max(failures - 1, 0)))


class Retry(Exception):
    """A failure worth another attempt (pacing, timeout, lost connection)."""

    def __init__(self, reason: str, *, pacing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pacing = pacing


async def with_retries(
    conn: IbConnection,
    retry: RetryPolicy,
    what: str,
    op: Callable[[IB], Awaitable[T]],
    pacer: HistoricalPacer | None = None,
) -> T:
    """``await op(ib)`` with retries: :class:`Retry`, lost connections and a gateway that went
    away are retried with back-off (a pacing violation holds ``pacer`` for everyone); anything
    else propagates at once. Running out of attempts is one :class:`UserError` line."""
    failures = 0
    while True:
        try:
            return await op(await conn.ensure())
        except Retry as exc:
            reason, pacing = exc.reason, exc.pacing
        except ConnectionError as exc:
            reason, pacing = f"connection lost ({exc or 'socket closed'})", False
            await conn.close()
        except GatewayUnavailableError as exc:
            if conn.generation == 0:
                raise  # never connected: the gateway is simply not there
            reason, pacing = exc.problem, False
        failures += 1
        if failures >= retry.attempts:
            raise UserError(
                f"IBKR {what} failed after {failures} attempts (last: {reason})",
                f"check TWS/IB Gateway at {conn.where} and run the same command again; "
                "bars already fetched are stored",
            )
        pause = retry.delay(failures)
        if pacing and pacer is not None:
            pacer.hold(pause)  # the whole process backs off, not just this request
        log.warning("IBKR %s: %s; retry %d in %.1fs", what, reason, failures, pause)
        await asyncio.sleep(pause)


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
        if most < 1:
            continue
        # The smallest count that reaches back far enough: estimated, then checked (months
        # and years vary in length), instead of trying every count from 1.
        n = max(1, min(most, int(span // Duration(1, unit).approx_seconds)))
        while n > 1 and Duration(n - 1, unit).start_before(cursor) <= start:
            n -= 1
        while n <= most and Duration(n, unit).start_before(cursor) > start:
            n += 1
        if n <= most:
            return Duration(n, unit)
    return limit


def ib_end(moment: datetime) -> str:
    """IB's explicit-UTC end time, ``yyyymmdd-hh:mm:ss`` (no zone ambiguity, no warning 2174)."""
    return moment.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


def bar_key_floor(moment: datetime, resolution: Resolution) -> datetime:
    """The earliest bar key whose bar overlaps a window starting at ``moment``.

    Intraday bars: ``moment`` itself. Daily bars are keyed 00:00 UTC of their session date and
    weekly bars by their Monday, so a window that starts at 14:00 on a Wednesday includes that
    Wednesday's daily bar and that week's weekly bar.
    """
    if resolution.is_intraday:
        return moment
    day = moment.astimezone(UTC).date()
    if resolution.seconds >= 7 * 86_400:
        day -= timedelta(days=day.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


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


# -- requests ----------------------------------------------------------------------------------


def refusal(code: int, text: str, what: str, stock: QualifiedStock) -> Exception | None:
    """What an IB error on a historical request means: retry, no data (None), or a refusal."""
    lowered = text.lower()
    if code == 162 and "pacing" in lowered:
        return Retry("pacing violation (error 162)", pacing=True)
    if code == 162 and "no data" in lowered:
        return None
    if code in (162, 366) and "cancel" in lowered:
        return Retry(f"request cancelled by IB (error {code})")
    if code == 200:
        return DataNotFoundError(
            f"IBKR has no contract for {stock.info.symbol!r} (error 200)", "check the ticker"
        )
    return UserError(
        f"IBKR refused {what} (error {code}: {text})",
        "check the market-data permissions of the account, or use another resolution",
    )


class HistoryClient:
    """Head timestamps and bars of qualified stocks over one :class:`IbConnection`, paced by a
    :class:`HistoricalPacer` and retried under a :class:`RetryPolicy`."""

    def __init__(self, conn: IbConnection, pacer: HistoricalPacer, retry: RetryPolicy) -> None:
        self.conn = conn
        self.pacer = pacer
        self.retry = retry
        self.sent = 0  # historical requests sent, retries included
        self._heads: dict[int, datetime | None] = {}

    async def head_timestamp(self, stock: QualifiedStock) -> datetime | None:
        """The earliest bar IB has (UTC), or ``None`` when it has none."""
        con_id = stock.contract.conId
        if con_id in self._heads:
            return self._heads[con_id]

        async def op(ib: IB) -> datetime | None:
            metrics.record_ib_request("head_timestamp")
            try:
                head = await asyncio.wait_for(
                    ib.reqHeadTimeStampAsync(stock.contract, WHAT_TO_SHOW, True, 2),
                    self.retry.request_timeout,
                )
            except TimeoutError:
                raise Retry("no head timestamp in time") from None
            if not isinstance(head, datetime):
                return None  # 162 no data (the request ended without a value)
            return head if head.tzinfo else head.replace(tzinfo=UTC)

        what = f"head timestamp of {stock.info.symbol}"
        self._heads[con_id] = await with_retries(self.conn, self.retry, what, op, self.pacer)
        return self._heads[con_id]

    async def bars(
        self, stock: QualifiedStock, end: datetime, duration: Duration, resolution: Resolution
    ) -> list[BarData] | None:
        """One ``reqHistoricalData`` (paced, retried); ``None`` when IB has no bars there."""
        end_text = ib_end(end)
        con_id = stock.contract.conId
        key = (con_id, end_text, duration.ib_str, resolution.ib_bar_size, WHAT_TO_SHOW)
        what = (
            f"{resolution.ib_bar_size} bars of {stock.info.symbol} ending {end_text} UTC for "
            f"{duration.ib_str}"
        )

        async def op(ib: IB) -> list[BarData] | None:
            await self.pacer.acquire(key, con_id, resolution.seconds)
            return await self._request(ib, stock, end_text, duration, resolution, what)

        return await with_retries(self.conn, self.retry, f"request for {what}", op, self.pacer)

    async def _request(
        self, ib: IB, stock: QualifiedStock, end_text: str, duration: Duration,
        resolution: Resolution, what: str,
    ) -> list[BarData] | None:
        timeout = self.retry.request_timeout
        self.sent += 1
        metrics.record_ib_request("historical_data")
        started = time.monotonic()
        result = await ib.reqHistoricalDataAsync(
            stock.contract, end_text, duration.ib_str, resolution.ib_bar_size, WHAT_TO_SHOW,
            True, formatDate=2 if resolution.is_intraday else 1, timeout=timeout,
        )
        error = self.conn.take_error(result.reqId)
        if len(result):
            return list(result)
        if error is None:
            # ib_async answers a timeout with an empty list and no error of its own.
            if time.monotonic() - started >= timeout * 0.99:
                raise Retry(f"no answer within {timeout:g}s")
            return None  # an empty answer without an error: nothing there
        outcome = refusal(*error, what, stock)
        if outcome is None:
            return None
        raise outcome

    async def walk(
        self, stock: QualifiedStock, resolution: Resolution, start: datetime, end: datetime
    ) -> AsyncIterator[pd.DataFrame]:
        """Validated chunks of ``[start, end)`` newest first (see the module docstring).

        Requests reach back to ``start``; what they return is kept from the key of the bar
        ``start`` falls in (a request whose duration begins during a day returns that day's
        daily bar, as TWS does), so a window starting mid-day keeps its first daily bar.
        """
        lo = bar_key_floor(start, resolution)
        hi = min(end, datetime.now(UTC) + timedelta(days=1))  # IB has no future
        if plan_duration(hi, start, resolution).start_before(hi) > start:
            # Several requests: the head timestamp stops the walk where IB's history begins. (One
            # request needs no bound, and skipping it saves two messages per symbol against
            # ib_async's 45-messages-per-second client throttle.)
            head = await self.head_timestamp(stock)
            if head is None:
                return
            start, lo = max(start, head), max(lo, bar_key_floor(head, resolution))
        cursor = hi
        oldest: pd.Timestamp | None = None  # the earliest bar already yielded
        while cursor > start:
            duration = plan_duration(cursor, start, resolution)
            bars = await self.bars(stock, cursor, duration, resolution)
            if bars is None:
                break  # IB has nothing further back
            frame = bars_to_frame(bars, resolution)
            keep = (frame.index >= pd.Timestamp(lo)) & (frame.index < pd.Timestamp(hi))
            if oldest is not None:
                keep &= frame.index < oldest
            frame = frame[keep]
            if len(frame):
                oldest = frame.index[0]
                yield validate_bars(frame)
            cursor = duration.start_before(cursor)
