"""IBKR ingest speed through the TWS simulator (prints figures; never pass/fail).

    .venv/bin/python benchmarks/ib_ingest.py [--symbols 50] [--concurrency 4] [--no-pg]

* 5 Y of daily bars for N symbols: concurrent (``algotrader ingest``'s path: ``run_ingest`` with
  ``IbkrProvider.max_concurrency`` threads over one connection and one pacer) against the same
  symbols one after another (``ingest_symbol`` in a loop), each into a fresh database: wall time
  and bars/s;
* 30 D of 1-minute bars for one symbol (chunked walk): wall time, requests, bars/s;
* fetch only (no database) for the daily case, to separate IB/decoding cost from storage cost;
* the simulator's bar source alone: 10 years of synthetic 1-minute bars generated in-process.

The real ib_async client talks to the simulator over loopback; pacing is off (the pacer's
limits are set out of reach), so the figures are the platform's own overhead. Databases: a
temporary SQLite file, and a throw-away PostgreSQL database when one answers at
``ALGOTRADER_TEST_PG`` (default postgresql://postgres@127.0.0.1:5432/postgres).

Reading the figures: every symbol costs four API messages (contract details, head timestamp
and its cancel, the bars request) and ib_async's client sends at most 45 messages per second
(TWS itself allows 50), so many short histories are bounded at ~11 symbols/s whatever the
concurrency; concurrency pays off where the per-symbol database work overlaps the wait.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import algotrader.ibkr.history as ib_history
from algotrader.app._stores import stores_of
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest, ingest_symbol
from algotrader.config import Settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import open_database
from algotrader.ibkr.history import HistoricalPacer, PacingRules
from algotrader.ibkr.provider import IbkrProvider
from algotrader.ibsim import DEFAULT_INSTRUMENTS, Instrument, SimConfig, serve, stock
from algotrader.timeframes import parse_duration, parse_resolution

NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
PG_ADMIN = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NO_PACING = PacingRules(max_requests=10**9, identical_interval=0.0, per_contract_window=0.0)


def _now() -> datetime:
    return NOW


def instruments_for(count: int) -> dict[str, Instrument]:
    """The simulator's own instruments, then made-up listings to reach ``count``."""
    table = dict(list(DEFAULT_INSTRUMENTS.items())[:count])
    for i in range(count - len(table)):
        inst = stock(f"BM{i:03d}", 900_000 + i, "NYSE", f"BENCHMARK STOCK {i}")
        table[inst.symbol] = inst
    return table


def _serve(port: int, instruments: dict[str, Instrument]) -> None:
    """The simulator process. It serves SyntheticProvider bars, which it generates minute by
    minute on first use (cached after): generate them up front, so that the figures measure the
    platform rather than the simulator's cold start."""
    synthetic = SyntheticProvider(clock=_now)
    start = NOW - pd.DateOffset(years=5, days=7)
    for symbol in instruments:
        synthetic.fetch_bars(symbol, "1d", start, NOW)
    synthetic.fetch_bars("AAPL", "1m", NOW - pd.DateOffset(days=40), NOW)
    config = SimConfig(clock=_now, instruments=instruments, tick_interval=1.0)
    serve("127.0.0.1", port, config=config, strict=False)


