"""Completed live bars from IB: a :class:`~algotrader.ports.trading.LiveBarSource` over
``reqHistoricalData(..., endDateTime='', keepUpToDate=True)``.

How IB streams a bar series (and ``algotrader ib-sim`` with a feed does the same): the answer
to the request is the history *plus the forming bar*; then every update of the forming bar
replaces the last element of the list, and the first update of a new bar is appended, which
``ib_async`` reports as ``updateEvent(bars, hasNewBar=True)``. At that moment ``bars[-2]`` is
the bar that just completed (its final values) and ``bars[-1].open`` is the first price of the
next bar, the price a market order sent now fills at (:attr:`LiveBar.next_open`).

Per symbol, :class:`IbLiveBarSource` keeps one such subscription and a high-water mark (the
start of the last bar it yielded). After a dropped connection (socket closed; or TWS's 1101
"connectivity restored, data lost") it reconnects with back-off (:func:`~algotrader.ibkr.
history.with_retries` over the shared :class:`~algotrader.ibkr.connection.IbConnection`),
subscribes again and yields the bars completed while it was away, flagged ``is_backfill`` so
the trading loop stores them and shows them to the strategy but never trades on them: first
the gap before the new subscription's history (walked with :class:`~algotrader.ibkr.history.
HistoryClient`, paced, pacing violations retried), then that history. A bar at or before the
high-water mark is never yielded again, so no bar comes twice or out of order.

Bars are keyed by their start in UTC (``formatDate=2``), as ingested history is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.contracts import ContractBook, QualifiedStock
from algotrader.ibkr.history import (
    WHAT_TO_SHOW,
    HistoricalPacer,
    HistoryClient,
    Retry,
    RetryPolicy,
    refusal,
    shared_pacer,
    with_retries,
)
from algotrader.observability import metrics
from algotrader.ports.trading import LiveBar
from algotrader.timeframes import Resolution, parse_resolution

if TYPE_CHECKING:
    from ib_async import IB, BarData, BarDataList

log = logging.getLogger(__name__)

# TWS: "Connectivity between IB and TWS has been restored - data lost": subscriptions are gone.
_DATA_LOST = 1101
_DROPPED = object()  # queue marker: the subscription ended (connection lost or data lost)


@dataclass(frozen=True, slots=True)
class LiveBarsConfig:
    """How :class:`IbLiveBarSource` subscribes and recovers.

    - ``use_rth``: regular trading hours only (as ingested history: ``useRTH=True``).
    - ``retry``: back-off for every request and for reconnecting after a drop (the source gives
      up, with one :class:`~algotrader.errors.UserError` line, after ``retry.attempts``
      consecutive failures).
    - ``history_bars``: bars of history asked with each live request; what they do not cover
      of a gap is walked with ordinary history requests.
    """

    use_rth: bool = True
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(attempts=10, base_delay=1.0, max_delay=30.0)
    )
    history_bars: int = 30


class _Subscription:
    """One live request on one connection: the bar list and the completed bars it produced."""

    def __init__(self, bars: BarDataList, symbol: str, resolution: Resolution) -> None:
        self.bars = bars
        self.symbol = symbol
        self.resolution = resolution
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        bars.updateEvent += self._on_update

    def _on_update(self, bars: BarDataList, has_new_bar: bool) -> None:
        # Runs inside ib_async's decoder: capture bars[-2] now, the list keeps changing.
        if has_new_bar and len(bars) >= 2:
            self.queue.put_nowait(_live_bar(self.symbol, self.resolution, bars[-2], bars[-1]))

    def end(self) -> None:
        self.bars.updateEvent -= self._on_update
        self.queue.put_nowait(_DROPPED)


def _utc(moment: object) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    # A date (daily bars): keyed 00:00 UTC of the session date, as stored history is.
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)  # type: ignore[attr-defined]


def _live_bar(
    symbol: str,
    resolution: Resolution,
    bar: BarData,
    following: BarData | None,
    *,
    backfill: bool = False,
) -> LiveBar:
    return LiveBar(
        symbol=symbol,
        bar_size=resolution.name,
        start=_utc(bar.date),
        open=float(bar.open),
        high=float(bar.high),
        low=float(bar.low),
        close=float(bar.close),
        volume=max(float(bar.volume), 0.0),  # IB's -1 means "not available"
        is_backfill=backfill,
        next_open=float(following.open) if following is not None else None,
    )


class IbLiveBarSource:
    """Completed bars of several symbols from one IB connection (see the module docstring).

    ``conn`` may be shared with an :class:`~algotrader.ibkr.broker.IbBroker` (one clientId,
    one reconnect). Counters for tests and monitoring: ``subscriptions`` (live requests that
    succeeded, re-subscriptions included), ``reconnects`` (interrupted subscriptions, per
    symbol), ``backfilled`` (bars yielded with ``is_backfill``), ``processed`` (bars the
    consumer finished with: it asked for the next one), ``last_processed`` (symbol -> start of
    that bar) and ``live`` (the symbols subscribed right now).
    """

    def __init__(
        self,
        conn: IbConnection,
        config: LiveBarsConfig | None = None,
        *,
        pacer: HistoricalPacer | None = None,
    ) -> None:
        self.conn = conn
        self.config = config or LiveBarsConfig()
        self.pacer = pacer or shared_pacer()
        self.book = ContractBook(conn, self.config.retry)
        self.history = HistoryClient(conn, self.pacer, self.config.retry)
        self.subscriptions = 0
        self.reconnects = 0
        self.backfilled = 0
        self.processed = 0
        self.last_processed: dict[str, datetime] = {}
        self.live: set[str] = set()  # symbols with a live subscription right now
        self._subs: dict[int, _Subscription] = {}  # by reqId, current connection only
        self._tasks: list[asyncio.Task[None]] = []
        self._out: asyncio.Queue[LiveBar | BaseException | None] = asyncio.Queue()
        self._closed = False
        conn.on_connect.append(self._on_connect)
        if conn.ib is not None and conn.ib.isConnected():
            self._on_connect(conn.ib)

    @property
    def name(self) -> str:
        return "ib"

    # -- connection events -----------------------------------------------------------------
    def _on_connect(self, ib: IB) -> None:
        ib.disconnectedEvent += self._on_disconnect
        ib.errorEvent += self._on_error

    def _on_disconnect(self) -> None:
        self._end_all()

    def _on_error(self, req_id: int, code: int, text: str, contract: object = None) -> None:
        if code == _DATA_LOST:
            log.warning("IB lost market data (%s): subscribing again", text)
            self._end_all()

    def _end_all(self) -> None:
        subs, self._subs = self._subs, {}
        for sub in subs.values():
            sub.end()
        self.live.clear()

    # -- the iterator ----------------------------------------------------------------------
    async def subscribe(
        self,
        symbols: Sequence[str],
        bar_size: str,
        since: Mapping[str, datetime] | None = None,
    ) -> AsyncIterator[LiveBar]:
        """Completed bars of ``symbols`` (see :class:`~algotrader.ports.trading.LiveBarSource`).

        Ends with the first unrecoverable error (raised here: an unknown symbol, a refused
        request, a gateway that stays away for ``retry.attempts`` tries)."""
        resolution = parse_resolution(bar_size)
        marks = dict(since or {})
        self._tasks = [
            asyncio.create_task(self._follow(s, resolution, marks.get(s)), name=f"ib-bars-{s}")
            for s in symbols
        ]
        try:
            while True:
                item = await self._out.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                # The consumer asked for the next bar: it is done with this one.
                self.processed += 1
                self.last_processed[item.symbol] = item.start
        finally:
            await self._stop_tasks()

    async def close(self) -> None:
        """End every subscription; a running iterator ends."""
        if self._closed:
            return
        self._closed = True
        await self._stop_tasks()
        ib = self.conn.ib
        for sub in list(self._subs.values()):
            if ib is not None and ib.isConnected():
                ib.cancelHistoricalData(sub.bars)
        self._end_all()
        if self._on_connect in self.conn.on_connect:
            self.conn.on_connect.remove(self._on_connect)
        self._out.put_nowait(None)

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one symbol --------------------------------------------------------------------------
    async def _follow(self, symbol: str, resolution: Resolution, since: datetime | None) -> None:
        """Subscribe, backfill, stream; after a drop: again. Errors go to the iterator."""
        last = since
        first = True
        try:
            stock = await self.book.qualify(symbol)
            while not self._closed:
                sub = await self._subscribe(stock, resolution, last)
                if first and last is None:
                    # A new session starts live: the history before it is not news.
                    if len(sub.bars) >= 2:
                        last = _utc(sub.bars[-2].date)
                else:
                    last = await self._backfill(stock, resolution, sub, last)
                first = False
                self.live.add(symbol)
                while True:
                    item = await sub.queue.get()
                    if item is _DROPPED:
                        break
                    assert isinstance(item, LiveBar)
                    if last is None or item.start > last:
                        last = item.start
                        self._out.put_nowait(item)
                self.live.discard(symbol)
                if not self._closed:
                    self.reconnects += 1
                    log.warning("live bars of %s interrupted; reconnecting", symbol)
                    await asyncio.sleep(self.config.retry.delay(1))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, not swallowed
            self._out.put_nowait(exc)

    async def _subscribe(
        self, stock: QualifiedStock, resolution: Resolution, last: datetime | None
    ) -> _Subscription:
        """The live request (paced, retried, reconnecting as needed)."""
        symbol = stock.info.symbol
        seconds = max(resolution.seconds * self.config.history_bars, resolution.seconds, 60)
        duration = f"{seconds} S" if resolution.is_intraday else "5 D"
        con_id = stock.contract.conId
        # The high-water mark makes a re-subscription a different request for the pacer.
        key = (con_id, "live", last.isoformat() if last else "", resolution.ib_bar_size)
        what = f"live {resolution.ib_bar_size} bars of {symbol}"

        async def op(ib: IB) -> _Subscription:
            await self.pacer.acquire(key, con_id, resolution.seconds)
            metrics.record_ib_request("historical_data")
            bars = await ib.reqHistoricalDataAsync(
                stock.contract, "", duration, resolution.ib_bar_size, WHAT_TO_SHOW,
                self.config.use_rth, formatDate=2 if resolution.is_intraday else 1,
                keepUpToDate=True, timeout=self.config.retry.request_timeout,
            )  # fmt: skip
            error = self.conn.take_error(bars.reqId)
            if not len(bars):
                if ib.isConnected():
                    ib.cancelHistoricalData(bars)
                if not ib.isConnected():
                    raise ConnectionError("connection lost during the live request")
                if error is None:
                    raise Retry(f"no answer to the {what} request")
                outcome = refusal(*error, what, stock) or Retry(f"no {what} yet")
                raise outcome
            sub = _Subscription(bars, symbol, resolution)
            self._subs[bars.reqId] = sub
            self.subscriptions += 1
            return sub

        return await with_retries(self.conn, self.config.retry, what, op, self.pacer)

    async def _backfill(
        self,
        stock: QualifiedStock,
        resolution: Resolution,
        sub: _Subscription,
        last: datetime | None,
    ) -> datetime | None:
        """Yield (flagged) the completed bars after ``last`` that the subscription's history
        and, before it, a walk over the gap hold; returns the new high-water mark."""
        symbol = stock.info.symbol
        answer = list(sub.bars)
        completed, forming = answer[:-1], answer[-1]
        rows: list[tuple[BarData, BarData | None]] = [
            (bar, answer[i + 1]) for i, bar in enumerate(completed)
        ]
        step = timedelta(seconds=resolution.seconds)
        head = _utc(completed[0].date) if completed else _utc(forming.date)
        gap: list[LiveBar] = []
        if last is not None and head > last + step:
            async for chunk in self.history.walk(stock, resolution, last + step, head):
                gap.extend(_frame_bars(symbol, resolution, chunk))
            gap.sort(key=lambda b: b.start)
        fresh = [b for b in gap if last is None or b.start > last]
        fresh += [
            _live_bar(symbol, resolution, bar, nxt, backfill=True)
            for bar, nxt in rows
            if last is None or _utc(bar.date) > last
        ]
        for bar in fresh:
            if last is None or bar.start > last:
                last = bar.start
                self.backfilled += 1
                self._out.put_nowait(bar)
        if fresh:
            log.info("backfilled %d %s bar(s) of %s", len(fresh), resolution.name, symbol)
        return last


def _frame_bars(symbol: str, resolution: Resolution, frame: pd.DataFrame) -> list[LiveBar]:
    """A validated history chunk as backfill bars (each with the next bar's open if known)."""
    opens = frame["open"].tolist()
    out = []
    for i, (ts, row) in enumerate(frame.iterrows()):
        out.append(
            LiveBar(
                symbol=symbol,
                bar_size=resolution.name,
                start=pd.Timestamp(ts).to_pydatetime().astimezone(UTC),  # type: ignore[arg-type]
                open=float(row["open"]),
                high=float(row["high"]),
                low=float(row["low"]),
                close=float(row["close"]),
                volume=float(row["volume"]),
                is_backfill=True,
                next_open=float(opens[i + 1]) if i + 1 < len(opens) else None,
            )
        )
    return out
