"""The refresh scheduler on a fake clock: simulated days pass without a single sleep.

NYSE hours used below (facts, not outputs of the code): 9:30-16:00 New York time, i.e.
13:30-20:00 UTC in July; 3 July 2024 closes early at 13:00 (17:00 UTC); 4 July is a holiday.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import time_machine
from tests.services.conftest import LogLines, TravelClock, service_settings, wait_for

from algotrader.app.watchlist import WatchRequest, add_to_watchlist, list_watchlist, refresh_runs
from algotrader.services.scheduler import RefreshScheduler, SchedulerConfig
from algotrader.timeframes import RESOLUTIONS, Duration

CONFIG = SchedulerConfig(
    calendar="XNYS",
    after_close=timedelta(minutes=15),
    every=timedelta(minutes=30),
    bar_delay=timedelta(minutes=1),
    sync_every=timedelta(hours=1),
)


def _utc(day: int, hour: int, minute: int, month: int = 7) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def _watch(settings: object, symbols: tuple[str, ...], resolution: str, history: str) -> None:
    count, unit = history.split()
    request = WatchRequest(symbols, (RESOLUTIONS[resolution],), history=Duration(int(count), unit))
    add_to_watchlist(settings, request)  # type: ignore[arg-type]


def _run(settings: object, start: datetime, until: datetime, **kwargs: object) -> TravelClock:
    with time_machine.travel(start, tick=False) as traveller:
        clock = TravelClock(traveller)
        scheduler = RefreshScheduler(
            settings, kwargs.pop("config", CONFIG), clock, synchronous=True  # type: ignore[arg-type]
        )
        scheduler.run(until=until)
    return clock


def _bars(settings: object, symbol: str, resolution: str) -> list[datetime]:
    from algotrader.app._stores import open_stores

    with open_stores(settings) as stores:  # type: ignore[arg-type]
        frame = stores.bars.load_bars(symbol, resolution, indicators=False)
    return [ts.to_pydatetime() for ts in frame.index]


def test_24_simulated_hours_run_every_planned_refresh_once(
    db_url: str, workdir: Path, scheduler_log: LogLines
) -> None:
    settings = service_settings(db_url, workdir)
    _watch(settings, ("SPY", "AAPL"), "30m", "5 D")
    _watch(settings, ("SPY",), "1d", "1 M")
    start, end = _utc(2, 17, 20), _utc(3, 17, 20)

    clock = _run(settings, start, end)

    intraday = [_utc(2, h, m) for h, m in [(17, 31), (18, 1), (18, 31), (19, 1), (19, 31)]]
    intraday += [_utc(2, 20, 1)]  # the close
    intraday += [_utc(3, h, m) for h, m in [(14, 1), (14, 31), (15, 1), (15, 31), (16, 1)]]
    intraday += [_utc(3, 16, 31), _utc(3, 17, 1)]  # the early close
    daily = [_utc(2, 20, 15), _utc(3, 17, 15)]
    expected = {("30m", t) for t in [start, *intraday]} | {("1d", t) for t in [start, *daily]}
    runs = refresh_runs(settings, limit=1000)
    assert sorted((r.resolution, r.scheduled_for) for r in runs) == sorted(expected)  # once each
    assert all(r.attempt == 0 and r.outcome == "ok" for r in runs)
    assert all(r.started_at == r.scheduled_for for r in runs)  # each ran at its planned time
    # Incremental: after the first fill, each intraday run adds exactly one new bar per symbol.
    later = [r for r in runs if r.resolution == "30m" and r.scheduled_for > start]
    assert {(r.series, r.bars_stored) for r in later} == {(2, 2)}
    assert _bars(settings, "SPY", "30m")[-1] == _utc(3, 16, 30)  # the early close's last bar
    assert len([line for line in scheduler_log.lines if line.startswith("refresh")]) == len(runs)
    assert clock.waits < 400  # it jumped from job to job, no busy polling


def test_missed_runs_are_caught_up_once_after_a_restart(db_url: str, workdir: Path) -> None:
    settings = service_settings(db_url, workdir)
    _watch(settings, ("SPY",), "30m", "5 D")
    _watch(settings, ("SPY",), "1d", "1 M")
    _run(settings, _utc(2, 17, 20), _utc(2, 18, 10))
    before = {(r.resolution, r.scheduled_for) for r in refresh_runs(settings, limit=1000)}

    # Down from 18:10 to 20:40: 30m runs 18:31 .. 20:01 and the 20:15 daily run were missed.
    _run(settings, _utc(2, 20, 40), _utc(3, 13, 0))

    runs = [r for r in refresh_runs(settings, limit=1000) if (r.resolution, r.scheduled_for)
            not in before]  # fmt: skip
    assert sorted((r.resolution, r.scheduled_for, r.catch_up) for r in runs) == [
        ("1d", _utc(2, 20, 15), True),
        ("30m", _utc(2, 20, 1), True),
    ]
    session = [t for t in _bars(settings, "SPY", "30m") if t.date() == _utc(2, 0, 0).date()]
    assert len(session) == 13  # 13:30 .. 19:30 UTC: the gap was filled by the one catch-up


def test_a_failed_refresh_is_retried_with_back_off_then_reported(
    db_url: str, workdir: Path, scheduler_log: LogLines
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: the gateway is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = service_settings(db_url, workdir, ib_port=port)
    _watch(settings, ("SPY",), "1d", "1 M")  # from the synthetic source: works
    add_to_watchlist(settings, WatchRequest(("QQQ",), (RESOLUTIONS["1d"],), source="ibkr"))
    config = SchedulerConfig(retry_base=timedelta(minutes=1), max_retries=3,
                             sync_every=timedelta(hours=1))  # fmt: skip

    _run(settings, _utc(2, 19, 0), _utc(2, 20, 30), config=config)

    runs = sorted(refresh_runs(settings, limit=100), key=lambda r: (r.scheduled_for, r.attempt))
    planned = [(r.scheduled_for, r.attempt, r.started_at, r.outcome, r.series) for r in runs]
    assert planned == [
        (_utc(2, 19, 0), 0, _utc(2, 19, 0), "partial", 2),
        (_utc(2, 19, 0), 1, _utc(2, 19, 1), "failed", 1),  # back-off: 1, 2, 4 minutes
        (_utc(2, 19, 0), 2, _utc(2, 19, 3), "failed", 1),
        (_utc(2, 19, 0), 3, _utc(2, 19, 7), "failed", 1),
        (_utc(2, 20, 15), 0, _utc(2, 20, 15), "partial", 2),  # the next planned run tries again
        (_utc(2, 20, 15), 1, _utc(2, 20, 16), "failed", 1),
        (_utc(2, 20, 15), 2, _utc(2, 20, 18), "failed", 1),
        (_utc(2, 20, 15), 3, _utc(2, 20, 22), "failed", 1),
    ]
    assert all("QQQ: no TWS/IB Gateway answers" in (r.error or "") for r in runs)
    entries = {e.symbol: e for e in list_watchlist(settings)}
    assert entries["QQQ"].failures == 8 and "IB Gateway" in (entries["QQQ"].last_error or "")
    assert entries["SPY"].failures == 0 and entries["SPY"].last_success_at == _utc(2, 20, 15)
    gave_up = [line for line in scheduler_log.lines if "giving up" in line]
    assert len(gave_up) == 2 and "retry 3/3" in gave_up[0]


def test_a_series_added_to_a_watched_resolution_is_filled_at_once(
    db_url: str, workdir: Path
) -> None:
    settings = service_settings(db_url, workdir)
    _watch(settings, ("SPY",), "1d", "1 M")
    _run(settings, _utc(2, 15, 0), _utc(2, 15, 10))
    _watch(settings, ("IWM",), "1d", "1 M")
    _run(settings, _utc(2, 15, 20), _utc(2, 15, 30))
    filled = {e.symbol: e.last_success_at for e in list_watchlist(settings)}
    assert filled == {"SPY": _utc(2, 15, 0), "IWM": _utc(2, 15, 20)}  # not at 20:15


@pytest.mark.parametrize(
    "resolution,every,first",
    [("1m", 15, _utc(5, 13, 46)), ("1h", 15, _utc(5, 14, 31)), ("1d", 15, _utc(5, 20, 15))],
)
def test_each_resolution_follows_its_own_rhythm(
    resolution: str, every: int, first: datetime
) -> None:
    # After the 4 July holiday, the first refresh of 5 July 2024: 1-minute bars every 15
    # minutes from the open, hourly bars every hour, daily bars after the close.
    trigger = SchedulerConfig(every=timedelta(minutes=every)).trigger(RESOLUTIONS[resolution])
    assert trigger.get_next_fire_time(None, _utc(4, 12, 0)) == first


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_stop_while_the_watchlist_sync_waits_for_the_database_returns(
    db_url: str, workdir: Path
) -> None:
    # The sync job reads and adds jobs: a stop that waited for it while holding the scheduler's
    # job store lock never returned (seen as a SIGTERM ignored by the service).
    scheduler = RefreshScheduler(
        service_settings(db_url, workdir), SchedulerConfig(sync_every=timedelta(seconds=0.1))
    )
    runner = threading.Thread(target=scheduler.run, daemon=True)
    pg = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(pg) as holder, psycopg.connect(pg, autocommit=True) as observer:
        runner.start()
        wait_for(lambda: scheduler.running, "the scheduler to start")
        holder.execute("LOCK TABLE watchlist IN ACCESS EXCLUSIVE MODE")
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " \
                  "AND wait_event_type = 'Lock'"  # fmt: skip
        wait_for(lambda: observer.execute(waiting).fetchone()[0], "the sync to wait")  # type: ignore[index]
        scheduler.stop()
        time.sleep(0.5)  # lets the stop reach the shutdown while the sync still waits
        holder.rollback()
        runner.join(timeout=60)  # a hang guard only
    assert not runner.is_alive()
