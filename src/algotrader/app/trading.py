"""Trading use cases: run a strategy live (paper by default), stop it, show its state.

The code that was backtested is the code that trades: :func:`run_trading` feeds completed live
bars to the *same* strategy object, through the same row contract and the same sizing rules as
``algotrader backtest`` (:mod:`algotrader.backtest.incremental`), and sends the orders it
decides on a bar's close to fill at the next bar's open::

    request = TradeRequest(strategy="ma_cross", symbols=("AAPL", "MSFT"), resolution="1m",
                           params={"fast": "5", "slow": "20"},
                           replay=ReplaySpec(source="synthetic", bars=1000))
    result = asyncio.run(run_trading(settings, request))      # paper broker, no account
    print(result.orders, result.latency_p50_ms)

Brokers (``broker``): ``paper`` (:class:`algotrader.paper.PaperBroker`, filling at the next
bar's open like the backtest, on bars replayed from a stored or synthetic series,
accelerated by ``replay.speed``) or ``ib`` (TWS / IB Gateway, through
:func:`algotrader.app.trading_ib.open_ib_venue`). A live account is refused unless
``live=True``.

Safety, in order: every order passes the risk layer (:mod:`algotrader.trading.risk`); it is
stored with a deterministic client reference before it is sent; after a restart the session
(same name: same command) reconciles with the broker (executions, open orders) before it
trades, and resumes after its last processed bar, so no order is ever sent twice. The kill
switch, :func:`stop_trading`, is a flag on the session row that the running loop watches: it
cancels the session's open orders and, with ``flatten``, closes its positions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from algotrader.app._stores import Stores, open_stores
from algotrader.app._trading_loop import (
    Progress,
    TradeEvent,
    TradingLoop,
    cancel_all,
    flatten,
    reconcile,
    trade_ref,
)
from algotrader.app.risk import LiveTradingRefusedError, refuse_live_port
from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.incremental import book_from_json, book_to_json, check_live_config
from algotrader.config import Settings
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.paper import PaperBroker, ReplayBarSource
from algotrader.ports.trading import BrokerEvent, Fill, TradeOrder, TradingVenue
from algotrader.ports.trading_state import FILLED, REJECTED, SENT, SessionRecord
from algotrader.strategies.registry import get_strategy, strategy_name, strategy_params
from algotrader.symbols import parse_symbols
from algotrader.timeframes import parse_resolution
from algotrader.trading.risk import RiskGate, RiskLimits

__all__ = [
    "ReplaySpec",
    "SessionStatus",
    "StopResult",
    "TradeEvent",
    "TradeRequest",
    "TradeResult",
    "run_trading",
    "session_name_for",
    "stop_trading",
    "trade_ref",
    "trading_status",
]

_STOP_POLL_SECONDS = 0.25
_HEARTBEAT_SECONDS = 2.0  # a running loop touches its session row this often
_ALIVE_SECONDS = 10.0  # a "running" session silent for longer has died


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """The bars ``--broker paper`` replays as if live.

    ``source``: ``synthetic`` (the synthetic provider's series, stored as it is replayed) or
    ``stored`` (bars already in the database). ``bars``: how many bars per symbol (the last
    ones before ``end``; ``end`` None = now for synthetic, the newest stored bar for stored).
    ``speed``: bar time per wall time (60 = a 1-minute bar per second; 0 = as fast as possible).
    """

    source: Literal["synthetic", "stored"] = "synthetic"
    bars: int = 1000
    speed: float = 0.0
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.source not in ("synthetic", "stored"):
            raise InvalidInputError(f"invalid --replay {self.source!r}", "use synthetic or stored")
        if self.bars < 2:
            raise InvalidInputError(f"invalid --bars {self.bars}", "replay at least 2 bars")
        if self.speed < 0:
            raise InvalidInputError(f"invalid --speed {self.speed:g}", "use 0 or more")


@dataclass(frozen=True, slots=True)
class TradeRequest:
    """One trading session to run (or resume).

    ``strategy``/``params``: as ``backtest --strategy NAME --param k=v``; ``config``: sizing and
    costs (the backtest's :class:`BacktestConfig`; whole shares by default, as brokers want);
    ``limits``: the risk limits; ``session``: the session's name (default: derived from the
    strategy, parameters, symbols, resolution and broker, so the same command resumes it);
    ``warmup``: stored bars before the first live bar the strategy sees first;
    ``max_bars``: stop after this many bars (None: until the feed ends or ``trade stop``).
    """

    strategy: str
    symbols: tuple[str, ...]
    resolution: str = "1m"
    params: Mapping[str, str] = field(default_factory=dict)
    broker: Literal["paper", "ib"] = "paper"
    live: bool = False
    config: BacktestConfig = field(default_factory=lambda: BacktestConfig(whole_shares=True))
    limits: RiskLimits = field(default_factory=RiskLimits)
    replay: ReplaySpec = field(default_factory=ReplaySpec)
    session: str | None = None
    warmup: int = 200
    max_bars: int | None = None

    def __post_init__(self) -> None:
        if self.broker not in ("paper", "ib"):
            raise InvalidInputError(f"invalid --broker {self.broker!r}", "use paper or ib")
        object.__setattr__(self, "symbols", tuple(parse_symbols(",".join(self.symbols))))
        object.__setattr__(self, "resolution", parse_resolution(self.resolution).name)
        if self.warmup < 0:
            raise InvalidInputError(f"invalid --warmup {self.warmup}", "use 0 or more bars")
        if self.max_bars is not None and self.max_bars < 1:
            raise InvalidInputError(f"invalid --max-bars {self.max_bars}", "use 1 or more")
        if self.session is not None and not (0 < len(self.session) <= 64):
            raise InvalidInputError(f"invalid --session {self.session!r}", "use 1-64 characters")
        check_live_config(self.config)


@dataclass(frozen=True, slots=True)
class TradeResult:
    """What one run of a session did (this run only; ``positions`` are the session's, from
    all its stored fills)."""

    session: str
    broker: str
    account: str
    bars: int
    backfill_bars: int
    orders: int
    rejected: int
    fills: int
    duplicates_skipped: int
    reconciled: int
    positions: dict[str, float]
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    stopped_by: str


def session_name_for(request: TradeRequest, strategy: object) -> str:
    """The default session name: strategy, resolution and a digest of everything that makes
    the session what it is (``ma_cross-1m-1a2b3c4d``)."""
    key = json.dumps(
        [
            strategy_name(strategy),
            strategy_params(strategy),
            request.symbols,
            request.resolution,
            request.broker,
        ],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{strategy_name(strategy)[:40]}-{request.resolution}-{digest}"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------- venues
@dataclass(frozen=True, slots=True)
class _Venue:
    venue: TradingVenue
    store_source: str | None  # the bars' source label when stored; None: already stored
    bar_clock: bool  # the risk clock follows the bars (replays) rather than the wall
    paper: PaperBroker | None = None


def _replay_frames(stores: Stores, request: TradeRequest) -> dict[str, object]:
    from algotrader.data.providers.synthetic import SyntheticProvider

    spec, res = request.replay, parse_resolution(request.resolution)
    frames: dict[str, object] = {}
    for symbol in request.symbols:
        if spec.source == "stored":
            bars = stores.bars.load_bars(symbol, res.name, end=spec.end, indicators=False)
        else:
            end = spec.end or datetime.now(UTC)
            span = timedelta(seconds=res.seconds * spec.bars * 4) + timedelta(days=7)
            bars = SyntheticProvider().fetch_bars(symbol, res.name, end - span, end)
        if len(bars) < 2:
            raise DataNotFoundError(
                f"no {res.name} bars of {symbol} to replay",
                f"ingest some first (algotrader ingest -s {symbol} -r {res.name}) or use "
                "--replay synthetic",
            )
        frames[symbol] = bars.iloc[-spec.bars :]
    return frames


@asynccontextmanager
async def _open_venue(
    settings: Settings, stores: Stores, request: TradeRequest, name: str
) -> AsyncIterator[_Venue]:
    if request.broker == "ib":
        from algotrader.app.trading_ib import open_ib_venue

        refuse_live_port(settings, request.live)  # before connecting at all
        async with open_ib_venue(
            settings, request.symbols, request.resolution, live=request.live
        ) as venue:
            yield _Venue(venue, "ibkr", bar_clock=False)
        return
    frames = _replay_frames(stores, request)
    path = settings.data_dir / "paper" / f"{name}.jsonl"
    broker = PaperBroker(request.config, path)
    source = ReplayBarSource(frames, broker, request.replay.speed)  # type: ignore[arg-type]
    stored_source = "synthetic" if request.replay.source == "synthetic" else None
    try:
        yield _Venue(TradingVenue(source, broker), stored_source, bar_clock=True, paper=broker)
    finally:
        await source.close()
        await broker.close()


# ---------------------------------------------------------------------------------- sessions
def _open_session(
    stores: Stores, request: TradeRequest, strategy: object, venue: _Venue
) -> SessionRecord:
    name = request.session or session_name_for(request, strategy)
    broker = venue.venue.broker
    settings = {
        "strategy": strategy_name(strategy),
        "params": strategy_params(strategy),
        "symbols": list(request.symbols),
        "resolution": request.resolution,
        "broker": broker.name,
    }
    found = stores.trading.session(name)
    if found is not None:
        differs = [k for k, v in settings.items() if getattr(found, k) != v]
        if differs:
            raise InvalidInputError(
                f"session {name} exists with other settings ({', '.join(differs)})",
                "pass the same settings to resume it, or --session NEW_NAME",
            )
    session = stores.trading.create_session(
        name=name,
        account=broker.account,
        is_paper=broker.is_paper,
        config={"backtest": asdict(request.config), "limits": request.limits.as_dict()},
        **settings,
    )
    # Starting a session is the user's decision: a stop left from before no longer applies.
    return stores.trading.update_session(
        session.id, state="running", stop_requested=False, flatten_requested=False, message=None
    )


async def _watch_stop(stores: Stores, venue: _Venue, name: str, stop: asyncio.Event) -> None:
    """The kill switch: poll the session row until ``trade stop`` sets its flag, then end the
    bar feed (a loop waiting for the next bar must not wait for it to act)."""
    beat = 0.0
    while not stop.is_set():
        found = stores.trading.session(name)
        if found is not None and found.stop_requested:
            stop.set()
            await venue.venue.bars.close()
            return
        if found is not None and time.monotonic() - beat >= _HEARTBEAT_SECONDS:
            stores.trading.update_session(found.id, state="running")  # the heartbeat
            beat = time.monotonic()
        await asyncio.sleep(_STOP_POLL_SECONDS)


async def _feed(
    loop: TradingLoop, venue: _Venue, request: TradeRequest, stop: asyncio.Event
) -> str:
    """Run bars through the loop until the feed ends, ``max_bars`` or the kill switch."""
    bars = venue.venue.bars.subscribe(request.symbols, request.resolution, loop.last_bar)
    async for bar in bars:
        received = time.perf_counter()
        if stop.is_set():
            return "stop"
        await loop.handle(bar, received)
        loop.flush()
        if request.max_bars is not None and loop.stats.bars >= request.max_bars:
            return "max_bars"
        await loop.sleep()
    return "stop" if stop.is_set() else "end of feed"


async def _kill(loop: TradingLoop, venue: _Venue, stores: Stores) -> None:
    found = stores.trading.session(loop.session.name)
    cancelled = await cancel_all(loop)
    loop.risk.kill()
    text = f"kill switch: {cancelled} open order(s) cancelled"
    if found is not None and found.flatten_requested:
        sent = await flatten(loop)
        if venue.paper is not None:
            # The paper market has no next bar: it fills the closing orders at the last close.
            for symbol, price in loop.risk.ledger.prices.items():
                venue.paper.quote(symbol, loop.now, price)
        text += f", {sent} flattening order(s) sent"
    loop.say("stopped", text)


def _positions(stores: Stores, session: SessionRecord) -> dict[str, float]:
    held: dict[str, float] = {}
    for fill in stores.trading.fills(session.id):
        held[fill.symbol] = held.get(fill.symbol, 0.0) + fill.signed_quantity
    return {s: q for s, q in sorted(held.items()) if abs(q) > 1e-9}


async def run_trading(
    settings: Settings, request: TradeRequest, progress: Progress | None = None
) -> TradeResult:
    """Run (or resume) a trading session until its feed ends, ``max_bars`` or ``trade stop``.

    Raises :class:`~algotrader.errors.UserError` subclasses (one line) for a bad request, an
    unknown strategy, nothing to replay, a live account without ``live=True``, or an
    unreachable gateway.
    """
    strategy = get_strategy(request.strategy, **dict(request.params))
    with open_stores(settings) as stores:
        name = request.session or session_name_for(request, strategy)
        async with _open_venue(settings, stores, request, name) as venue:
            broker = venue.venue.broker
            if not broker.is_paper and not request.live:
                raise LiveTradingRefusedError(
                    f"refusing to trade account {broker.account}: it is a live account",
                    "pass --live to trade real money",
                )
            session = _open_session(stores, request, strategy, venue)
            return await _run(stores, session, request, venue, progress)


async def _run(
    stores: Stores,
    session: SessionRecord,
    request: TradeRequest,
    venue: _Venue,
    progress: Progress | None,
) -> TradeResult:
    holder: list[TradingLoop] = []
    risk = RiskGate(request.limits, lambda: holder[0].clock())
    loop = TradingLoop(
        stores,
        session,
        venue.venue.broker,
        lambda: get_strategy(request.strategy, **dict(request.params)),
        request.config,
        risk,
        store_source=venue.store_source,
        bar_clock=venue.bar_clock,
        progress=progress,
        warmup=request.warmup,
    )
    holder.append(loop)
    reconciled = await reconcile(loop)
    loop.say(
        "reconciled",
        f"session {session.name}: {reconciled} stored order(s) updated "
        f"from the broker; resuming after {len(loop.last_bar)} symbol mark(s)",
    )
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_stop(stores, venue, session.name, stop))
    try:
        stopped_by = await _feed(loop, venue, request, stop)
        if stopped_by == "stop" or stop.is_set():
            stopped_by = "stop"
            await _kill(loop, venue, stores)
    finally:
        stop.set()
        await watcher
        loop.flush(force=True)
        state = "stopped" if stopped_by == "stop" else "idle"
        stores.trading.update_session(session.id, state=state, message=stopped_by)
    s = loop.stats
    return TradeResult(
        session.name,
        venue.venue.broker.name,
        venue.venue.broker.account,
        s.bars,
        s.backfill,
        s.orders,
        s.rejected,
        s.fills,
        s.duplicates_skipped,
        reconciled,
        _positions(stores, session),
        _percentile(s.latencies_ms, 0.5),
        _percentile(s.latencies_ms, 0.99),
        stopped_by,
    )


# ---------------------------------------------------------------------------------- stop/status
@dataclass(frozen=True, slots=True)
class StopResult:
    """What :func:`stop_trading` flagged: the sessions asked to stop and whether they were
    running (a running loop acts within a bar or a quarter of a second)."""

    sessions: list[str]
    running: list[str]
    flatten: bool


def _alive(session: SessionRecord) -> bool:
    """Running, and its loop's heartbeat is recent (a crashed loop leaves "running" behind)."""
    age = datetime.now(UTC) - session.updated_at
    return session.state == "running" and age < timedelta(seconds=_ALIVE_SECONDS)


def stop_trading(
    settings: Settings, session: str | None = None, *, flatten: bool = False
) -> StopResult:
    """The kill switch: ask a session (default: every running one) to cancel its open orders,
    optionally flatten its positions, and stop.

    A running loop acts on the flag itself. For a paper session whose loop is not running the
    open orders are cancelled here (and, with ``flatten``, the positions closed at the last
    stored close); an IB session acts when it is resumed.
    """
    with open_stores(settings) as stores:
        found = stores.trading.sessions()
        if session is not None:
            found = [s for s in found if s.name == session]
            if not found:
                raise DataNotFoundError(
                    f"no trading session called {session!r}", "see `algotrader trade status`"
                )
        else:
            found = [s for s in found if s.state == "running"]
        running = [s.name for s in found if _alive(s)]
        for s in found:
            stores.trading.update_session(s.id, stop_requested=True, flatten_requested=flatten)
            if s.name not in running and s.broker == "paper":
                _stop_paper_offline(settings, stores, s, flatten)
        return StopResult([s.name for s in found], running, flatten)


def _stop_paper_offline(
    settings: Settings, stores: Stores, session: SessionRecord, flatten: bool
) -> None:
    """The kill switch for a paper session with no loop: cancel, flatten at the last close."""
    from algotrader.app._trading_loop import trade_ref as ref_for

    config = BacktestConfig(**session.config.get("backtest", {}))
    broker = PaperBroker(config, settings.data_dir / "paper" / f"{session.name}.jsonl")

    def store(event: BrokerEvent) -> None:
        if isinstance(event, Fill):
            stores.trading.add_fill(session.id, event)

    broker.listen(store)
    for order in broker.working():
        broker.cancel_now(order.client_ref)
    if flatten:
        states = stores.trading.symbol_states(session.id)
        for symbol, quantity in broker.held().items():
            bars = stores.bars.load_bars(symbol, session.resolution, indicators=False)
            if bars.empty:
                continue
            side: Literal["BUY", "SELL"] = "SELL" if quantity > 0 else "BUY"
            last = bars.index[-1].to_pydatetime()
            ref = ref_for(session.name, symbol, last, f"X{side}")
            broker.place_now(TradeOrder(ref, symbol, side, abs(quantity)))
            broker.quote(symbol, last, float(bars["close"].iloc[-1]))
            state = states.get(symbol)
            if state is not None and state.book:
                book = book_from_json(state.book)
                flat = book._replace(cash=book.cash + book.pos * book.qty * float(
                    bars["close"].iloc[-1]), qty=0.0, pos=0)  # fmt: skip
                stores.trading.set_book(session.id, symbol, book_to_json(flat))
    stores.trading.update_session(session.id, state="stopped", message="stopped while idle")
    broker.close_now()


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A session as ``trade status`` shows it: its row, positions (from fills), counts."""

    session: SessionRecord
    positions: dict[str, float]
    last_bars: dict[str, datetime | None]
    orders: int
    filled: int
    rejected: int
    fills: int
    latency_p50_ms: float | None


def trading_status(settings: Settings, session: str | None = None) -> list[SessionStatus]:
    """Every session (or one), newest first, with its positions and order counts."""
    with open_stores(settings) as stores:
        found = stores.trading.sessions()
        if session is not None:
            found = [s for s in found if s.name == session]
            if not found:
                raise DataNotFoundError(
                    f"no trading session called {session!r}", "see `algotrader trade status`"
                )
        out = []
        for s in found:
            decisions = stores.trading.decisions(s.id, orders_only=True)
            latencies = [d.latency_ms for d in decisions if d.latency_ms is not None]
            states = stores.trading.symbol_states(s.id)
            out.append(
                SessionStatus(
                    s,
                    _positions(stores, s),
                    {k: v.last_bar_ts for k, v in states.items()},
                    sum(d.status in (SENT, FILLED) for d in decisions),
                    sum(d.status == FILLED for d in decisions),
                    sum(d.status == REJECTED for d in decisions),
                    len(stores.trading.fills(s.id)),
                    _percentile(latencies, 0.5),
                )
            )
        return out
