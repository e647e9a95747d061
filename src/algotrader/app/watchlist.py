"""Watchlist use cases: the series the scheduler keeps fresh, and one refresh run of them.

A refresh run is identified by (resolution, planned time, attempt): it is claimed in the database
before it starts, so however many schedulers run and however often one restarts, a planned run
happens at most once. Each watched series gets an incremental ingest (its ``history`` the first
time); a series that fails is noted on its entry and reported in the run's record, and the
others still run. With ``publish_to`` the new bars go to the price stream (Kafka) instead of the
database: what is new is still judged by the last *stored* bar, so bars a consumer has not
stored yet are published again (the consumer's upsert makes that harmless).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from algotrader.app._stores import Stores, open_stores
from algotrader.app.ingest import IngestWindow, ingest_symbol
from algotrader.config import Settings
from algotrader.data.providers import get_provider
from algotrader.db.watchlist import SqlWatchlistStore
from algotrader.errors import DataNotFoundError, InvalidInputError, UserError
from algotrader.ports.bars import BarProvider
from algotrader.ports.watchlist import RefreshRecord, SeriesOutcome, WatchEntry
from algotrader.timeframes import Duration, Resolution, parse_duration

if TYPE_CHECKING:
    from algotrader.app.stream import BarPublisher, KafkaSettings

log = logging.getLogger(__name__)

DEFAULT_HISTORY = Duration(1, "Y")
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _never() -> bool:
    return False


@dataclass(frozen=True)
class WatchRequest:
    """Watch every (symbol, resolution) pair; ``source`` None = the configured default source;
    the first refresh fetches ``history``."""

    symbols: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    source: str | None = None
    history: Duration = DEFAULT_HISTORY


@dataclass(frozen=True)
class WatchChange:
    symbol: str
    resolution: str
    added: bool  # False: it was watched already (source and history updated)


def add_to_watchlist(settings: Settings, request: WatchRequest) -> list[WatchChange]:
    """Add series to the watchlist (the source name is checked first)."""
    if request.source is not None and request.source.strip().lower() == "csv":
        raise InvalidInputError(
            "the watchlist is refreshed from a live source, not a CSV file",
            "use --source ibkr, ibsim or synthetic (load files with `algotrader ingest --csv`)",
        )
    if request.source is not None:
        get_provider(request.source, settings).close()  # an unknown name: one clear line
    now = _utcnow()
    entries = [
        WatchEntry(s, r.name, request.source, request.history.ib_str, added_at=now)
        for s in request.symbols
        for r in request.resolutions
    ]
    with open_stores(settings) as stores:
        added = SqlWatchlistStore(stores.db).add(entries)
    return [WatchChange(e.symbol, e.resolution, a) for e, a in zip(entries, added, strict=True)]


def remove_from_watchlist(
    settings: Settings, symbols: tuple[str, ...], resolutions: tuple[Resolution, ...] | None
) -> int:
    """Stop watching ``symbols`` (all their resolutions, or those given); how many went."""
    names = [r.name for r in resolutions] if resolutions is not None else None
    with open_stores(settings) as stores:
        store = SqlWatchlistStore(stores.db)
        removed = sum(store.remove(symbol, names) for symbol in symbols)
    if not removed:
        at = f" at {', '.join(names)}" if names else ""
        raise DataNotFoundError(
            f"{', '.join(symbols)}{at} is not on the watchlist", "see `algotrader watchlist list`"
        )
    return removed


def list_watchlist(settings: Settings, resolution: str | None = None) -> list[WatchEntry]:
    """The watched series (and how their last refreshes went), by symbol."""
    with open_stores(settings) as stores:
        return SqlWatchlistStore(stores.db).entries(resolution)


def watched_resolutions(settings: Settings) -> list[str]:
    """The resolutions at least one watched series has."""
    return sorted({e.resolution for e in list_watchlist(settings)})


def last_scheduled_refresh(settings: Settings, resolution: str) -> datetime | None:
    """The planned time of the latest scheduled (not retry) refresh run of ``resolution``."""
    with open_stores(settings) as stores:
        return SqlWatchlistStore(stores.db).last_scheduled(resolution)


def refresh_runs(
    settings: Settings, resolution: str | None = None, limit: int = 50
) -> list[RefreshRecord]:
    """The latest refresh runs, newest planned time first."""
    with open_stores(settings) as stores:
        return SqlWatchlistStore(stores.db).runs(resolution, limit)


@dataclass(frozen=True)
class RefreshRequest:
    """One refresh run: the series of ``resolution`` (only ``symbols`` when given: a retry
    refreshes those that failed), planned for ``scheduled_for``; ``attempt`` 0 is the scheduled
    run, n the n-th retry; ``catch_up`` marks a run made up for after downtime."""

    resolution: Resolution
    scheduled_for: datetime
    attempt: int = 0
    catch_up: bool = False
    symbols: tuple[str, ...] | None = None
    publish_to: KafkaSettings | None = None
    """Publish the new bars to this price stream instead of storing them."""


@dataclass(frozen=True)
class RefreshResult:
    """A refresh run's record (None: the run had been claimed already and was skipped) and the
    symbols that failed (what a retry should refresh)."""

    record: RefreshRecord | None
    failed_symbols: tuple[str, ...] = ()
    nothing_watched: bool = False

    @property
    def skipped(self) -> bool:
        return self.record is None


def refresh_watchlist(
    settings: Settings,
    request: RefreshRequest,
    *,
    now: Clock = _utcnow,
    should_stop: Callable[[], bool] = _never,
) -> RefreshResult:
    """Run one refresh (see the module docstring). ``should_stop`` is asked between series: a
    stop leaves the series done so far stored and the run marked ``interrupted``."""
    with open_stores(settings) as stores:
        store = SqlWatchlistStore(stores.db)
        entries = [
            e
            for e in store.entries(request.resolution.name)
            if request.symbols is None or e.symbol in request.symbols
        ]
        if not entries:
            return RefreshResult(None, nothing_watched=True)
        started = now()
        run_id = store.claim(
            request.resolution.name,
            request.scheduled_for,
            request.attempt,
            catch_up=request.catch_up,
            started_at=started,
        )
        if run_id is None:
            return RefreshResult(None)
        tally = _Tally(publish_to=request.publish_to)
        try:
            for entry in entries:
                if should_stop():
                    tally.interrupted = True
                    break
                outcome = _refresh_one(settings, stores, entry, request.resolution, now, tally)
                store.record(outcome)
        finally:
            tally.close()
        record = tally.record(run_id, request, started, now(), len(entries))
        store.finish(record)
    return RefreshResult(record, tuple(tally.failed))


@dataclass
class _Tally:
    fetched: int = 0
    stored: int = 0
    interrupted: bool = False
    publish_to: KafkaSettings | None = None

    def __post_init__(self) -> None:
        self.failed: list[str] = []
        self.errors: list[str] = []
        self._providers: dict[str, BarProvider] = {}
        self._stream: BarPublisher | None = None
        self._exits = contextlib.ExitStack()

    def stream(self) -> BarPublisher | None:
        """The price stream to publish to (opened on first use), or None: store the bars."""
        if self.publish_to is not None and self._stream is None:
            from algotrader.app.stream import BarPublisher

            self._stream = self._exits.enter_context(BarPublisher(self.publish_to))
        return self._stream

    def record(
        self,
        run_id: int,
        request: RefreshRequest,
        started: datetime,
        finished: datetime,
        series: int,
    ) -> RefreshRecord:
        if self.interrupted:
            outcome = "interrupted"
        elif not self.failed:
            outcome = "ok"
        else:
            outcome = "failed" if len(self.failed) == series else "partial"
        return RefreshRecord(
            resolution=request.resolution.name,
            scheduled_for=request.scheduled_for,
            attempt=request.attempt,
            catch_up=request.catch_up,
            started_at=started,
            outcome=outcome,
            finished_at=finished,
            series=series,
            failed=len(self.failed),
            bars_fetched=self.fetched,
            bars_stored=self.stored,
            error="; ".join(self.errors[:5]) or None,
            id=run_id,
        )

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self._providers.clear()
        self._exits.close()  # waits until the cluster has acknowledged every message
        self._stream = None

    def provider(self, settings: Settings, source: str) -> BarProvider:
        if source not in self._providers:
            self._providers[source] = get_provider(source, settings)
        return self._providers[source]


def _refresh_one(
    settings: Settings,
    stores: Stores,
    entry: WatchEntry,
    resolution: Resolution,
    now: Clock,
    tally: _Tally,
) -> SeriesOutcome:
    attempted = now()
    try:
        provider = tally.provider(settings, entry.source or settings.data_source)
        stream = tally.stream()
        if stream is not None:
            return _publish_one(stores, provider, stream, entry, resolution, attempted, tally)
        window = IngestWindow(duration=parse_duration(entry.history), incremental=True)
        report = ingest_symbol(stores, provider, entry.symbol, resolution, window)
    except Exception as exc:
        # A failed series must not stop the others (nor the scheduler): it is reported.
        message = exc.message if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, UserError):
            log.warning("refresh of %s %s failed", entry.symbol, resolution.name, exc_info=True)
        tally.failed.append(entry.symbol)
        tally.errors.append(f"{entry.symbol}: {message}")
        return SeriesOutcome(entry.symbol, resolution.name, attempted, False, error=message)
    tally.fetched += report.fetched
    tally.stored += report.written
    bounds = stores.bars.bounds(entry.symbol, resolution.name)
    last = bounds[1] if bounds else None
    return SeriesOutcome(entry.symbol, resolution.name, attempted, True, last_bar_ts=last)


def _publish_one(
    stores: Stores,
    provider: BarProvider,
    stream: BarPublisher,
    entry: WatchEntry,
    resolution: Resolution,
    attempted: datetime,
    tally: _Tally,
) -> SeriesOutcome:
    """Publish what is new after the last stored bar (the history the first time)."""
    from algotrader.app.stream import publish_series

    bounds = stores.bars.bounds(entry.symbol, resolution.name)
    if bounds is None:
        window = IngestWindow(duration=parse_duration(entry.history))
    else:
        window = IngestWindow(start=bounds[1])
    try:
        report = publish_series(provider, stream, entry.symbol, resolution, window)
    except DataNotFoundError:
        if bounds is None:
            raise
        # Nothing new since the last stored bar (a holiday, a quiet series): not a failure.
        return SeriesOutcome(entry.symbol, resolution.name, attempted, True, last_bar_ts=bounds[1])
    stream.flush()
    tally.fetched += report.bars
    return SeriesOutcome(entry.symbol, resolution.name, attempted, True, last_bar_ts=report.last_ts)
