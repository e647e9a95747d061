"""The TWS-protocol simulator: an asyncio TCP server at server version 178.

The unmodified ``ib_async`` client connects to it as to TWS or IB Gateway::

    async with IBSimulator(SimConfig()) as sim:       # ephemeral port on 127.0.0.1
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1)

This module is the connection handling: sessions, framing, the handshake and ``startApi``, and
dispatching requests to the handlers of :mod:`algotrader.ibsim.handlers`; orders are matched by
:class:`~algotrader.ibsim.matching.MatchingEngine`. For blocking-API callers,
:func:`~algotrader.ibsim.runner.start_in_thread` runs a simulator on its own loop in a
background thread; :func:`~algotrader.ibsim.runner.serve` runs it in the foreground
(``algotrader ib-sim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from algotrader.ibsim import protocol as P
from algotrader.ibsim.config import Faults, SimConfig, SimulatorError
from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.handlers.account import AccountHandlers
from algotrader.ibsim.handlers.contracts import ContractHandlers
from algotrader.ibsim.handlers.history import HistoryHandlers
from algotrader.ibsim.handlers.orders import OrderHandlers
from algotrader.ibsim.handlers.streaming import StreamingHandlers
from algotrader.ibsim.handlers.unsupported import UnsupportedHandlers
from algotrader.ibsim.history import BarProvider
from algotrader.ibsim.instruments import Instrument
from algotrader.ibsim.matching import MatchingEngine
from algotrader.ibsim.protocol import In, ProtocolError, parse_int
from algotrader.ibsim.replay import FeedControl, Replay
from algotrader.ibsim.session import ClientSession
from algotrader.ibsim.state import Book, PriceProcess
from algotrader.timeframes import RESOLUTIONS

log = logging.getLogger("algotrader.ibsim")

CLIENT_ID_IN_USE_TEXT = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)
FARM_MESSAGES: tuple[tuple[int, str], ...] = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
# Requests that need no answer (cancels of things the simulator never streams).
_IGNORED = (In.CANCEL_HEAD_TIMESTAMP, In.REQ_AUTO_OPEN_ORDERS, In.CANCEL_ACCOUNT_SUMMARY)
_DAILY = RESOLUTIONS["1d"]
_RECONNECT_GRACE = 1.0  # seconds a clientId may stay held by a socket that is closing


async def _ignore(session: ClientSession, fields: list[str]) -> None:
    log.debug("ibsim: ignoring %s", P.join_fields(fields))


def _default_provider(clock: Callable[[], datetime]) -> BarProvider:
    # Imported late: the provider pulls in numpy/pandas machinery the CLI need not load.
    from algotrader.data.providers.synthetic import SyntheticProvider

    return SyntheticProvider(clock=clock)


def _last_daily_close(provider: BarProvider, now: datetime, inst: Instrument) -> float:
    """The last synthetic daily close, so fills sit near the bars clients have seen."""
    try:
        daily = provider.fetch_bars(
            inst.symbol, _DAILY, now - timedelta(days=10), now + timedelta(days=1)
        )
    except Exception:
        log.warning("ibsim: no bars to seed the %s price; using %.2f", inst.symbol,
                    inst.ref_price, exc_info=True)
        return inst.ref_price
    if daily.empty:
        return inst.ref_price
    return float(daily["close"].iloc[-1])


class IBSimulator(FeedControl):
    """A TWS stand-in for one paper account. Use ``async with`` or :meth:`start`/:meth:`stop`.

    With ``SimConfig.feed`` it replays bars: see :class:`~algotrader.ibsim.replay.FeedControl`.
    """

    def __init__(self, config: SimConfig | None = None, provider: BarProvider | None = None):
        self.config = config or SimConfig()
        self._provider = provider
        self.instruments: dict[str, Instrument] = dict(self.config.instruments)
        self.faults: Faults = self.config.faults
        self.login_tz = ZoneInfo(self.config.login_tz)
        self.book = Book(
            account=self.config.account,
            cash=self.config.initial_cash,
            commission_per_share=self.config.commission_per_share,
            min_commission=self.config.min_commission,
        )
        self.prices = PriceProcess(self._seed_price)
        self.engine = MatchingEngine(self.book, self.prices, self.now, self.stamp,
                                     self.config.max_fill_size)
        self.failures: list[str] = self.engine.failures
        self.next_order_id = self.config.first_order_id
        self.host = self.config.host
        self.port = self.config.port
        self._sessions: set[ClientSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.contracts = ContractHandlers(self)
        self.history = HistoryHandlers(self)
        self.account = AccountHandlers(self)
        self.orders = OrderHandlers(self)
        self.unsupported = UnsupportedHandlers(self)
        self.streaming = StreamingHandlers(self)
        self.engine.listener = self.orders
        self._routes: dict[int, Handler] = {msg_id: _ignore for msg_id in _IGNORED}
        for group in (self.unsupported, self.contracts, self.history, self.account, self.orders,
                      self.streaming):
            self._routes.update(group.routes())
        self.replay: Replay | None = Replay.create(self, provider)

    # -- state ---------------------------------------------------------------------------------

    @property
    def provider(self) -> BarProvider:
        if self._provider is None:
            # Same clock as the simulator, so "now" means one thing for bars and for requests.
            self._provider = _default_provider(self.now)
        return self._provider

    @property
    def historical_requests(self) -> int:
        """Historical-data requests received so far (the faults count them, 1-based)."""
        return self.history.requests

    def add_instrument(self, instrument: Instrument) -> None:
        self.instruments[instrument.symbol.upper()] = instrument

    def now(self) -> datetime:
        if self.replay is not None:
            return self.replay.time
        return self.config.clock() if self.config.clock else datetime.now(UTC)

    def stamp(self, when: datetime) -> str:
        """A time as TWS writes it in executions and completed orders (login time zone)."""
        return when.astimezone(self.login_tz).strftime("%Y%m%d %H:%M:%S ") + self.config.login_tz

    def lookup(
        self, con_id: str, symbol: str, sec_type: str = "", currency: str = ""
    ) -> Instrument | None:
        """The instrument a request's contract fields name (conId first), or None."""
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

    def live_sessions(self) -> Iterator[ClientSession]:
        """Connected clients that have sent startApi."""
        return (s for s in list(self._sessions) if not s.closed and s.client_id is not None)

    @property
    def connected_client_ids(self) -> set[int]:
        return {s.client_id for s in self.live_sessions() if s.client_id is not None}

    # -- the market ----------------------------------------------------------------------------

    def _seed_price(self, inst: Instrument) -> float:
        return _last_daily_close(self.provider, self.now(), inst)

    def price(self, symbol: str) -> float:
        """The current simulated price of ``symbol``."""
        return self.prices.price(self.instruments[symbol.upper()])

    def set_price(self, symbol: str, price: float) -> None:
        """Move the market to ``price`` and fill whatever that triggers, at once."""
        self.engine.set_price(self.instruments[symbol.upper()], price)

    def tick(self) -> None:
        """Advance every symbol with working orders one step, then match."""
        self.engine.tick(self.instruments)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.config.host, self.config.port
        )
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        self._ticker = asyncio.create_task(
            self.engine.run(self.config.tick_interval, self.instruments), name="ibsim-ticker"
        )
        if self.replay is not None:
            self.replay.start()
        log.info("ibsim listening on %s:%s (server version %s)", self.host, self.port,
                 P.SERVER_VERSION)

    async def stop(self) -> None:
        """Close every connection and the listener; in strict mode raise on recorded failures."""
        await self.shutdown()
        if self.config.strict and self.failures:
            raise SimulatorError("ibsim saw unhandled traffic:\n" + "\n".join(self.failures))

    async def shutdown(self) -> None:
        """Close every connection and the listener (recorded failures are kept)."""
        if self._server is not None:
            self._server.close()
        if self.replay is not None:
            await self.replay.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self.drop_all_connections()
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
            await self.shutdown()  # do not mask the test's own failure

    def drop_all_connections(self) -> None:
        """Abort every client socket at once (as a TWS restart would)."""
        for session in list(self._sessions):
            session.abort()

    def fail(self, session: ClientSession | None, problem: str) -> None:
        """Something the simulator does not handle: log it, and in strict mode hang up."""
        log.error("ibsim: %s", problem)
        self.failures.append(problem)
        if session is not None and self.config.strict:
            session.abort()

    # -- connections ---------------------------------------------------------------------------

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = ClientSession(reader, writer)
        self._sessions.add(session)
        try:
            if await self._handshake(session) and await self._start_api(session):
                await self._serve(session)
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

    async def _handshake(self, session: ClientSession) -> bool:
        magic = await session.reader.readexactly(4)
        if magic != b"API\0":
            self.fail(session, f"handshake: expected b'API\\0', got {magic!r}")
            return False
        size = int.from_bytes(await session.reader.readexactly(4), "big")
        text = (await session.reader.readexactly(size)).decode(errors="replace")
        try:
            low, high = P.parse_handshake_versions(text)
        except ProtocolError as exc:
            self.fail(session, str(exc))
            return False
        if not low <= P.SERVER_VERSION <= high:
            # Refuse loudly: answering with another version would make the client decode every
            # later frame with the wrong layouts.
            self.fail(
                session,
                f"client offers API versions {low}..{high}; ibsim speaks only "
                f"{P.SERVER_VERSION} (pin ib_async==2.1.0)",
            )
            return False
        await self._latency()
        now = self.now().astimezone(self.login_tz)
        session.send([P.SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S %Z")])
        return True

    async def _start_api(self, session: ClientSession) -> bool:
        fields = await session.read_frame()
        if not fields or fields[0] != str(In.START_API):
            self.fail(session, f"expected startApi (71) after the handshake, got {fields!r}")
            return False
        start = P.REQUESTS[In.START_API].parse(fields)
        client_id = parse_int(start["clientId"])
        await self._latency()
        if not await self._claim_client_id(session, client_id):
            # TWS answers a taken clientId with 326 and hangs up before nextValidId.
            session.error(-1, 326, CLIENT_ID_IN_USE_TEXT)
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()
            session.writer.close()
            return False
        session.out(P.MANAGED_ACCOUNTS, accountsList=self.config.account)
        session.out(P.NEXT_VALID_ID, orderId=self.next_order_id)
        for code, text in FARM_MESSAGES:
            session.error(-1, code, text)
        log.info("ibsim: client %s connected from %s", client_id, session.peer)
        return True

    async def _claim_client_id(self, session: ClientSession, client_id: int) -> bool:
        if client_id in self.faults.client_ids_in_use:
            return False
        # A client that just disconnected may still be draining: give it a moment (on a busy
        # machine too), as the race is between two sockets on our side, not a real conflict.
        deadline = asyncio.get_running_loop().time() + _RECONNECT_GRACE
        while client_id in self.connected_client_ids:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        session.client_id = client_id
        return True

    async def _serve(self, session: ClientSession) -> None:
        while not session.closed:
            fields = await session.read_frame()
            if not fields:
                self.fail(session, "empty message")
                continue
            await self._dispatch(session, fields)
            await session.writer.drain()

    async def _dispatch(self, session: ClientSession, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except ValueError:
            self.fail(session, f"non-numeric message id: {fields!r}")
            return
        handler = self._routes.get(msg_id)
        if handler is None:
            # Strict (tests): hang up, loudly. Otherwise answer at once so no client waits.
            self.fail(
                session,
                f"unknown message id {msg_id} from client {session.client_id}: "
                f"{P.join_fields(fields)[:200]}",
            )
            if not self.config.strict:
                self.unsupported.unknown(session, msg_id)
            return
        if msg_id in self.faults.silent_messages:
            log.warning("ibsim: not answering message %d from client %s (fault)", msg_id,
                        session.client_id)
            return
        await self._latency()
        try:
            await handler(session, fields)
        except ProtocolError as exc:
            self.fail(session, str(exc))

    async def _latency(self) -> None:
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
