"""``trade --broker ib`` on the TWS simulator: latency and a 1,000-bar session (figures only).

    .venv/bin/python benchmarks/live_ib.py [--bars 1000] [--symbols 5] [--db-url URL]

The simulator replays synthetic 1-minute bars of ``--symbols`` symbols in step mode in its own
thread (its own event loop, as TWS is a separate program); the trading use case
(:func:`algotrader.app.trading.run_trading`, ``broker="ib"``, strategy ``ma_cross 5/20``)
runs in the main thread with the real ib_async client over loopback. The driver advances the
feed one bar, waits until the loop has processed that bar for every symbol, and repeats.

Printed:

* latency from bar completion to order sent, median and p99, three ways:
  - *client bar -> order at sim*: from the moment the client received the completed bar (the
    first ``hasNewBar`` of the step on the venue's connection) to the moment the simulator
    received the ``placeOrder`` (both ``time.perf_counter`` in one process);
  - *advance -> order at sim*: from the start of ``advance`` (the simulator completing the
    bar, its own work included) to the simulator receiving the ``placeOrder``;
  - the loop's own figure (bar received by the loop -> the broker acknowledged the order);
* the session: bars, orders, wall time, whether the orders equal the backtest's on the same
  series one by one (symbol, bar, side, quantity), duplicate client refs at the simulator
  (must be 0), and whether the simulator's positions equal the stored fills.

Database: a temporary SQLite file unless ``--db-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from algotrader.app import trading_ib
from algotrader.app._stores import open_stores
from algotrader.app.trading import ReplaySpec, TradeRequest, TradeResult, run_trading
from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.config import Settings, load_settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.ibkr.history import HistoricalPacer, PacingRules, RetryPolicy
from algotrader.ibkr.live_bars import IbLiveBarSource
from algotrader.ibsim import FeedConfig, SimConfig, SimulatorThread
from algotrader.ibsim.protocol import In
from algotrader.ports.trading import TradingVenue
from algotrader.strategies.registry import get_strategy

END = datetime(2024, 3, 15, 21, 0, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "TSLA", "NVDA", "AMZN", "GOOGL", "META")
PARAMS = {"fast": "5", "slow": "20"}
CONFIG = BacktestConfig(allow_short=True, whole_shares=True, commission_per_share=0.005)
CLIENT_ID = 21


def _series(symbol: str, bars: int) -> pd.DataFrame:
    start = END - timedelta(days=7 + bars // 300 * 2)
    return SyntheticProvider().fetch_bars(symbol, "1m", start, END).iloc[-bars:]


def _backtest_orders(symbols: Sequence[str], bars: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for symbol in symbols:
        result = run_backtest(_series(symbol, bars), get_strategy("ma_cross", **PARAMS), CONFIG)
        fills = result.fills.groupby(["ts", "action"], sort=True)["quantity"].sum()
        out += [(symbol, ts.to_pydatetime(), side, qty) for (ts, side), qty in fills.items()]
    return sorted(out)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Probe:
    """Timestamps: step starts, the client's first completed bar of each step, placeOrders."""

    def __init__(self) -> None:
        self.step = -1
        self.advance_at: dict[int, float] = {}
        self.bar_at: dict[int, float] = {}
        self.orders_at: list[tuple[int, float]] = []
        self.venue: TradingVenue | None = None

    def on_bar(self, bars: object, has_new_bar: bool) -> None:
        if has_new_bar and self.step not in self.bar_at:
            self.bar_at[self.step] = time.perf_counter()

    def wrap_place(self, handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def place(session: object, fields: list[str]) -> None:
            self.orders_at.append((self.step, time.perf_counter()))
            await handler(session, fields)

        return place


def _factory(probe: _Probe) -> Any:
    real = trading_ib.open_ib_venue
    retry = RetryPolicy(attempts=20, base_delay=0.05, max_delay=1.0)
    pacer = HistoricalPacer(PacingRules(identical_interval=0.0, per_contract_window=0.0))

    @asynccontextmanager
    async def observed(
        settings: Settings, symbols: Sequence[str], bar_size: str, *, live: bool
    ) -> AsyncIterator[TradingVenue]:
        options = trading_ib.IbVenueOptions(retry=retry, pacer=pacer)
        async with real(settings, symbols, bar_size, live=live, options=options) as venue:
            source = venue.bars
            assert isinstance(source, IbLiveBarSource)
            assert source.conn.ib is not None
            source.conn.ib.barUpdateEvent += probe.on_bar
            probe.venue = venue
            yield venue

    return observed


async def _until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("the session did not keep up (hang guard)")
        await asyncio.sleep(0.0005)


async def _session(
    sim: SimulatorThread, settings: Settings, symbols: tuple[str, ...], bars: int, probe: _Probe
) -> tuple[TradeResult, float]:
    request = TradeRequest(
        strategy="ma_cross", symbols=symbols, resolution="1m", params=PARAMS, config=CONFIG,
        broker="ib", warmup=0, max_bars=len(symbols) * (bars - 1),
        replay=ReplaySpec(source="synthetic", bars=bars, end=END),
    )  # fmt: skip
    task = asyncio.create_task(run_trading(settings, request))
    await _until(lambda: probe.venue is not None or task.done())
    if task.done():
        task.result()
    assert probe.venue is not None
    source = probe.venue.bars
    assert isinstance(source, IbLiveBarSource)
    await _until(lambda: source.live == set(symbols))
    started = time.perf_counter()
    for step in range(bars - 1):
        probe.step = step
        probe.advance_at[step] = time.perf_counter()
        completed = await asyncio.to_thread(sim.advance)
        await _until(
            lambda c=completed: (
                all(source.last_processed.get(s) == c for s in symbols) or task.done()
            )
        )
    result = await asyncio.wait_for(task, 120)
    return result, time.perf_counter() - started


def _stored_orders(settings: Settings) -> tuple[list[tuple[Any, ...]], dict[str, float]]:
    with open_stores(settings) as stores:
        (session,) = stores.trading.sessions()
        fills = stores.trading.fills(session.id)
    per: Counter[tuple[Any, ...]] = Counter()
    held: Counter[str] = Counter()
    for f in fills:
        per[(f.symbol, f.ts, f.side)] += f.quantity
        held[f.symbol] += f.signed_quantity
    orders = sorted((s, ts, side, q) for (s, ts, side), q in per.items())
    return orders, {s: q for s, q in held.items() if q}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    symbols = SYMBOLS[: args.symbols]
    bars = args.bars
    frames = {s: _series(s, bars + 1) for s in symbols}  # one bar of history in front
    feed = FeedConfig(symbols, "1m", history_bars=1, bars=frames)
    sim = SimulatorThread(replace(SimConfig(tick_interval=0.05), feed=feed, strict=False))
    sim.start()
    probe = _Probe()
    routes = sim.sim._routes  # instrumentation: when placeOrder arrives
    routes[In.PLACE_ORDER] = probe.wrap_place(routes[In.PLACE_ORDER])
    trading_ib.open_ib_venue = _factory(probe)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'live.db'}"
        settings = load_settings(
            database_url=url, data_dir=str(Path(tmp) / "data"), log_dir=str(Path(tmp) / "logs"),
            ib_port=sim.port, ib_client_id=CLIENT_ID,
        )  # fmt: skip
        try:
            result, wall = asyncio.run(_session(sim, settings, symbols, bars, probe))
            orders, held = _stored_orders(settings)
            sent = sim.call(lambda: Counter(o.order_ref for o in sim.sim.book.orders.values()))
            positions = sim.call(
                lambda: {
                    h.instrument.symbol: h.quantity
                    for h in sim.sim.book.holdings.values()
                    if h.quantity
                }
            )
        finally:
            sim.stop()
    expected = _backtest_orders(symbols, bars)
    client = [t - probe.bar_at[s] for s, t in probe.orders_at if s in probe.bar_at]
    e2e = [t - probe.advance_at[s] for s, t in probe.orders_at]
    ms = 1000.0
    print(f"IB venue on the simulator: {len(symbols)} symbols x {bars} 1-minute bars, step mode")
    print(f"  session: {result.bars} bars processed in {wall:.1f} s "
          f"({result.bars / wall:.0f} bars/s, {(bars - 1) / wall:.1f} steps/s), "
          f"{result.orders} orders, {result.fills} fills")  # fmt: skip
    if client:
        print(f"  latency client bar -> order at sim: median {statistics.median(client) * ms:.2f}"
              f" ms, p99 {_pct(client, 0.99) * ms:.2f} ms ({len(client)} orders)")  # fmt: skip
        print(f"  latency advance -> order at sim:    median {statistics.median(e2e) * ms:.2f} ms,"
              f" p99 {_pct(e2e, 0.99) * ms:.2f} ms (simulator's own step included)")  # fmt: skip
    if result.latency_p50_ms is not None and result.latency_p99_ms is not None:
        print(f"  latency in the loop (bar in -> ack): median {result.latency_p50_ms:.2f} ms, "
              f"p99 {result.latency_p99_ms:.2f} ms")  # fmt: skip
    dupes = sum(n - 1 for n in sent.values() if n > 1)
    print(f"  orders equal to the backtest's one by one: {orders == expected} "
          f"({len(orders)} vs {len(expected)})")  # fmt: skip
    print(f"  duplicate client refs at the simulator: {dupes} "
          f"(placeOrders {sum(sent.values())}, refs {len(sent)})")  # fmt: skip
    print(f"  simulator positions equal the stored fills: {positions == held}")


if __name__ == "__main__":
    main()
