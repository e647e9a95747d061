"""``trade --broker ib`` (the trading use case) against the simulator's replay feed in step mode,
with the real ib_async client over a real socket, on SQLite and PostgreSQL (issue 14).

The test drives the session bar by bar: advance the simulator one bar, wait until the loop has
processed it (the bar source counts the bars the loop came back from; the wait only guards
against a hang), repeat. Then the orders are compared one by one with the backtest's and with
``--broker paper`` on the same series; under faults (a dropped gateway with pacing violations
on the backfill, a rejected order) there are no duplicate orders and the simulator's positions
equal the stored fills.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ib_async import IB
from tests.ibkr.conftest import FAST_RETRY, fast_pacer, hold_client, until

from algotrader.app import trading_ib
from algotrader.app._stores import open_stores
from algotrader.app.risk import LiveTradingRefusedError
from algotrader.app.trading import ReplaySpec, TradeRequest, TradeResult, run_trading
from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.config import Settings, load_settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.ibkr.live_bars import IbLiveBarSource
from algotrader.ibsim import Faults, FeedConfig, IBSimulator, SimConfig
from algotrader.ports.trading import TradingVenue
from algotrader.ports.trading_state import BACKFILL, REJECTED
from algotrader.strategies.registry import get_strategy

END = datetime(2024, 3, 8, 21, 0, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "TSLA", "NVDA", "AMZN")
# Per symbol, the last one still forming when the session ends (the 1,000-bar session is in
# benchmarks/live_ib.py).
BARS = 200
PARAMS = {"fast": "5", "slow": "20"}
CONFIG = BacktestConfig(allow_short=True, whole_shares=True, commission_per_share=0.005)
CLIENT_ID = 11
MINUTE = timedelta(minutes=1)

Order = tuple[str, datetime, str, float]


def _series(symbol: str, bars: int = BARS) -> pd.DataFrame:
    """The synthetic series ``--broker paper --replay synthetic`` replays (ending at END)."""
    return (
        SyntheticProvider()
        .fetch_bars(symbol, "1m", datetime(2024, 2, 20, tzinfo=UTC), END)
        .iloc[-bars:]
    )


def _feed(symbols: Sequence[str], bars: int = BARS) -> FeedConfig:
    # One bar more in front, as history: the session starts live on the paper replay's first bar.
    frames = {s: _series(s, bars + 1) for s in symbols}
    return FeedConfig(tuple(symbols), "1m", history_bars=1, bars=frames)


def _backtest_orders(symbols: Sequence[str], bars: int = BARS) -> list[Order]:
    """(symbol, fill bar, side, quantity) of the backtest on the same series."""
    out: list[Order] = []
    for symbol in symbols:
        result = run_backtest(_series(symbol, bars), get_strategy("ma_cross", **PARAMS), CONFIG)
        fills = result.fills.groupby(["ts", "action"], sort=True)["quantity"].sum()
        out += [(symbol, ts.to_pydatetime(), side, qty) for (ts, side), qty in fills.items()]
    return sorted(out)


def _request(symbols: Sequence[str], broker: str, bars: int = BARS, **changes: Any) -> TradeRequest:
    values: dict[str, Any] = {
        "strategy": "ma_cross",
        "symbols": tuple(symbols),
        "resolution": "1m",
        "params": PARAMS,
        "config": CONFIG,
        "broker": broker,
        "warmup": 0,
        "replay": ReplaySpec(source="synthetic", bars=bars, end=END),
        **changes,
    }
    return TradeRequest(**values)


def _settings(db_url: str, workdir: Path, port: int = 7497) -> Settings:
    return load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs"),
        ib_port=port, ib_client_id=CLIENT_ID, ib_timeout=5.0,
    )  # fmt: skip


def _stored(settings: Settings) -> tuple[list[Order], list[Order], list[Any], list[Any]]:
    """The session's filled orders (symbol, fill bar, side, quantity) from its fills, the
    orders it decided (same key: decision bar + 1), all its order decisions and fills."""
    with open_stores(settings) as stores:
        (session,) = stores.trading.sessions()
        fills = stores.trading.fills(session.id)
        decisions = stores.trading.decisions(session.id)
    per_order = Counter[tuple[str, datetime, str]]()
    for f in fills:
        per_order[(f.symbol, f.ts, f.side)] += f.quantity
    filled = sorted((s, ts, side, q) for (s, ts, side), q in per_order.items())
    decided = sorted(
        (d.symbol, d.bar_ts + MINUTE, d.side, d.quantity)
        for d in decisions
        if d.client_ref is not None and d.status != REJECTED
    )
    return filled, decided, decisions, fills


class _Observed:
    """The real ``open_ib_venue`` with test timings, keeping a handle on the venue it opened
    (to wait until the loop has processed a bar)."""

    def __init__(self) -> None:
        self.venue: TradingVenue | None = None
        self.real = trading_ib.open_ib_venue

    @asynccontextmanager
    async def __call__(
        self, settings: Settings, symbols: Sequence[str], bar_size: str, *, live: bool
    ) -> AsyncIterator[TradingVenue]:
        options = trading_ib.IbVenueOptions(retry=FAST_RETRY, pacer=fast_pacer())
        async with self.real(settings, symbols, bar_size, live=live, options=options) as venue:
            self.venue = venue
            yield venue

    @property
    def source(self) -> IbLiveBarSource:
        assert self.venue is not None
        bars = self.venue.bars
        assert isinstance(bars, IbLiveBarSource)
        return bars


class _Driver:
    """Runs a session as a task and steps the simulator under it."""

    def __init__(self, sim: IBSimulator, observed: _Observed, symbols: Sequence[str]) -> None:
        self.sim = sim
        self.observed = observed
        self.symbols = tuple(symbols)
        self.task: asyncio.Task[TradeResult] | None = None

    async def start(self, settings: Settings, request: TradeRequest) -> None:
        self.task = asyncio.create_task(run_trading(settings, request))
        await until(lambda: self.observed.venue is not None or self.task.done())  # type: ignore[union-attr]
        await self.live()

    async def live(self) -> None:
        assert self.task is not None
        await until(
            lambda: self.observed.source.live == set(self.symbols) or self.task.done()  # type: ignore[union-attr]
        )
        if self.task.done():
            self.task.result()  # raises what ended the session

    async def processed(self, completed: datetime) -> None:
        """Wait until the loop is done with every symbol's bar ``completed``."""
        assert self.task is not None
        source = self.observed.source
        await until(
            lambda: (
                all(source.last_processed.get(s) == completed for s in self.symbols)
                or self.task.done()
            )  # type: ignore[union-attr]
        )

    async def step(self, n: int = 1) -> None:
        for _ in range(n):
            await self.processed(await self.sim.advance())

    async def finish(self) -> TradeResult:
        assert self.task is not None
        return await asyncio.wait_for(self.task, 60)


