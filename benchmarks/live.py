"""Live (paper) trading: latency from bar completion to order sent, and parity with the backtest
(figures only, no verdict).

A session of ``--bars`` accelerated one-minute bars (synthetic, ending at a fixed time) on
``--symbols`` symbols runs through ``algotrader.app.trading.run_trading`` with the paper broker
(``--speed 0``: as fast as the loop takes them), on a PostgreSQL database created for the run
(``--sqlite``: a SQLite file instead). Then the same series are backtested with the same
strategy and config, and the session's orders are compared with the backtest's fills one by one
(symbol, bar, side, quantity; a reversal is one order).

Printed: bars per second through the loop, the latency from a bar's completion (received by the
loop) to the order handed to the broker (median, p99, max; from the session's stored decisions),
orders, matching orders, duplicates (client refs sent twice) and whether positions equal the
fills. The IB-adapter variant (the simulator) is added by ``--broker ib`` once it exists.

Run: .venv/bin/python benchmarks/live.py [--bars 1000] [--symbols 5] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from algotrader.app._stores import open_stores
from algotrader.app.trading import ReplaySpec, TradeRequest, run_trading
from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.config import load_settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.strategies.registry import get_strategy

PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
END = datetime(2024, 3, 8, 21, 0, tzinfo=UTC)
TICKERS = ("AAPL", "MSFT", "TSLA", "NVDA", "AMZN", "GOOG", "META", "SPY", "QQQ", "IWM")
PARAMS = {"fast": "5", "slow": "20"}
CONFIG = BacktestConfig(allow_short=True, whole_shares=True, commission_per_share=0.005)


def _database(sqlite: bool, tmp: Path) -> tuple[str, str | None]:
    if sqlite:
        return f"sqlite:///{tmp / 'live.db'}", None
    name = f"bench_live_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", name


def _drop(name: str | None) -> None:
    if name is not None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _backtest_orders(symbols: tuple[str, ...], bars: int) -> list[tuple]:
    out = []
    start = END - timedelta(days=30)
    for symbol in symbols:
        frame = SyntheticProvider().fetch_bars(symbol, "1m", start, END).iloc[-bars:]
        fills = run_backtest(frame, get_strategy("ma_cross", **PARAMS), CONFIG).fills
        grouped = fills.groupby(["ts", "action"])["quantity"].sum()
        out += [(symbol, ts.to_pydatetime(), side, q) for (ts, side), q in grouped.items()]
    return sorted(out)


def _report(settings: object, symbols: tuple[str, ...], bars: int, seconds: float) -> None:
    with open_stores(settings) as stores:  # type: ignore[arg-type]
        (session,) = stores.trading.sessions()
        orders = stores.trading.decisions(session.id, orders_only=True)
        fills = stores.trading.fills(session.id)
    latencies = sorted(d.latency_ms for d in orders if d.latency_ms is not None)
    per_order: Counter[tuple] = Counter()
    held: Counter[str] = Counter()
    for f in fills:
        per_order[(f.symbol, f.ts, f.side)] += f.quantity
        held[f.symbol] += f.signed_quantity
    live = sorted((s, ts, side, q) for (s, ts, side), q in per_order.items())
    expected = _backtest_orders(symbols, bars)
    matching = sum(a == b for a, b in zip(live, expected, strict=False))
    refs = [d.client_ref for d in orders]
    processed = len(symbols) * (bars - 1)
    print(f"bars through the loop: {processed} in {seconds:.1f} s ({processed / seconds:,.0f}/s)")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
        median = statistics.median(latencies)
        print(f"latency bar completion -> order sent: median {median:.2f} ms, p99 {p99:.2f} ms, "
              f"max {latencies[-1]:.2f} ms ({len(latencies)} orders)")  # fmt: skip
    print(f"orders: {len(live)} live, {len(expected)} backtest, {matching} equal one by one, "
          f"identical lists: {live == expected}")  # fmt: skip
    print(f"duplicate client refs: {len(refs) - len(set(refs))}")
    net = {s: q for s, q in held.items() if q}
    print(f"positions from fills: {dict(sorted(net.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    symbols = TICKERS[: args.symbols]
    with tempfile.TemporaryDirectory() as tmp:
        url, created = _database(args.sqlite, Path(tmp))
        try:
            settings = load_settings(database_url=url, data_dir=str(Path(tmp) / "data"),
                                     log_dir=str(Path(tmp) / "logs"))  # fmt: skip
            request = TradeRequest(
                strategy="ma_cross", symbols=symbols, resolution="1m", params=PARAMS,
                config=CONFIG, replay=ReplaySpec(source="synthetic", bars=args.bars, end=END),
            )  # fmt: skip
            backend = "SQLite" if args.sqlite else "PostgreSQL"
            print(f"paper broker, {args.symbols} symbols x {args.bars} 1-minute bars, {backend}, "
                  f"ma_cross {PARAMS}, python {sys.version.split()[0]}")  # fmt: skip
            started = time.perf_counter()
            asyncio.run(run_trading(settings, request))
            _report(settings, symbols, args.bars, time.perf_counter() - started)
        finally:
            _drop(created)


if __name__ == "__main__":
    main()
