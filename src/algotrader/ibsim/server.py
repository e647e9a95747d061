"""The TWS-protocol simulator: an asyncio TCP server at server version 178.

The unmodified ``ib_async`` client connects to it as to TWS or IB Gateway::

    async with IBSimulator(SimConfig()) as sim:       # ephemeral port on 127.0.0.1
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1)

For blocking-API callers, :func:`start_in_thread` runs it on its own loop in a background thread;
:func:`serve` runs it in the foreground (``algotrader ib-sim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import struct
import threading
import time as _time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import Future as ConcurrentFuture
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.ibsim import protocol as P
from algotrader.ibsim.history import (
    HMDS,
    MISSING_TZ_WARNING,
    BarProvider,
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
from algotrader.ibsim.instruments import DEFAULT_INSTRUMENTS, Instrument
from algotrader.ibsim.protocol import In, ProtocolError, parse_bool, parse_float, parse_int
from algotrader.ibsim.state import SUPPORTED_ORDER_TYPES, Book, Execution, PriceProcess, SimOrder
from algotrader.timeframes import RESOLUTIONS

log = logging.getLogger("algotrader.ibsim")

T = TypeVar("T")

PACING_TEXT = f"{HMDS}Historical data request pacing violation"
CLIENT_ID_IN_USE_TEXT = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)
NO_SECURITY_TEXT = "No security definition has been found for the request"
FARM_MESSAGES: tuple[tuple[int, str], ...] = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)


class SimulatorError(RuntimeError):
    """The simulator saw something it does not handle (strict mode turns it into a failure)."""


@dataclass(frozen=True, slots=True)
class Faults:
    """Failure modes to inject; all off by default. Replace the whole object to change them.

    - ``pacing_limit``: after this many historical requests served within ``pacing_window``
      seconds, further ones get 162 "Historical data request pacing violation" (refused requests
      do not count, so a client that backs off recovers).
    - ``drop_on_historical_request``: the N-th historical request (1-based, counted per server)
      gets half a reply and then the connection is aborted.
    - ``latency``: seconds added before answering every request (and the handshake).
    - ``client_ids_in_use``: clientIds refused with 326 and a closed socket, as if another
      application held them.
    - ``no_data_symbols``: historical requests for these get 162 "HMDS query returned no data".
    """

    pacing_limit: int | None = None
    pacing_window: float = 600.0
    drop_on_historical_request: int | None = None
    latency: float = 0.0
    client_ids_in_use: frozenset[int] = frozenset()
    no_data_symbols: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything about one simulator instance.

    ``strict`` (the default, meant for tests) closes the connection on anything unhandled and
    makes :meth:`IBSimulator.stop` raise :class:`SimulatorError`; non-strict only logs.
    ``clock`` replaces "now" (UTC-aware) for deterministic tests.
    """

    host: str = "127.0.0.1"
    port: int = 0
    account: str = "DU1234567"
    first_order_id: int = 1
    strict: bool = True
    tick_interval: float = 0.05
    initial_cash: float = 1_000_000.0
    commission_per_share: float = 0.005
    min_commission: float = 1.0
    login_tz: str = "US/Eastern"
    instruments: Mapping[str, Instrument] = field(
        default_factory=lambda: dict(DEFAULT_INSTRUMENTS)
    )
    faults: Faults = Faults()
    clock: Callable[[], datetime] | None = None


def _default_provider(clock: Callable[[], datetime]) -> BarProvider:
    # Imported late: the provider pulls in numpy/pandas machinery the CLI need not load.
    from algotrader.data.providers.synthetic import SyntheticProvider

    return SyntheticProvider(clock=clock)