@contextmanager
def simulator(instruments: dict[str, Instrument]) -> Iterator[int]:
    """A simulator in its own process (so it does not share our GIL, like a real gateway)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, instruments), daemon=True
    )
    process.start()
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()  # SIGTERM: serve() shuts down cleanly
        process.join(10)


@contextmanager
def databases(use_pg: bool) -> Iterator[tuple[list[str], Callable[[str], str]]]:
    """The backends to measure, and ``fresh(backend)`` -> the URL of a new empty database;
    everything created is dropped at the end."""
    tmp = tempfile.TemporaryDirectory(prefix="ib-bench-")
    created: list[str] = []
    backends = ["sqlite"]
    if use_pg:
        try:
            import psycopg

            with psycopg.connect(PG_ADMIN, connect_timeout=3):
                backends.append("postgresql")
        except Exception as exc:  # any failure just means: no PostgreSQL figures
            print(f"(PostgreSQL skipped: {str(exc).splitlines()[0]})")

    def fresh(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{Path(tmp.name) / f'{uuid.uuid4().hex[:8]}.db'}"
        import psycopg
        from psycopg import sql

        name = f"algotrader_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        return f"{base}/{name}"

    try:
        yield backends, fresh
    finally:
        if created:
            import psycopg
            from psycopg import sql

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                for name in created:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        tmp.cleanup()


def settings_for(port: int, client_id: int, db_url: str | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        ib_host="127.0.0.1", ib_port=port, ib_client_id=client_id, ib_timeout=5,
        database_url=db_url, _env_file=None,
    )


def provider_for(port: int, concurrency: int, client_id: int) -> IbkrProvider:
    return IbkrProvider(
        settings_for(port, client_id), pacer=HistoricalPacer(NO_PACING),
        max_concurrency=concurrency, client_id=client_id,
    )


def line(label: str, seconds: float, bars: int, extra: str = "") -> None:
    print(
        f"  {label:<38} {seconds:7.2f} s  {bars:>9,} bars  {bars / seconds:>11,.0f} bars/s{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()

    daily, minute = parse_resolution("1d"), parse_resolution("1m")
    five_years = IngestWindow(duration=parse_duration("5 Y"), end=NOW)
    thirty_days = IngestWindow(duration=parse_duration("30 D"), end=NOW)
    table = instruments_for(args.symbols)
    symbols = list(table)
    synthetic = SyntheticProvider(clock=_now)
    synthetic.fetch_bars("WARM", minute, NOW - pd.DateOffset(days=2), NOW)  # imports, calendar
    started = time.perf_counter()
    bars = len(synthetic.fetch_bars("BENCH", minute, NOW - pd.DateOffset(years=10), NOW))
    line("synthetic 10 Y of 1-minute bars", time.perf_counter() - started, bars,
         "  (the simulator's bar source, in-process)")
    client = iter(range(100, 1000))
    started = time.perf_counter()
    with simulator(table) as port:
        print(
            f"ib_async -> ibsim (127.0.0.1:{port}, own process, started with warm bar cache in "
            f"{time.perf_counter() - started:.1f} s), pacing off, concurrency {args.concurrency}, "
            f"{len(symbols)} symbols"
        )
        start_5y = five_years.duration.start_before(NOW)  # type: ignore[union-attr]

        # Fetch only: what IB transport + decoding + validation cost, without storage.
        with provider_for(port, args.concurrency, next(client)) as provider:

            def fetch(symbol: str) -> int:
                return len(provider.fetch_bars(symbol, daily, start_5y, NOW))

            started = time.perf_counter()
            with ThreadPoolExecutor(provider.max_concurrency) as pool:
                bars = sum(pool.map(fetch, symbols))
            line(
                "5 Y daily, fetch only (no DB)",
                time.perf_counter() - started,
                bars,
                f"  ({provider.requests} requests)",
            )

        # The ingest command's provider is built from settings: give it a pacer out of reach.
        ib_history._SHARED_PACER = HistoricalPacer(NO_PACING)
        with databases(not args.no_pg) as (backends, fresh):
            for backend in backends:
                print(f"{backend}:")
                # Concurrent: what `algotrader ingest -s A,B,C --source ibkr` does.
                settings = settings_for(port, next(client), fresh(backend))
                started = time.perf_counter()
                request = IngestRequest(tuple(symbols), (daily,), five_years, source="ibkr")
                reports = ingest(settings, request)
                seconds = time.perf_counter() - started
                workers = IbkrProvider(settings).max_concurrency  # what get_provider builds
                line(
                    f"5 Y daily x {len(symbols)}, concurrent ({workers})",
                    seconds,
                    sum(r.fetched for r in reports),
                )

                # Sequential: the same symbols one after another on one connection.
                db = open_database(fresh(backend))
                stores = stores_of(db)
                with provider_for(port, 1, next(client)) as provider:
                    started = time.perf_counter()
                    reports = [
                        ingest_symbol(stores, provider, s, daily, five_years) for s in symbols
                    ]
                    seconds = time.perf_counter() - started
                db.dispose()
                line(
                    f"5 Y daily x {len(symbols)}, one after another",
                    seconds,
                    sum(r.fetched for r in reports),
                )

                # One long intraday history: the chunked backwards walk.
                db = open_database(fresh(backend))
                with provider_for(port, 1, next(client)) as provider:
                    started = time.perf_counter()
                    report = ingest_symbol(stores_of(db), provider, "AAPL", minute, thirty_days)
                    seconds = time.perf_counter() - started
                    requests = provider.requests
                db.dispose()
                line(
                    "30 D of 1-minute bars, AAPL",
                    seconds,
                    report.fetched,
                    f"  ({requests} requests)",
                )


if __name__ == "__main__":
    main()
