"""Time the ingest pipeline on 1,000,000 one-minute synthetic bars (figures only, no verdict).

End to end through the real pipeline, as ``algotrader ingest`` runs it: provider fetch ->
``validate_bars`` -> ``store_bars`` (load stored series, compare, indicators over the full
history, bulk write). Each ingest runs in a fresh child process (cold caches, nothing imported
twice), into (a) a PostgreSQL database created for the run and (b) a fresh SQLite file:

* first ingest into the empty database: wall seconds and bars/s, with a phase breakdown;
* re-ingest of the same, unchanged bars (nothing to write): wall seconds, ratio first/re-ingest;
* PostgreSQL only: a raw binary ``COPY`` of the same rows (bars + indicator columns, built with
  ``algotrader.db._pgbinary.encode_rows``) into the emptied ``market_prices`` table, timing only
  the ``COPY``; and our / raw ratio;
* ``compute_indicators`` vs TA-Lib for the same indicator set (see benchmarks/indicators.py);
* peak memory (max RSS) of the first ingest, read with ``getrusage(RUSAGE_CHILDREN)`` once that
  child has exited.

The window is chosen so that exactly ``--rows`` bars are fetched (ending 2025-01-01 UTC).
Everything the run creates (database, SQLite file) is dropped at the end.

Run: .venv/bin/python benchmarks/ingest.py [--rows N] [--skip-sqlite]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

SYMBOL = "AAPL"
RESOLUTION = "1m"
END = datetime(2025, 1, 1, tzinfo=UTC)
PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


# --------------------------------------------------------------------------------- the child


def worker(url: str, start: str, end: str) -> None:
    """One ingest in this (fresh) process; prints its figures as one JSON line."""
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd

    from algotrader.app.pipeline import store_bars
    from algotrader.data.providers.synthetic import SyntheticProvider
    from algotrader.data.validation import validate_bars
    from algotrader.db.engine import open_database
    from algotrader.db.instruments import SqlInstrumentStore
    from algotrader.db.store import SqlBarStore
    from algotrader.indicators import compute_indicators

    # What every CLI run pays once, kept out of the pipeline figures: loading the numba
    # kernels (compiled on first use, then from numba's cache) and opening/migrating the DB.
    warm = pd.DataFrame(
        {c: np.linspace(10.0, 11.0, 64) for c in ("open", "high", "low", "close", "volume")},
        index=pd.date_range("2024-01-01", periods=64, freq="min", tz="UTC", name="ts"),
    )
    compute_indicators(warm)
    db = open_database(url)
    store = SqlBarStore(db)
    provider = SyntheticProvider()
    SqlInstrumentStore(db).ensure(provider.describe(SYMBOL), provider.name)
    setup = time.perf_counter() - t0
    rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t1 = time.perf_counter()
    bars = provider.fetch_bars(SYMBOL, RESOLUTION, datetime.fromisoformat(start),
                               datetime.fromisoformat(end))
    t2 = time.perf_counter()
    bars = validate_bars(bars)
    t3 = time.perf_counter()
    report = store_bars(store, SYMBOL, RESOLUTION, provider.name, bars)
    t4 = time.perf_counter()
    db.dispose()
    print(json.dumps({
        "bars": len(bars),
        "inserted": report.inserted,
        "unchanged": report.unchanged,
        "indicator_rows": report.indicator_rows,
        "setup": setup,
        "fetch": t2 - t1,
        "validate": t3 - t2,
        "store": t4 - t3,
        "wall": t4 - t1,
        "rss_start_kib": rss_start,
        "rss_setup_kib": rss_setup,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


def run_child(
    url: str, start: datetime, end: datetime, role: str = "--worker"
) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, role, url, start.isoformat(), end.isoformat()],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        sys.exit(f"ingest child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------------------- the parent


def exact_window(rows: int) -> tuple[datetime, datetime]:
    """[start, END) holding exactly ``rows`` one-minute bars of the NYSE sessions before END.

    Worked out from the exchange calendar (holidays, early closes) and one session of minutes, so
    this process never holds the million bars: a child's max RSS counts its parent's high-water
    mark at spawn time.
    """
    import numpy as np

    from algotrader.calendars import exchange_sessions
    from algotrader.data.providers.synthetic import SyntheticProvider

    calendar = exchange_sessions()
    last = END.date() - timedelta(days=1)
    days = calendar.sessions(last - timedelta(days=rows // 200 + 30), last)[::-1]
    total = np.cumsum(calendar.minutes_of(days))
    k = int(np.searchsorted(total, rows))
    if k == len(days):
        sys.exit(f"could not find {rows} bars before {END:%Y-%m-%d}")
    wanted_that_day = rows - (int(total[k - 1]) if k else 0)
    day = datetime.fromisoformat(str(days[k])).replace(tzinfo=UTC)
    minutes = SyntheticProvider().fetch_bars(SYMBOL, RESOLUTION, day, day + timedelta(days=1)).index
    return minutes[-wanted_that_day].to_pydatetime(), END


def raw_worker(url: str, start: str, end: str) -> None:
    """Raw COPY and indicators-vs-TA-Lib figures over the same bars, as one JSON line."""
    from algotrader.data.providers.synthetic import SyntheticProvider

    bars = SyntheticProvider().fetch_bars(
        SYMBOL, RESOLUTION, datetime.fromisoformat(start), datetime.fromisoformat(end)
    )
    out: dict[str, float] = {"bars": len(bars)}
    if url != "-":
        out["copy"] = raw_copy_seconds(url, bars)
    out["ours"], out["talib"] = indicator_figures(bars)
    print(json.dumps(out))


def raw_copy_seconds(url: str, bars: object) -> float:
    """Empty market_prices, then time one binary COPY of the same rows with indicators."""
    import numpy as np
    import pandas as pd
    import psycopg
    from sqlalchemy.engine import make_url

    from algotrader.db import _pgbinary
    from algotrader.db.store import VALUE_COLUMNS
    from algotrader.indicators import compute_indicators

    assert isinstance(bars, pd.DataFrame)
    full = pd.concat([bars, compute_indicators(bars)], axis=1)
    ts_us = np.asarray(full.index.as_unit("us").asi8, dtype=np.int64)
    values = [np.ascontiguousarray(full[c].to_numpy(np.float64)) for c in VALUE_COLUMNS]
    payload = _pgbinary.encode_rows([SYMBOL.encode(), RESOLUTION.encode(), b"synthetic"],
                                    ts_us, values)
    columns = ", ".join(("symbol", "resolution", "source", "ts", *VALUE_COLUMNS))
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        conn.execute("DELETE FROM series_state")
        conn.execute("TRUNCATE market_prices")
        conn.commit()
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
            f"COPY market_prices ({columns}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(payload)
        conn.commit()
        seconds = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM market_prices").fetchone()[0]  # type: ignore[index]
    assert count == len(full), (count, len(full))
    return seconds


def indicator_figures(bars: object) -> tuple[float, float]:
    path = Path(__file__).with_name("indicators.py")
    spec = importlib.util.spec_from_file_location("_bench_indicators", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from algotrader.indicators import compute_indicators

    ours = module.best_of(lambda: compute_indicators(bars), 5)
    theirs = module.best_of(lambda: module.talib_set(bars), 5)
    return ours, theirs


def say_ingest(label: str, first: dict[str, float], again: dict[str, float]) -> None:
    n = first["bars"]
    print(f"{label}")
    print(f"  first ingest              {first['wall']:8.2f} s  {n / first['wall']:>12,.0f} bars/s"
          f"   (fetch {first['fetch']:.2f} s, validate {first['validate']:.2f} s, "
          f"store+indicators {first['store']:.2f} s; inserted {first['inserted']:,})")
    print(f"  re-ingest, unchanged      {again['wall']:8.2f} s  {n / again['wall']:>12,.0f} bars/s"
          f"   (fetch {again['fetch']:.2f} s, validate {again['validate']:.2f} s, "
          f"compare {again['store']:.2f} s; unchanged {again['unchanged']:,}, "
          f"indicator rows written {again['indicator_rows']:,})")
    print(f"  ratio first / re-ingest   {first['wall'] / again['wall']:8.2f}")
    print(f"  per-process setup (imports, numba load, open DB), not included: "
          f"{first['setup']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-sqlite", action="store_true")
    for role in ("--worker", "--raw-worker"):
        parser.add_argument(role, nargs=3, metavar=("URL", "START", "END"),
                            help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.raw_worker:
        raw_worker(*args.raw_worker)
        return

    import psycopg
    from psycopg import sql

    start, end = exact_window(args.rows)
    print(f"ingest benchmark: {args.rows:,} {RESOLUTION} synthetic bars of {SYMBOL}, "
          f"{start:%Y-%m-%d %H:%M} -> {end:%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    name = f"algotrader_bench_{uuid.uuid4().hex[:10]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    pg_url = f"{base}/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="algotrader_bench_"))
    created_pg = False
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            created_pg = True
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]

        # The very first child: its peak RSS is what RUSAGE_CHILDREN reports right after it.
        first = run_child(pg_url, start, end)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        again = run_child(pg_url, start, end)
        print()
        say_ingest(f"PostgreSQL {version} (fresh database {name})", first, again)
        figures = run_child(pg_url, start, end, "--raw-worker")
        raw = figures["copy"]
        n = args.rows
        print(f"  raw binary COPY (1 conn)  {raw:8.2f} s  {n / raw:>12,.0f} bars/s"
              f"   (same rows with indicators into the emptied table; COPY + commit only)")
        print(f"  ours / raw COPY speed     {(n / first['wall']) / (n / raw):8.2f}"
              f"   (store phase alone: {(n / first['store']) / (n / raw):.2f})")

        if not args.skip_sqlite:
            sqlite_url = f"sqlite:///{tmp / 'bench.db'}"
            s_first = run_child(sqlite_url, start, end)
            s_again = run_child(sqlite_url, start, end)
            print()
            say_ingest(f"SQLite (fresh file {tmp / 'bench.db'})", s_first, s_again)
            size = sum(p.stat().st_size for p in tmp.glob("bench.db*"))
            print(f"  file size                 {size / 2**20:8.1f} MiB")

        ours, theirs = figures["ours"], figures["talib"]
        print()
        print(f"indicators over {n:,} bars (best of 5)")
        print(f"  compute_indicators        {ours * 1e3:8.1f} ms")
        print(f"  TA-Lib, same set          {theirs * 1e3:8.1f} ms")
        print(f"  ratio ours / TA-Lib       {ours / theirs:8.2f}")

        print()
        print("peak memory of the first ingest (its own child process, RUSAGE_CHILDREN)")
        print(f"  max RSS                   {peak_kib / 1024:8.0f} MiB   (after imports and "
              f"setup: {first['rss_setup_kib'] / 1024:.0f} MiB; "
              f"raw bars+indicators: {n * 22 * 8 / 2**20:.0f} MiB)")
        print("  other children (their own RUSAGE_SELF):")
        print(f"  PostgreSQL re-ingest      {again['rss_peak_kib'] / 1024:8.0f} MiB")
        if not args.skip_sqlite:
            print(f"  SQLite first ingest       {s_first['rss_peak_kib'] / 1024:8.0f} MiB")
            print(f"  SQLite re-ingest          {s_again['rss_peak_kib'] / 1024:8.0f} MiB")
    finally:
        if created_pg:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