class _Session:
    """One client connection: its socket, clientId and subscriptions."""

    def __init__(
        self, sim: IBSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.sim = sim
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


Handler = Callable[[_Session, list[str]], Awaitable[None]]


class IBSimulator:
    """A TWS stand-in for one paper account. Use ``async with`` or :meth:`start`/:meth:`stop`."""

    def __init__(self, config: SimConfig | None = None, provider: BarProvider | None = None):
        self.config = config or SimConfig()
        self._provider = provider
        self.instruments: dict[str, Instrument] = dict(self.config.instruments)
        self._faults = self.config.faults
        self.book = Book(
            account=self.config.account,
            cash=self.config.initial_cash,
            commission_per_share=self.config.commission_per_share,
            min_commission=self.config.min_commission,
        )
        self.prices = PriceProcess(self._seed_price)
        self.failures: list[str] = []
        self.historical_requests = 0
        self._served_hist_times: deque[float] = deque()
        self._next_order_id = self.config.first_order_id
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._login_tz = ZoneInfo(self.config.login_tz)
        self.host = self.config.host
        self.port = self.config.port
        self._handlers: dict[int, Handler] = {
            In.REQ_CONTRACT_DATA: self._contract_details,
            In.REQ_HISTORICAL_DATA: self._historical_data,
            In.CANCEL_HISTORICAL_DATA: self._ignore,
            In.REQ_HEAD_TIMESTAMP: self._head_timestamp,
            In.CANCEL_HEAD_TIMESTAMP: self._ignore,
            In.REQ_CURRENT_TIME: self._current_time,
            In.REQ_POSITIONS: self._positions,
            In.CANCEL_POSITIONS: self._cancel_positions,
            In.REQ_OPEN_ORDERS: self._open_orders,
            In.REQ_ALL_OPEN_ORDERS: self._all_open_orders,
            In.REQ_AUTO_OPEN_ORDERS: self._ignore,
            In.REQ_COMPLETED_ORDERS: self._completed_orders,
            In.REQ_ACCT_DATA: self._account_updates,
            In.REQ_ACCOUNT_UPDATES_MULTI: self._account_updates_multi,
            In.CANCEL_ACCOUNT_UPDATES_MULTI: self._cancel_account_updates_multi,
            In.REQ_EXECUTIONS: self._executions,
            In.REQ_ACCOUNT_SUMMARY: self._account_summary,
            In.CANCEL_ACCOUNT_SUMMARY: self._ignore,
            In.REQ_IDS: self._req_ids,
            In.REQ_MANAGED_ACCTS: self._managed_accounts,
            In.REQ_GLOBAL_CANCEL: self._global_cancel,
            In.PLACE_ORDER: self._place_order,
            In.CANCEL_ORDER: self._cancel_order,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = value

    @property
    def provider(self) -> BarProvider:
        if self._provider is None:
            # Same clock as the simulator, so "now" means one thing for bars and for requests.
            self._provider = _default_provider(self.now)
        return self._provider

    def add_instrument(self, instrument: Instrument) -> None:
        self.instruments[instrument.symbol.upper()] = instrument

    def now(self) -> datetime:
        return self.config.clock() if self.config.clock else datetime.now(UTC)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.config.host, self.config.port
        )
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        self._ticker = asyncio.create_task(self._tick_loop(), name="ibsim-ticker")
        log.info("ibsim listening on %s:%s (server version %s)", self.host, self.port,
                 P.SERVER_VERSION)

    async def stop(self) -> None:
        """Close every connection and the listener; in strict mode raise on recorded failures."""
        await self._shutdown()
        if self.config.strict and self.failures:
            raise SimulatorError("ibsim saw unhandled traffic:\n" + "\n".join(self.failures))

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for session in list(self._sessions):
            session.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> IBSimulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            await self.stop()
        else:
            await self._shutdown()  # do not mask the test's own failure

    def drop_all_connections(self) -> None:
        """Abort every client socket at once (as a TWS restart would)."""
        for session in list(self._sessions):
            session.abort()

    @property
    def connected_client_ids(self) -> set[int]:
        return {s.client_id for s in self._sessions if s.client_id is not None and not s.closed}

    def _fail(self, session: _Session | None, problem: str) -> None:
        """Something the simulator does not handle: log it, and in strict mode hang up."""
        log.error("ibsim: %s", problem)
        self.failures.append(problem)
        if session is not None and self.config.strict:
            session.abort()

    # -- connection handling -------------------------------------------------------------------

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            if await self._handshake(session):
                await self._serve_session(session)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a simulator bug: make it visible, never silent
            log.exception("ibsim: session %s crashed", session.peer)
            self.failures.append(f"session crashed: {exc!r}")
        finally:
            self._sessions.discard(session)
            session.abort()
            self._tasks.discard(task)

    async def _read_frame(self, session: _Session) -> list[str]:
        size = struct.unpack(">I", await session.reader.readexactly(4))[0]
        return P.split_payload(await session.reader.readexactly(size))

    async def _handshake(self, session: _Session) -> bool:
        magic = await session.reader.readexactly(4)
        if magic != b"API\0":
            self._fail(session, f"handshake: expected b'API\\0', got {magic!r}")
            return False
        size = struct.unpack(">I", await session.reader.readexactly(4))[0]
        text = (await session.reader.readexactly(size)).decode(errors="replace")
        try:
            low, high = P.parse_handshake_versions(text)
        except ProtocolError as exc:
            self._fail(session, str(exc))
            return False
        if not low <= P.SERVER_VERSION <= high:
            # Refuse loudly: answering with another version would make the client decode every
            # later frame with the wrong layouts.
            self._fail(
                session,
                f"client offers API versions {low}..{high}; ibsim speaks only "
                f"{P.SERVER_VERSION} (pin ib_async==2.1.0)",
            )
            return False
        await self._latency()
        now = self.now().astimezone(self._login_tz)
        session.send([P.SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S %Z")])
        return True

    async def _serve_session(self, session: _Session) -> None:
        fields = await self._read_frame(session)
        if not fields or fields[0] != str(In.START_API):
            self._fail(session, f"expected startApi (71) after the handshake, got {fields!r}")
            return
        start = P.REQUESTS[In.START_API].parse(fields)
        client_id = parse_int(start["clientId"])
        await self._latency()
        if not await self._claim_client_id(session, client_id):
            # TWS answers a taken clientId with 326 and hangs up before nextValidId.
            session.error(-1, 326, CLIENT_ID_IN_USE_TEXT)
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()
            session.writer.close()
            return
        session.out(P.MANAGED_ACCOUNTS, accountsList=self.config.account)
        session.out(P.NEXT_VALID_ID, orderId=self._next_order_id)
        for code, text in FARM_MESSAGES:
            session.error(-1, code, text)
        log.info("ibsim: client %s connected from %s", client_id, session.peer)
        while not session.closed:
            fields = await self._read_frame(session)
            if not fields:
                self._fail(session, "empty message")
                continue
            await self._dispatch(session, fields)
            await session.writer.drain()

    async def _claim_client_id(self, session: _Session, client_id: int) -> bool:
        if client_id in self._faults.client_ids_in_use:
            return False
        # A client that just disconnected may still be draining: give it a moment, as the race
        # is between two sockets on our side, not a real conflict.
        for _ in range(20):
            if client_id not in self.connected_client_ids:
                session.client_id = client_id
                return True
            await asyncio.sleep(0.01)
        return False

    async def _dispatch(self, session: _Session, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except ValueError:
            self._fail(session, f"non-numeric message id: {fields!r}")
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            self._fail(
                session,
                f"unknown message id {msg_id} from client {session.client_id}: "
                f"{P.join_fields(fields)[:200]}",
            )
            return
        await self._latency()
        try:
            await handler(session, fields)
        except ProtocolError as exc:
            self._fail(session, str(exc))

    async def _latency(self) -> None:
        if self._faults.latency > 0:
            await asyncio.sleep(self._faults.latency)

    async def _ignore(self, session: _Session, fields: list[str]) -> None:
        log.debug("ibsim: ignoring %s", P.join_fields(fields))

    # -- instruments ---------------------------------------------------------------------------

    def _lookup(self, con_id: str, symbol: str, sec_type: str = "", currency: str = "",
                ) -> Instrument | None:
        cid = parse_int(con_id)
        if cid:
            return next((i for i in self.instruments.values() if i.con_id == cid), None)
        inst = self.instruments.get(symbol.upper())
        if inst is None:
            return None
        if sec_type and sec_type != inst.sec_type:
            return None
        if currency and currency != inst.currency:
            return None
        return inst

    def _trading_hours(self, inst: Instrument, open_: str, close: str) -> str:
        tz = ZoneInfo(inst.time_zone)
        today = self.now().astimezone(tz).date()
        parts = []
        for offset in range(7):
            day = today + timedelta(days=offset)
            d = day.strftime("%Y%m%d")
            parts.append(f"{d}:CLOSED" if day.weekday() >= 5 else f"{d}:{open_}-{d}:{close}")
        return ";".join(parts)

    async def _contract_details(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_CONTRACT_DATA].parse(fields)
        req_id = parse_int(req["reqId"])
        inst = self._lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            session.error(req_id, 200, NO_SECURITY_TEXT)
            return
        session.out(
            P.CONTRACT_DATA,
            reqId=req_id,
            symbol=inst.symbol,
            secType=inst.sec_type,
            exchange=req["exchange"] or "SMART",
            currency=inst.currency,
            localSymbol=inst.symbol,
            marketName=inst.market_name,
            tradingClass=inst.trading_class,
            conId=inst.con_id,
            minTick=inst.min_tick,
            orderTypes=inst.order_types,
            validExchanges=inst.valid_exchanges,
            longName=inst.long_name,
            primaryExchange=inst.primary_exchange,
            industry=inst.industry,
            category=inst.category,
            subcategory=inst.subcategory,
            timeZoneId=inst.time_zone,
            tradingHours=self._trading_hours(inst, "0400", "2000"),
            liquidHours=self._trading_hours(inst, "0930", "1600"),
            marketRuleIds="26,26,26,26,26,26,26,26,26,26,26",
            stockType=inst.stock_type,
            minSize=0.0001,
            sizeIncrement=0.0001,
            suggestedSizeIncrement=100.0,
        )
        session.out(P.CONTRACT_DATA_END, reqId=req_id)

    # -- historical data -----------------------------------------------------------------------

    def _pacing_violated(self) -> bool:
        limit = self._faults.pacing_limit
        if limit is None:
            return False
        now = _time.monotonic()
        while self._served_hist_times and now - self._served_hist_times[0] > (
            self._faults.pacing_window
        ):
            self._served_hist_times.popleft()
        if len(self._served_hist_times) >= limit:
            return True
        self._served_hist_times.append(now)
        return False

    async def _historical_data(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_HISTORICAL_DATA].parse(fields)
        req_id = parse_int(req["reqId"])
        self.historical_requests += 1
        drop = self.historical_requests == self._faults.drop_on_historical_request
        if req["secType"] == "BAG":
            self._fail(session, "reqHistoricalData for BAG contracts is not simulated")
            return
        if self._pacing_violated():
            reply = P.ERROR.build(reqId=req_id, errorCode=162, errorString=PACING_TEXT)
        else:
            reply = await self._bars_reply(session, req, req_id)
        if drop:
            # Half a frame, then a dead socket: the client sees the connection die mid-request.
            data = P.frame(reply)
            session.writer.write(data[: max(5, len(data) // 2)])
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()
            log.warning("ibsim: dropping client %s mid-request (fault)", session.client_id)
            session.abort()
            return
        session.send(reply)

    async def _bars_reply(self, session: _Session, req: dict[str, str], req_id: int,
                          ) -> list[object]:
        """The historicalData message for a request, or the error message TWS would send."""
        def error(code: int, text: str) -> list[object]:
            return P.ERROR.build(reqId=req_id, errorCode=code, errorString=text)

        inst = self._lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            return error(200, NO_SECURITY_TEXT)
        exchange = req["exchange"] or "SMART"
        try:
            what = check_what_to_show(req["whatToShow"])
            resolution = resolution_for(req["barSizeSetting"])
            duration = duration_for(req["durationStr"], req["barSizeSetting"])
            end = parse_end(req["endDateTime"], self.now(), self._login_tz)
        except RequestRejected as exc:
            return error(exc.code, exc.text)
        if end.zone_missing:
            session.error(req_id, 2174, MISSING_TZ_WARNING)
        if parse_bool(req["keepUpToDate"]):
            log.warning("ibsim: keepUpToDate bar updates are not simulated (reqId %s)", req_id)
        if inst.symbol in self._faults.no_data_symbols:
            return error(162, no_data_text(inst.symbol, exchange, what))
        tz = ZoneInfo(inst.time_zone)
        try:
            start, stop = request_window(end.at, duration, resolution, tz)
        except InvalidInputError as exc:  # a span reaching before pandas' calendar
            return error(321, f"Error validating request.-'bP' : cause - {exc.message}")
        try:
            bars = self.provider.fetch_bars(inst.symbol, resolution, start, stop)
        except Exception as exc:
            log.exception("ibsim: bar provider failed for %s", inst.symbol)
            self.failures.append(f"bar provider failed for {inst.symbol}: {exc!r}")
            return error(162, f"{HMDS}{exc}")
        if len(bars):
            index = pd.DatetimeIndex(bars.index)
            bars = bars[(index >= pd.Timestamp(start)) & (index < pd.Timestamp(stop))]
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

    async def _head_timestamp(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_HEAD_TIMESTAMP].parse(fields)
        req_id = parse_int(req["reqId"])
        inst = self._lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            session.error(req_id, 200, NO_SECURITY_TEXT)
            return
        what = req["whatToShow"].upper()
        if inst.symbol in self._faults.no_data_symbols:
            session.error(req_id, 162, no_data_text(inst.symbol, req["exchange"] or "SMART", what))
            return
        head = self.provider.head_timestamp(inst.symbol)
        if head.tzinfo is None:
            head = head.replace(tzinfo=UTC)
        if parse_int(req["formatDate"], 1) == 2:
            stamp = str(int(head.timestamp()))
        else:
            # TWS's UTC notation; ib_async parses it as a naive datetime (in UTC).
            stamp = head.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
        session.out(P.HEAD_TIMESTAMP, reqId=req_id, headTimestamp=stamp)

    async def _current_time(self, session: _Session, fields: list[str]) -> None:
        session.out(P.CURRENT_TIME, time=int(self.now().timestamp()))

    # -- account -------------------------------------------------------------------------------

    def _marks(self) -> dict[str, float]:
        marks = self.prices.known()
        for holding in self.book.holdings.values():
            if holding.quantity and holding.instrument.symbol not in marks:
                marks[holding.instrument.symbol] = self.prices.price(holding.instrument)
        return marks

    def _send_position(self, session: _Session, con_id: int) -> None:
        h = self.book.holdings[con_id]
        inst = h.instrument
        session.out(
            P.POSITION, account=self.book.account, conId=inst.con_id, symbol=inst.symbol,
            secType=inst.sec_type, exchange=inst.primary_exchange, currency=inst.currency,
            localSymbol=inst.symbol, tradingClass=inst.trading_class, position=h.quantity,
            avgCost=h.avg_cost,
        )

    def _send_portfolio(self, session: _Session, con_id: int, marks: dict[str, float]) -> None:
        h = self.book.holdings[con_id]
        inst = h.instrument
        mark = marks.get(inst.symbol, h.avg_cost)
        session.out(
            P.PORTFOLIO_VALUE, conId=inst.con_id, symbol=inst.symbol, secType=inst.sec_type,
            primaryExchange=inst.primary_exchange, currency=inst.currency,
            localSymbol=inst.symbol, tradingClass=inst.trading_class, position=h.quantity,
            marketPrice=mark, marketValue=round(h.quantity * mark, 2), averageCost=h.avg_cost,
            unrealizedPNL=round((mark - h.avg_cost) * h.quantity, 2), realizedPNL=0.0,
            accountName=self.book.account,
        )

    def _send_account_values(self, session: _Session, marks: dict[str, float]) -> None:
        for key, value, currency in self.book.account_values(marks):
            session.out(P.ACCOUNT_VALUE, key=key, value=value, currency=currency,
                        account=self.book.account)

    def _send_account_multi(self, session: _Session, req_id: int, marks: dict[str, float]) -> None:
        for key, value, currency in self.book.account_values(marks):
            session.out(P.ACCOUNT_UPDATE_MULTI, reqId=req_id, account=self.book.account,
                        key=key, value=value, currency=currency)

    async def _positions(self, session: _Session, fields: list[str]) -> None:
        session.positions_subscribed = True
        for con_id, holding in self.book.holdings.items():
            if holding.quantity:
                self._send_position(session, con_id)
        session.out(P.POSITION_END)

    async def _cancel_positions(self, session: _Session, fields: list[str]) -> None:
        session.positions_subscribed = False

    async def _account_updates(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_ACCT_DATA].parse(fields)
        if not parse_bool(req["subscribe"]):
            session.account_updates_subscribed = False
            return
        session.account_updates_subscribed = True
        marks = self._marks()
        self._send_account_values(session, marks)
        for con_id, holding in self.book.holdings.items():
            if holding.quantity:
                self._send_portfolio(session, con_id, marks)
        session.out(P.ACCOUNT_TIME, timeStamp=self.now().astimezone(self._login_tz)
                    .strftime("%H:%M"))
        session.out(P.ACCOUNT_DOWNLOAD_END, account=self.book.account)

    async def _account_updates_multi(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_ACCOUNT_UPDATES_MULTI].parse(fields)
        req_id = parse_int(req["reqId"])
        session.multi_req_ids.add(req_id)
        self._send_account_multi(session, req_id, self._marks())
        session.out(P.ACCOUNT_UPDATE_MULTI_END, reqId=req_id)

    async def _cancel_account_updates_multi(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.CANCEL_ACCOUNT_UPDATES_MULTI].parse(fields)
        session.multi_req_ids.discard(parse_int(req["reqId"]))

    async def _account_summary(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_ACCOUNT_SUMMARY].parse(fields)
        req_id = parse_int(req["reqId"])
        wanted = {t.strip() for t in req["tags"].split(",") if t.strip()}
        seen: set[str] = set()
        for tag, value, currency in self.book.account_values(self._marks()):
            # One row per tag (the summary has no per-currency BASE rows).
            if tag in wanted and tag not in seen:
                seen.add(tag)
                session.out(P.ACCOUNT_SUMMARY, reqId=req_id, account=self.book.account,
                            tag=tag, value=value, currency=currency)
        session.out(P.ACCOUNT_SUMMARY_END, reqId=req_id)

    async def _managed_accounts(self, session: _Session, fields: list[str]) -> None:
        session.out(P.MANAGED_ACCOUNTS, accountsList=self.config.account)

    async def _req_ids(self, session: _Session, fields: list[str]) -> None:
        session.out(P.NEXT_VALID_ID, orderId=self._next_order_id)

    # -- orders --------------------------------------------------------------------------------

    def _order_fields(self, order: SimOrder) -> dict[str, object]:
        inst = order.instrument
        return dict(
            conId=inst.con_id, symbol=inst.symbol, secType=inst.sec_type,
            exchange=order.exchange, currency=inst.currency, localSymbol=inst.symbol,
            tradingClass=inst.trading_class, action=order.action,
            totalQuantity=order.quantity, orderType=order.order_type,
            lmtPrice=P.UNSET_DOUBLE if order.lmt_price is None else order.lmt_price,
            auxPrice=P.UNSET_DOUBLE if order.aux_price is None else order.aux_price,
            tif=order.tif, account=order.account, orderRef=order.order_ref,
            permId=order.perm_id, outsideRth=order.outside_rth,
        )

    def _send_open_order(self, session: _Session, order: SimOrder, **state: object) -> None:
        session.out(
            P.OPEN_ORDER, orderId=order.order_id, clientId=order.client_id,
            status=state.pop("status", order.status), **self._order_fields(order), **state,
        )

    def _send_order_status(self, session: _Session, order: SimOrder) -> None:
        session.out(
            P.ORDER_STATUS, orderId=order.order_id, status=order.status, filled=order.filled,
            remaining=order.remaining, avgFillPrice=order.avg_fill_price, permId=order.perm_id,
            lastFillPrice=order.last_fill_price, clientId=order.client_id,
        )

    def _owners(self, order: SimOrder) -> Iterator[_Session]:
        return (s for s in list(self._sessions)
                if s.client_id == order.client_id and not s.closed)

    async def _place_order(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.PLACE_ORDER].parse(fields)
        order_id = parse_int(req["orderId"])
        client_id = session.client_id if session.client_id is not None else 0
        self._next_order_id = max(self._next_order_id, order_id + 1)
        if req["secType"] == "BAG":
            session.error(order_id, 200, NO_SECURITY_TEXT)
            return
        inst = self._lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            session.error(order_id, 200, NO_SECURITY_TEXT)
            return
        order_type = req["orderType"].upper()
        if order_type not in SUPPORTED_ORDER_TYPES:
            session.error(order_id, 387,
                          "Unsupported order type for this exchange and security type.")
            return
        quantity = parse_float(req["totalQuantity"], 0.0)
        if quantity <= 0:
            session.error(order_id, 434, "The order size cannot be zero.")
            return
        action = req["action"].upper()
        if action not in ("BUY", "SELL"):
            session.error(order_id, 321, f"Error validating request.-'bO' : cause - "
                                         f"Invalid side: {req['action']}")
            return
        lmt = parse_float(req["lmtPrice"], P.UNSET_DOUBLE)
        aux = parse_float(req["auxPrice"], P.UNSET_DOUBLE)
        lmt_price = None if lmt == P.UNSET_DOUBLE else lmt
        aux_price = None if aux == P.UNSET_DOUBLE else aux
        if order_type in ("LMT", "STP LMT") and lmt_price is None:
            session.error(order_id, 321, "Error validating request.-'bO' : cause - "
                                         "The limit price is missing")
            return
        if order_type in ("STP", "STP LMT") and aux_price is None:
            session.error(order_id, 321, "Error validating request.-'bO' : cause - "
                                         "The stop price is missing")
            return
        tail = _order_tail(fields, len(P.REQUESTS[In.PLACE_ORDER].fields) + 1)
        if tail.get("whatIf"):
            self._what_if(session, order_id, inst, req, quantity, order_type, lmt_price,
                          aux_price)
            return
        key = (client_id, order_id)
        existing = self.book.orders.get(key)
        if existing is not None and not existing.is_working:
            session.error(order_id, 103, "Duplicate order id")
            return
        if existing is not None:
            # A modification: TWS keeps the permId and acknowledges with openOrder+orderStatus.
            existing.quantity = quantity
            existing.order_type = order_type
            existing.lmt_price = lmt_price
            existing.aux_price = aux_price
            existing.tif = req["tif"] or existing.tif
            existing.order_ref = req["orderRef"]
            order = existing
        else:
            order = SimOrder(
                order_id=order_id, client_id=client_id, perm_id=self.book.new_perm_id(),
                instrument=inst, exchange=req["exchange"] or "SMART", action=action,
                quantity=quantity, order_type=order_type, lmt_price=lmt_price,
                aux_price=aux_price, tif=req["tif"] or "DAY",
                account=req["account"] or self.book.account, order_ref=req["orderRef"],
                outside_rth=parse_bool(req["outsideRth"]),
            )
            self.book.orders[key] = order
            self.prices.price(inst)  # fix the reference price now, before the next tick
        self._send_open_order(session, order)
        self._send_order_status(session, order)

    def _what_if(self, session: _Session, order_id: int, inst: Instrument,
                 req: dict[str, str], quantity: float, order_type: str,
                 lmt_price: float | None, aux_price: float | None) -> None:
        price = self.prices.price(inst)
        notional = quantity * price
        marks = self._marks()
        equity = float(dict((k, v) for k, v, _ in self.book.account_values(marks))
                       ["EquityWithLoanValue"])
        gross = sum(abs(h.quantity) * marks.get(h.instrument.symbol, h.avg_cost)
                    for h in self.book.holdings.values())
        before, change = 0.25 * gross, 0.25 * notional
        commission = self.book.commission(quantity, price)
        probe = SimOrder(
            order_id=order_id, client_id=session.client_id or 0, perm_id=0, instrument=inst,
            exchange=req["exchange"] or "SMART", action=req["action"].upper(),
            quantity=quantity, order_type=order_type, lmt_price=lmt_price, aux_price=aux_price,
            tif=req["tif"] or "DAY", account=req["account"] or self.book.account,
            order_ref=req["orderRef"], status="PreSubmitted",
        )
        self._send_open_order(
            session, probe, whatIf=True,
            initMarginBefore=f"{before:.2f}", maintMarginBefore=f"{before:.2f}",
            equityWithLoanBefore=f"{equity:.2f}", initMarginChange=f"{change:.2f}",
            maintMarginChange=f"{change:.2f}", equityWithLoanChange=f"{-commission:.2f}",
            initMarginAfter=f"{before + change:.2f}", maintMarginAfter=f"{before + change:.2f}",
            equityWithLoanAfter=f"{equity - commission:.2f}", commission=commission,
            minCommission=commission, maxCommission=commission, commissionCurrency="USD",
        )

    def _cancel(self, order: SimOrder) -> None:
        order.status = "Cancelled"
        order.completed_time = self._stamp(self.now())
        for owner in self._owners(order):
            self._send_order_status(owner, order)
            owner.error(order.order_id, 202, "Order Canceled - reason:")

    async def _cancel_order(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.CANCEL_ORDER].parse(fields)
        order_id = parse_int(req["orderId"])
        order = self.book.orders.get((session.client_id or 0, order_id))
        if order is None:
            session.error(order_id, 10147,
                          f"OrderId {order_id} that needs to be cancelled is not found.")
        elif not order.is_working:
            session.error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled "
                                           f"cannot be cancelled, state: {order.status}.")
        else:
            self._cancel(order)

    async def _global_cancel(self, session: _Session, fields: list[str]) -> None:
        for order in self.book.working():
            self._cancel(order)

    def _send_orders(self, session: _Session, orders: list[SimOrder]) -> None:
        for order in orders:
            self._send_open_order(session, order)
            self._send_order_status(session, order)
        session.out(P.OPEN_ORDER_END)

    async def _open_orders(self, session: _Session, fields: list[str]) -> None:
        # clientId 0 is TWS's "master" view of every API client's orders.
        client = None if session.client_id == 0 else session.client_id
        self._send_orders(session, self.book.working(client))

    async def _all_open_orders(self, session: _Session, fields: list[str]) -> None:
        self._send_orders(session, self.book.working())

    async def _completed_orders(self, session: _Session, fields: list[str]) -> None:
        for order in self.book.completed():
            values = self._order_fields(order)
            session.out(
                P.COMPLETED_ORDER, status=order.status, filledQuantity=order.filled,
                completedTime=order.completed_time, completedStatus=order.status, **values,
            )
        session.out(P.COMPLETED_ORDERS_END)

    def _stamp(self, when: datetime) -> str:
        return when.astimezone(self._login_tz).strftime("%Y%m%d %H:%M:%S ") + self.config.login_tz

    def _send_execution(self, session: _Session, req_id: int, ex: Execution) -> None:
        inst = ex.instrument
        session.out(
            P.EXEC_DETAILS, reqId=req_id, orderId=ex.order_id, conId=inst.con_id,
            symbol=inst.symbol, secType=inst.sec_type, exchange=ex.exchange,
            currency=inst.currency, localSymbol=inst.symbol, tradingClass=inst.trading_class,
            execId=ex.exec_id, time=self._stamp(ex.time), acctNumber=ex.account,
            execExchange=ex.exchange, side=ex.side, shares=ex.shares, price=ex.price,
            permId=ex.perm_id, clientId=ex.client_id, cumQty=ex.cum_qty, avgPrice=ex.avg_price,
            orderRef=ex.order_ref,
        )

    def _send_commission(self, session: _Session, ex: Execution) -> None:
        session.out(
            P.COMMISSION_REPORT, execId=ex.exec_id, commission=ex.commission,
            realizedPNL=P.UNSET_DOUBLE if ex.realized_pnl is None else round(ex.realized_pnl, 4),
        )

    async def _executions(self, session: _Session, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_EXECUTIONS].parse(fields)
        req_id = parse_int(req["reqId"])
        client = parse_int(req["clientId"])
        side = {"BUY": "BOT", "SELL": "SLD"}.get(req["side"].upper(), req["side"].upper())
        since = _parse_exec_filter_time(req["time"], self._login_tz)
        matches = [
            ex for ex in self.book.executions
            if (not client or ex.client_id == client)
            and (not req["acctCode"] or ex.account == req["acctCode"])
            and (not req["symbol"] or ex.instrument.symbol == req["symbol"].upper())
            and (not req["secType"] or ex.instrument.sec_type == req["secType"])
            and (not side or ex.side == side)
            and (since is None or ex.time >= since)
        ]
        for ex in matches:
            self._send_execution(session, req_id, ex)
            self._send_commission(session, ex)
        session.out(P.EXEC_DETAILS_END, reqId=req_id)

    # -- the market ----------------------------------------------------------------------------

    def _seed_price(self, inst: Instrument) -> float:
        """The last synthetic daily close, so fills sit near the bars clients have seen."""
        end = self.now()
        try:
            daily = self.provider.fetch_bars(
                inst.symbol, _DAILY, end - timedelta(days=10), end + timedelta(days=1)
            )
        except Exception:
            log.warning("ibsim: no bars to seed the %s price; using %.2f", inst.symbol,
                        inst.ref_price, exc_info=True)
            return inst.ref_price
        if daily.empty:
            return inst.ref_price
        return float(daily["close"].iloc[-1])

    def price(self, symbol: str) -> float:
        """The current simulated price of ``symbol``."""
        return self.prices.price(self.instruments[symbol.upper()])

    def set_price(self, symbol: str, price: float) -> None:
        """Move the market to ``price`` and fill whatever that triggers, at once."""
        inst = self.instruments[symbol.upper()]
        self.prices.set(inst, price)
        self._match(inst)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            try:
                self.tick()
            except Exception as exc:  # keep ticking, but make the bug visible
                log.exception("ibsim: tick failed")
                self.failures.append(f"tick failed: {exc!r}")

    def tick(self) -> None:
        """Advance every symbol with working orders one step, then match."""
        symbols = {o.instrument.symbol for o in self.book.working()}
        for symbol in sorted(symbols):
            inst = self.instruments[symbol]
            self.prices.step(inst)
            self._match(inst)

    def _match(self, inst: Instrument) -> None:
        price = self.prices.price(inst)
        for order in self.book.working():
            if order.instrument.symbol != inst.symbol:
                continue
            fill_at = order.fill_price(price)
            if fill_at is not None:
                self._fill(order, fill_at)

    def _fill(self, order: SimOrder, price: float) -> None:
        now = self.now()
        ex = self.book.fill(order, price, now)
        order.completed_time = self._stamp(now)
        # TWS's order for a fill: execDetails, openOrder, orderStatus, then the commission.
        for owner in self._owners(order):
            self._send_execution(owner, -1, ex)
            self._send_open_order(owner, order)
            self._send_order_status(owner, order)
            self._send_commission(owner, ex)
        self._push_account(order.instrument.con_id)

    def _push_account(self, con_id: int) -> None:
        marks = self._marks()
        for session in list(self._sessions):
            if session.closed or session.client_id is None:
                continue
            if session.positions_subscribed:
                self._send_position(session, con_id)
            if session.account_updates_subscribed:
                self._send_portfolio(session, con_id, marks)
                self._send_account_values(session, marks)
            for req_id in session.multi_req_ids:
                self._send_account_multi(session, req_id, marks)


def _order_tail(fields: list[str], start: int) -> dict[str, object]:
    """The placeOrder fields after ``hidden`` that matter here (v178, non-BAG), up to whatIf.

    Walks the same conditional groups ib_async's ``Client.placeOrder`` writes.
    """
    it = iter(fields[start:])

    def take(n: int = 1) -> list[str]:
        out = [next(it, "") for _ in range(n)]
        return out

    (_shares_alloc, _discretionary, good_after, good_till, *_fa) = take(6)
    take(1)  # modelCode
    take(22)  # shortSaleSlot .. volatilityType
    (dn_type,) = take(1)
    take(1)  # deltaNeutralAuxPrice
    if dn_type:
        take(8)
    take(4)  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
    take(2)  # scaleInitLevelSize, scaleSubsLevelSize
    (increment,) = take(1)
    if 0 < parse_float(increment) < P.UNSET_DOUBLE:
        take(7)
    take(3)  # scaleTable, activeStartTime, activeStopTime
    (hedge_type,) = take(1)
    if hedge_type:
        take(1)
    take(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    (dnc,) = take(1)
    if parse_bool(dnc):
        take(3)
    (algo,) = take(1)
    if algo:
        (count,) = take(1)
        take(2 * parse_int(count))
    take(1)  # algoId
    (what_if,) = take(1)
    return {"goodAfterTime": good_after, "goodTillDate": good_till, "whatIf": parse_bool(what_if)}


def _parse_exec_filter_time(text: str, tz: ZoneInfo) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    zone = UTC if "-" in text[:9] else tz
    for pattern in ("%Y%m%d-%H:%M:%S", "%Y%m%d %H:%M:%S"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(text[:17] + "+0000", pattern + "%z").replace(tzinfo=zone)
    return None


_DAILY = RESOLUTIONS["1d"]


# -- running it --------------------------------------------------------------------------------


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

    def start(self, timeout: float = 10.0) -> SimulatorThread:
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

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn()`` on the simulator's loop and return its result."""
        async def run() -> T:
            return fn()

        future: ConcurrentFuture[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
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
        await sim._shutdown()


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