def _sim_config(symbols: Sequence[str], bars: int = BARS, **changes: Any) -> SimConfig:
    return replace(SimConfig(tick_interval=0.02), feed=_feed(symbols, bars), **changes)


async def _sim_positions(sim: IBSimulator) -> dict[str, float]:
    """The account's positions as TWS reports them (``reqPositions``, own connection)."""
    ib = IB()
    await ib.connectAsync(sim.host, sim.port, clientId=CLIENT_ID + 50, timeout=5, readonly=True)
    try:
        found = await ib.reqPositionsAsync()
    finally:
        ib.disconnect()
    return {p.contract.symbol: float(p.position) for p in found if p.position}


def _from_fills(fills: list[Any]) -> dict[str, float]:
    held: Counter[str] = Counter()
    for f in fills:
        held[f.symbol] += f.signed_quantity
    return {s: q for s, q in sorted(held.items()) if q}


def _no_duplicates(sim: IBSimulator, decisions: list[Any]) -> None:
    sent = Counter(o.order_ref for o in sim.book.orders.values())
    assert sent and max(sent.values()) == 1  # one placeOrder per client ref
    assert sim.orders.received == len(sent)
    refs = [d.client_ref for d in decisions if d.client_ref is not None and d.broker_order_id]
    assert len(refs) == len(set(refs)) == len(sent)


