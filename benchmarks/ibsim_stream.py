"""The simulator's replay feed, as a client sees it: how fast it streams, and how long after a
step the client holds the completed bar (figures, no verdict).

    .venv/bin/python benchmarks/ibsim_stream.py [--symbols 5] [--bars 1000] [--speed 600]

* **step mode**: ``--bars`` advances from another thread (``SimulatorThread.advance``), one at a
  time, with one real ib_async client subscribed to keepUpToDate 1-minute bars, 5-second bars
  and market data for each of ``--symbols`` symbols. Per step: the time from calling ``advance``
  to the client's ``barUpdateEvent(hasNewBar=True)`` for the last symbol (median, p99), and the
  overall throughput in bars per second (all symbols) and in messages per second.
* **speed mode**: a ``--speed`` replay for a few seconds; bars the client received per second
  of wall clock beside the rate asked for (lag shows as a shortfall).

The machine is shared: compare figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from datetime import UTC, datetime

from ib_async import IB, BarDataList, Stock

from algotrader.ibsim import FeedConfig, SimConfig, SimulatorThread, start_in_thread

SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "JPM", "XOM", "IBM")
START = datetime(2024, 1, 2, tzinfo=UTC)


async def _subscribe(ib: IB, symbols: tuple[str, ...]) -> list[BarDataList]:
    """Live 1-minute bars, 5-second bars and ticks for each symbol; returns the live bar lists
    (``ib.barUpdateEvent`` also fires for every 5-second bar, so listen on these)."""
    live: list[BarDataList] = []
    for symbol in symbols:
        [contract] = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
        live.append(
            await ib.reqHistoricalDataAsync(
                contract, "", "1 D", "1 min", "TRADES", True, formatDate=2, keepUpToDate=True
            )
        )
        ib.reqRealTimeBars(contract, 5, "TRADES", True)
        ib.reqMktData(contract)
    return live


def _step_mode(symbols: tuple[str, ...], n_bars: int) -> None:
    config = SimConfig(feed=FeedConfig(symbols, "1m", history_bars=60, start=START))
    with start_in_thread(config) as sim:
        latencies = asyncio.run(_drive(sim, symbols, n_bars))
    total = sum(latencies)
    print(
        f"step mode, {len(symbols)} symbols, {n_bars} advances "
        "(keepUpToDate + 5-second bars + ticks per symbol):"
    )
    print(
        f"  advance -> client holds the completed bar: median "
        f"{statistics.median(latencies) * 1e3:.2f} ms, p99 "
        f"{sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1e3:.2f} ms"
    )
    per_step = 2 + 12 + 4  # two bar updates, 12 five-second bars, 4 ticks per symbol
    print(
        f"  throughput: {n_bars * len(symbols) / total:,.0f} bars/s, "
        f"{n_bars * len(symbols) * per_step / total:,.0f} messages/s"
    )


async def _drive(sim: SimulatorThread, symbols: tuple[str, ...], n_bars: int) -> list[float]:
    ib = IB()
    await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=10)
    seen = 0
    done = asyncio.Event()

    def on_bar(bars: object, has_new_bar: bool) -> None:
        nonlocal seen
        if has_new_bar:
            seen += 1
            if seen % len(symbols) == 0:
                done.set()

    for bars in await _subscribe(ib, symbols):
        bars.updateEvent += on_bar
    latencies: list[float] = []
    for _ in range(n_bars):
        done.clear()
        began = time.perf_counter()
        # advance blocks until written; run it off the client's loop so the client reads.
        thread = threading.Thread(target=sim.advance)
        thread.start()
        await asyncio.wait_for(done.wait(), 30)
        latencies.append(time.perf_counter() - began)
        thread.join()
    ib.disconnect()
    return latencies


def _speed_mode(symbols: tuple[str, ...], speed: float, seconds: float) -> None:
    config = SimConfig(feed=FeedConfig(symbols, "1m", history_bars=60, speed=speed, start=START))
    with start_in_thread(config) as sim:
        received = asyncio.run(_count(sim, symbols, seconds))
    print(
        f"speed mode {speed:g}x, {len(symbols)} symbols, {seconds:g} s: "
        f"{received / seconds:,.1f} new bars/s per symbol received "
        f"(asked {speed / 60:,.1f})"
    )


async def _count(sim: SimulatorThread, symbols: tuple[str, ...], seconds: float) -> float:
    ib = IB()
    await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=10)
    live = await _subscribe(ib, symbols)
    before = sum(len(bars) for bars in live)
    await asyncio.sleep(seconds)
    received = sum(len(bars) for bars in live) - before
    ib.disconnect()
    return received / len(symbols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    symbols = SYMBOLS[: max(1, min(args.symbols, len(SYMBOLS)))]
    _step_mode(symbols, args.bars)
    _speed_mode(symbols, args.speed, args.seconds)


if __name__ == "__main__":
    main()
