"""Watchlist use cases and one refresh run, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from tests.services.conftest import service_settings

from algotrader.app.watchlist import (
    RefreshRequest,
    WatchRequest,
    add_to_watchlist,
    list_watchlist,
    refresh_runs,
    refresh_watchlist,
    remove_from_watchlist,
)
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.timeframes import RESOLUTIONS, Duration

D1, H1 = RESOLUTIONS["1d"], RESOLUTIONS["1h"]
NOW = datetime(2024, 7, 2, 21, 0, tzinfo=UTC)  # after the 2 July session's close


def test_watch_two_symbols_at_two_resolutions_then_stop_one(db_url: str, workdir: Path) -> None:
    settings = service_settings(db_url, workdir)
    changes = add_to_watchlist(settings, WatchRequest(("SPY", "QQQ"), (D1, H1)))
    assert [(c.symbol, c.resolution, c.added) for c in changes] == [
        ("SPY", "1d", True), ("SPY", "1h", True), ("QQQ", "1d", True), ("QQQ", "1h", True),
    ]  # fmt: skip
    again = add_to_watchlist(settings, WatchRequest(("SPY",), (D1,), history=Duration(5, "Y")))
    assert not again[0].added
    assert remove_from_watchlist(settings, ("QQQ",), (H1,)) == 1
    watched = [(e.symbol, e.resolution, e.history) for e in list_watchlist(settings)]
    assert watched == [("QQQ", "1d", "1 Y"), ("SPY", "1d", "5 Y"), ("SPY", "1h", "1 Y")]


def test_removing_what_is_not_watched_says_so(db_url: str, workdir: Path) -> None:
    settings = service_settings(db_url, workdir)
    with pytest.raises(DataNotFoundError, match="ZZZ at 1h is not on the watchlist"):
        remove_from_watchlist(settings, ("ZZZ",), (H1,))


def test_an_unknown_source_is_refused_before_anything_is_stored(workdir: Path) -> None:
    settings = service_settings(f"sqlite:///{workdir / 'w.db'}", workdir)
    with pytest.raises(InvalidInputError, match="unknown data source 'synthtic'"):
        add_to_watchlist(settings, WatchRequest(("SPY",), (D1,), source="synthtic"))
    assert list_watchlist(settings) == []


def _refresh(settings: object, when: datetime, attempt: int = 0) -> object:
    with time_machine.travel(when, tick=False):
        return refresh_watchlist(settings, RefreshRequest(D1, when, attempt))  # type: ignore[arg-type]


def test_the_first_refresh_fetches_the_history_and_the_next_only_what_is_new(
    db_url: str, workdir: Path
) -> None:
    settings = service_settings(db_url, workdir)
    add_to_watchlist(settings, WatchRequest(("SPY",), (D1,), history=Duration(1, "M")))
    first = _refresh(settings, NOW).record  # type: ignore[attr-defined]
    # 3 June .. 2 July 2024: 22 weekdays, one of them a holiday (Juneteenth, 19 June).
    assert (first.outcome, first.series, first.bars_fetched, first.bars_stored) == ("ok", 1, 21, 21)
    second = _refresh(settings, datetime(2024, 7, 3, 21, 0, tzinfo=UTC)).record  # type: ignore[attr-defined]
    # The last stored bar again (it may have been partial) and 3 July's.
    assert (second.bars_fetched, second.bars_stored) == (2, 1)
    (entry,) = list_watchlist(settings)
    assert entry.last_bar_ts == datetime(2024, 7, 3, tzinfo=UTC) and entry.failures == 0


def test_a_planned_run_happens_once_however_often_it_is_asked_for(
    db_url: str, workdir: Path
) -> None:
    settings = service_settings(db_url, workdir)
    add_to_watchlist(settings, WatchRequest(("SPY",), (D1,), history=Duration(1, "M")))
    assert not _refresh(settings, NOW).skipped  # type: ignore[attr-defined]
    assert _refresh(settings, NOW).skipped  # type: ignore[attr-defined]
    assert not _refresh(settings, NOW, attempt=1).skipped  # a retry is another run
    assert len(refresh_runs(settings)) == 2


def test_a_failing_series_is_reported_and_the_others_still_refresh(
    db_url: str, workdir: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = service_settings(db_url, workdir, ib_port=port)
    add_to_watchlist(settings, WatchRequest(("AAA",), (D1,), source="ibkr"))
    add_to_watchlist(settings, WatchRequest(("ZZZ",), (D1,), history=Duration(5, "D")))
    result = _refresh(settings, NOW)
    record = result.record  # type: ignore[attr-defined]
    assert (record.outcome, record.series, record.failed) == ("partial", 2, 1)
    assert result.failed_symbols == ("AAA",)  # type: ignore[attr-defined]
    entries = {e.symbol: e for e in list_watchlist(settings)}
    assert entries["AAA"].failures == 1 and "no TWS/IB Gateway answers" in entries["AAA"].last_error
    assert entries["ZZZ"].last_success_at == NOW


def test_nothing_watched_at_a_resolution_is_no_run(db_url: str, workdir: Path) -> None:
    settings = service_settings(db_url, workdir)
    result = _refresh(settings, NOW)
    assert result.nothing_watched and refresh_runs(settings) == []  # type: ignore[attr-defined]


def test_a_stop_between_series_keeps_what_was_stored_and_marks_the_run_interrupted(
    db_url: str, workdir: Path
) -> None:
    settings = service_settings(db_url, workdir)
    add_to_watchlist(settings, WatchRequest(("AAA", "BBB"), (D1,), history=Duration(5, "D")))
    asked: list[bool] = []

    def stop_after_the_first() -> bool:
        asked.append(True)
        return len(asked) > 1

    with time_machine.travel(NOW, tick=False):
        result = refresh_watchlist(settings, RefreshRequest(D1, NOW),
                                   should_stop=stop_after_the_first)  # fmt: skip
    assert result.record is not None and result.record.outcome == "interrupted"
    entries = {e.symbol: e.last_success_at for e in list_watchlist(settings)}
    assert entries == {"AAA": NOW, "BBB": None}