def test_ib_session_places_the_backtests_and_the_paper_brokers_orders_bar_for_bar(
    db_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed = _Observed()
    monkeypatch.setattr(trading_ib, "open_ib_venue", observed)

    async def main() -> tuple[TradeResult, Settings, dict[str, float], IBSimulator]:
        async with IBSimulator(_sim_config(SYMBOLS)) as sim:
            settings = _settings(db_url, workdir, sim.port)
            driver = _Driver(sim, observed, SYMBOLS)
            await driver.start(
                settings, _request(SYMBOLS, "ib", max_bars=len(SYMBOLS) * (BARS - 1))
            )
            await driver.step(BARS - 1)
            result = await driver.finish()
            return result, settings, await _sim_positions(sim), sim

    result, settings, positions, sim = asyncio.run(main())
    filled, decided, decisions, fills = _stored(settings)
    expected = _backtest_orders(SYMBOLS)
    assert len(expected) > 20
    assert decided == expected  # symbol, bar, side and quantity, one by one
    assert filled == expected  # and each filled in full at the next bar's open
    assert result.bars == len(SYMBOLS) * (BARS - 1) and result.backfill_bars == 0
    assert result.orders == len(expected) and result.rejected == 0
    _no_duplicates(sim, decisions)
    assert positions == _from_fills(fills) == result.positions

    # --broker paper on the same series, in a database of its own.
    paper_settings = _settings(f"sqlite:///{workdir / 'paper.db'}", workdir / "paper")
    paper = asyncio.run(run_trading(paper_settings, _request(SYMBOLS, "paper")))
    paper_filled, paper_decided, _, _ = _stored(paper_settings)
    assert paper_decided == decided and paper_filled == filled
    assert paper.positions == result.positions


def test_faults_a_drop_with_pacing_on_the_backfill_and_a_rejection(
    db_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    symbols, bars = SYMBOLS[:3], 160
    observed = _Observed()
    monkeypatch.setattr(trading_ib, "open_ib_venue", observed)
    faults = Faults(reject_orders=frozenset({2}))
    drop_at, away = 60, 6  # the gateway drops after bar 60 and stays away 6 bars

    async def main() -> tuple[TradeResult, Settings, dict[str, float], IBSimulator, int, int]:
        async with IBSimulator(_sim_config(symbols, bars, faults=faults)) as sim:
            settings = _settings(db_url, workdir, sim.port)
            driver = _Driver(sim, observed, symbols)
            await driver.start(
                settings, _request(symbols, "ib", bars, max_bars=len(symbols) * (bars - 1))
            )
            await driver.step(drop_at - 1)
            hold_client(sim, CLIENT_ID, True)
            sim.faults = replace(sim.faults, drop_after_advances=drop_at)
            await sim.advance()  # bar 60, then the drop
            await sim.advance(away)
            first = sim.historical_requests + 1
            sim.faults = replace(sim.faults, pacing_violations=frozenset({first, first + 1}))
            hold_client(sim, CLIENT_ID, False)
            await driver.live()
            await driver.processed(sim.feed_bars(symbols[0]).index[-1].to_pydatetime())
            requests = sim.historical_requests
            await driver.step(bars - 1 - drop_at - away)
            result = await driver.finish()
            assert requests >= first + 1  # the refused requests were sent again
            return result, settings, await _sim_positions(sim), sim, first, requests

    result, settings, positions, sim, _, _ = asyncio.run(main())
    _, decided, decisions, fills = _stored(settings)
    backfilled = {(d.symbol, d.bar_ts) for d in decisions if d.status == BACKFILL}
    ordered = [d for d in decisions if d.client_ref is not None]

    # Reconnected and backfilled: the bars completed while away came back flagged, once.
    assert observed.source.reconnects >= len(symbols)
    assert result.bars == len(symbols) * (bars - 1)
    assert len(backfilled) == result.backfill_bars >= len(symbols) * away
    # No trade on a stale bar; trading again afterwards.
    assert not any((d.symbol, d.bar_ts) in backfilled for d in ordered)
    last_stale = max(ts for _, ts in backfilled)
    assert any(d.bar_ts > last_stale and d.status != REJECTED for d in ordered)
    # The rejected order: stored with IB's reason, never filled, nothing sent twice.
    (rejected,) = [d for d in ordered if d.status == REJECTED]
    assert "201" in (rejected.reason or "")
    assert not any(f.client_ref == rejected.client_ref for f in fills)
    _no_duplicates(sim, decisions)
    assert positions == _from_fills(fills) == result.positions
    # Until the rejection changed the book, the orders are the backtest's; it decided that one too.
    expected = _backtest_orders(symbols, bars)
    reject_at = rejected.bar_ts + MINUTE
    assert (rejected.symbol, reject_at, rejected.side, rejected.quantity) in expected
    assert [o for o in decided if o[1] < reject_at] == [o for o in expected if o[1] < reject_at]


def test_a_restart_backfills_what_it_missed_trades_on_and_sends_nothing_twice(
    db_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    symbols, bars, first_run, down = SYMBOLS[:3], 120, 50, 5
    observed = _Observed()
    monkeypatch.setattr(trading_ib, "open_ib_venue", observed)

    async def main() -> tuple[TradeResult, TradeResult, Settings, dict[str, float], IBSimulator]:
        async with IBSimulator(_sim_config(symbols, bars)) as sim:
            settings = _settings(db_url, workdir, sim.port)
            driver = _Driver(sim, observed, symbols)
            await driver.start(
                settings, _request(symbols, "ib", bars, max_bars=len(symbols) * first_run)
            )
            await driver.step(first_run)
            first = await driver.finish()
            await sim.advance(down)  # the market moves on while the session is down
            observed.venue = None
            rest = bars - 1 - first_run
            await driver.start(
                settings, _request(symbols, "ib", bars, max_bars=len(symbols) * rest)
            )
            await driver.processed(sim.feed_bars(symbols[0]).index[-1].to_pydatetime())
            await driver.step(rest - down)
            second = await driver.finish()
            return first, second, settings, await _sim_positions(sim), sim

    first, second, settings, positions, sim = asyncio.run(main())
    _, decided, decisions, fills = _stored(settings)
    backfilled = {(d.symbol, d.bar_ts) for d in decisions if d.status == BACKFILL}
    assert first.stopped_by == second.stopped_by == "max_bars"
    assert first.bars + second.bars == len(symbols) * (bars - 1)
    assert second.backfill_bars == len(backfilled) == len(symbols) * down
    assert not any((d.symbol, d.bar_ts) in backfilled for d in decisions if d.client_ref)
    _no_duplicates(sim, decisions)
    assert positions == _from_fills(fills) == second.positions
    # Up to the first backfilled bar the orders are the backtest's, one by one (a signal on a
    # stale bar is skipped, so afterwards they may differ).
    cut = min(ts for _, ts in backfilled)  # orders decided before it fill at or before it
    expected = _backtest_orders(symbols, bars)
    assert [o for o in decided if o[1] <= cut] == [o for o in expected if o[1] <= cut]
    assert any(o[1] > cut + down * MINUTE for o in decided)  # trading again afterwards


def test_a_live_port_is_refused_before_connecting(workdir: Path) -> None:
    settings = _settings(f"sqlite:///{workdir / 't.db'}", workdir, port=7496)  # TWS live

    async def main() -> None:
        async with trading_ib.open_ib_venue(settings, ["AAPL"], "1m", live=False):
            pass  # pragma: no cover

    with pytest.raises(LiveTradingRefusedError, match="live-trading port"):
        asyncio.run(main())


def test_a_live_account_is_refused_without_live(workdir: Path) -> None:
    async def main() -> None:
        async with IBSimulator(_sim_config(("AAPL",), 10, account="U7654321")) as sim:
            settings = _settings(f"sqlite:///{workdir / 't.db'}", workdir, sim.port)
            async with trading_ib.open_ib_venue(settings, ["AAPL"], "1m", live=False):
                pass  # pragma: no cover

    with pytest.raises(LiveTradingRefusedError, match="not a paper account"):
        asyncio.run(main())
