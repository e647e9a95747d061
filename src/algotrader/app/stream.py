"""Price-stream use cases: publish bars to Kafka, store them from Kafka (with their indicators,
or raw with indicator jobs), handle dead letters, archive to a Parquet lake.

::

    provider --publish_ingest--> algotrader.bars --consume_bars--> database (OHLCV + indicators)
                                      |                  |
                                      | poison           +-- --indicators jobs: OHLCV, marked,
                                      v                      and algotrader.indicator-jobs
                              algotrader.bars.dlq                          |
                                                           run_indicator_jobs --> indicators

:func:`consume_bars` writes each batch with the same idempotent merge as ``algotrader ingest``
(under the series' writer lock) and commits the batch's offsets only after the database commit
and the cluster's acknowledgements, so a kill, a rebalance or a broker restart loses and
duplicates nothing. By default it stores the bars with their indicators in one write
(:func:`algotrader.app.pipeline.store_bars` with a :class:`SeriesCache`: the stored history is
read once per series and then kept in memory while no other writer changes it). With
``indicators="jobs"`` it writes the raw bars (:func:`algotrader.app.pipeline.store_raw_bars`)
and queues one indicator job per series for :func:`run_indicator_jobs`, which may run in another
process or on another machine, so the writer never computes anything.
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from algotrader.app._stores import Stores, open_stores
from algotrader.app.ingest import IngestRequest, IngestWindow
from algotrader.app.pipeline import (
    IngestReport,
    SeriesCache,
    refresh_indicators,
    store_bars,
    store_raw_bars,
)
from algotrader.config import Settings
from algotrader.data.providers import get_provider
from algotrader.data.validation import validate_bars
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.frames import INDEX_NAME, OHLCV_COLUMNS
from algotrader.ports.bars import BarProvider, InstrumentInfo
from algotrader.stream import dlq, metrics
from algotrader.stream.consumer import ConsumeOptions, GroupMember
from algotrader.stream.kafka import Publisher, ensure_topics
from algotrader.stream.lake import Lake
from algotrader.stream.schema import (
    INVALID_BAR,
    PoisonMessage,
    RawBars,
    decode_bars,
    decode_job,
    encode_bars,
    encode_job,
    invalid_rows,
    series_key,
    why_invalid,
)
from algotrader.stream.settings import KafkaSettings, load_kafka

if TYPE_CHECKING:
    from confluent_kafka import Message

    from algotrader.timeframes import Resolution

__all__ = [
    "ArchiveReport",
    "ArchiveRequest",
    "BarPublisher",
    "ConsumeReport",
    "ConsumeRequest",
    "DeadLetter",
    "IndicatorJobsReport",
    "KafkaSettings",
    "PublishReport",
    "SeriesArchived",
    "archive",
    "consume_bars",
    "list_dead_letters",
    "load_kafka",
    "publish_ingest",
    "publish_series",
    "replay_dead_letters",
    "run_indicator_jobs",
    "serve_metrics",
]

DeadLetter = dlq.DeadLetter
log = logging.getLogger(__name__)
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_PARALLEL_SERIES = 2
_INDICATOR_MODES = ("inline", "jobs")


# ------------------------------------------------------------------------------- publishing
@dataclass(frozen=True)
class PublishReport:
    """What publishing one (symbol, resolution) did."""

    symbol: str
    resolution: str
    source: str
    bars: int
    messages: int
    first_ts: datetime | None
    last_ts: datetime | None


class BarPublisher:
    """Publishes bars to the price stream: for the ingest use case, the live loop, a scheduler.

    ::

        with BarPublisher(kafka) as stream:
            stream.publish("AAPL", "1m", "ibkr", bars)   # validated, keyed, split into messages
        # leaving the block waits until the cluster has acknowledged every message
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        ensure_topics(kafka, [kafka.topic])
        self.kafka = kafka
        self._publisher = Publisher(kafka)

    def publish(self, symbol: str, resolution: str, source: str, bars: pd.DataFrame) -> int:
        """Queue ``bars`` (checked with ``validate_bars``); returns the number of messages."""
        bars = validate_bars(bars)
        key = series_key(symbol, resolution)
        step = self.kafka.bars_per_message
        for lo in range(0, len(bars), step):
            value = encode_bars(symbol, resolution, source, bars.iloc[lo : lo + step])
            self._publisher.send(self.kafka.topic, key, value)
        metrics.BARS_PUBLISHED.inc(len(bars))
        return -(-len(bars) // step)

    def flush(self) -> None:
        """Wait until the cluster has acknowledged everything published so far."""
        self._publisher.flush()

    def __enter__(self) -> BarPublisher:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self._publisher.close()
        else:
            self._publisher.release()


def publish_ingest(
    settings: Settings,
    kafka: KafkaSettings,
    request: IngestRequest,
    on_published: Callable[[PublishReport, str], None] | None = None,
    *,
    provider: BarProvider | None = None,
) -> list[PublishReport]:
    """Fetch what ``request`` asks for and publish the validated bars to the bars topic
    (``algotrader ingest ... --to kafka``): no database is touched. Returns once the cluster has
    acknowledged every message."""
    if request.window.incremental:
        raise InvalidInputError(
            "--incremental reads the database, which --to kafka does not touch",
            "pass -d/--duration or --start instead",
        )
    own = provider is None
    provider = provider or get_provider(
        request.source or settings.data_source, settings, request.csv_path, url=request.lake_url
    )
    try:
        with BarPublisher(kafka) as stream:
            reports = []
            for symbol in request.symbols:
                for resolution in request.resolutions:
                    report = publish_series(provider, stream, symbol, resolution, request.window)
                    stream.flush()
                    if on_published is not None:
                        on_published(report, provider.label)
                    reports.append(report)
            return reports
    finally:
        if own:
            provider.close()


def publish_series(
    provider: BarProvider,
    stream: BarPublisher,
    symbol: str,
    resolution: Resolution,
    window: IngestWindow,
) -> PublishReport:
    """Publish the bars of one series in ``window`` to ``stream`` (not flushed)."""
    symbol = symbol.strip().upper()
    start, end = _window_bounds(window)
    provider.describe(symbol)  # connects; the provider's name is final from here on
    bars = messages = 0
    first: datetime | None = None
    last: datetime | None = None
    for chunk in provider.iter_bars(symbol, resolution, start, end):
        if chunk.empty:
            continue
        messages += stream.publish(symbol, resolution.name, provider.name, chunk)
        bars += len(chunk)
        lo_ts, hi_ts = chunk.index[0].to_pydatetime(), chunk.index[-1].to_pydatetime()
        first = lo_ts if first is None else min(first, lo_ts)
        last = hi_ts if last is None else max(last, hi_ts)
    if not bars:
        raise DataNotFoundError(
            f"{provider.label} returned no {resolution.name} bars for {symbol}",
            "try a longer duration, another resolution, or check the symbol",
        )
    return PublishReport(symbol, resolution.name, provider.name, bars, messages, first, last)


def _window_bounds(window: IngestWindow) -> tuple[datetime, datetime]:
    end = window.end or datetime.now(UTC)
    if window.start is not None:
        return window.start, end
    if window.everything:
        return _EARLIEST, end
    if window.duration is None:
        raise InvalidInputError("no duration given", 'pass -d/--duration, e.g. -d "1 Y"')
    return window.duration.start_before(end), end


# --------------------------------------------------------------------------------- consuming
@dataclass(frozen=True)
class ConsumeRequest:
    """One member of the group that stores bars (``group`` None: the configured one).

    ``indicators``: ``inline`` stores each batch's bars with their indicators in one write,
    computed from the series the consumer holds in memory (a :class:`SeriesCache`: the stored
    history is read once per series, then only when another writer changed it); ``jobs``
    stores the raw bars and queues an indicator job per series for ``stream indicators``, so
    the writer never computes anything (each bar is then written twice).
    """

    group: str | None = None
    until_idle: bool = False
    idle_seconds: float = 5.0
    batch_messages: int = 2_000
    indicators: str = "inline"

    def __post_init__(self) -> None:
        if self.indicators not in _INDICATOR_MODES:
            raise InvalidInputError(
                f"invalid --indicators {self.indicators!r}", "use inline or jobs"
            )


@dataclass
class ConsumeReport:
    """What a consumer did so far (updated after every batch)."""

    messages: int = 0
    bars_received: int = 0
    bars_written: int = 0
    dead_letters: int = 0
    indicator_jobs: int = 0
    indicator_rows: int = 0  # rows written with fresh indicators (inline mode)
    indicators: str = "inline"  # the consumer's mode (ConsumeRequest.indicators)
    series: set[tuple[str, str]] = field(default_factory=set)
    seconds: float = 0.0
    active_seconds: float = 0.0  # from the first batch received to the last one stored


def consume_bars(
    settings: Settings,
    kafka: KafkaSettings,
    request: ConsumeRequest,
    *,
    stop: threading.Event | None = None,
    on_batch: Callable[[ConsumeReport], None] | None = None,
) -> ConsumeReport:
    """Store the bars of the bars topic as one member of a consumer group (see the module
    docstring); returns when ``stop`` is set or, with ``until_idle``, when the group has read
    everything."""
    group = request.group or kafka.group
    ensure_topics(kafka, [kafka.topic, kafka.dlq_topic, kafka.jobs_topic])
    options = ConsumeOptions(group, request.until_idle, request.idle_seconds,
                             request.batch_messages)  # fmt: skip
    started = time.monotonic()
    with open_stores(settings) as stores:
        inline = SeriesCache() if request.indicators == "inline" else None
        writer = _BarWriter(stores, Publisher(kafka, linger_ms=2), kafka, group, inline)
        writer.report.indicators = request.indicators

        def handle(batch: Sequence[Message]) -> None:
            writer.handle(batch)
            writer.report.seconds = time.monotonic() - started
            if on_batch is not None:
                on_batch(writer.report)

        try:
            GroupMember(kafka, kafka.topic, options).run(handle, stop)
        finally:
            writer.close()
    writer.report.seconds = time.monotonic() - started
    return writer.report


class _BarWriter:
    """Makes one consumed batch durable: dead letters, bars, indicator jobs, acknowledgements."""

    def __init__(
        self,
        stores: Stores,
        publisher: Publisher,
        kafka: KafkaSettings,
        group: str,
        inline: SeriesCache | None,
    ) -> None:
        self.stores = stores
        self.publisher = publisher
        self.kafka = kafka
        self.group = group
        self.inline = inline  # None: raw bars and indicator jobs
        self.report = ConsumeReport()
        self._instruments: set[str] = set()
        # Series are written side by side (each under its own writer lock): PostgreSQL then
        # uses two backends; SQLite's single write lock makes them take turns.
        self._pool = ThreadPoolExecutor(max_workers=_PARALLEL_SERIES)
        self._first_batch_at: float | None = None

    def handle(self, batch: Sequence[Message]) -> None:
        started = time.perf_counter()
        if self._first_batch_at is None:
            self._first_batch_at = time.monotonic()
        good = self._sort_out(batch)
        grouped = _by_series(good)
        for (symbol, _), runs in grouped.items():
            if symbol not in self._instruments:  # the bars' foreign key
                self.stores.instruments.ensure(InstrumentInfo(symbol=symbol), runs[0][0])
                self._instruments.add(symbol)
        reports = [r for rs in self._pool.map(self._store_series, grouped.items()) for r in rs]
        written = sum(r.written for r in reports)
        if self.inline is None:
            # A job for every series of the batch, even when nothing changed: a consumer killed
            # after writing but before queueing left the series marked, and the re-delivered
            # batch writes nothing.
            for symbol, resolution in grouped:
                self.publisher.send(self.kafka.jobs_topic, series_key(symbol, resolution),
                                    encode_job(symbol, resolution))  # fmt: skip
            self.report.indicator_jobs += len(grouped)
        self.publisher.flush()  # dead letters and jobs acknowledged before the offsets commit
        bars = sum(len(p) for p in good)
        self.report.messages += len(batch)
        self.report.bars_received += bars
        self.report.bars_written += written
        self.report.indicator_rows += sum(r.indicator_rows for r in reports)
        self.report.series.update(grouped)
        metrics.BARS_STORED.inc(written)
        metrics.BARS_RECEIVED.inc(bars)
        metrics.MESSAGES.labels("bars", "stored").inc(len(good))
        metrics.BATCH_SECONDS.labels("bars").observe(time.perf_counter() - started)
        self.report.active_seconds = time.monotonic() - self._first_batch_at

    def _store_series(
        self, item: tuple[tuple[str, str], list[tuple[str, list[RawBars]]]]
    ) -> list[IngestReport]:
        """One series' bars of the batch, source by source in the order they came."""
        (symbol, resolution), by_source = item
        store = self.stores.bars
        if self.inline is None:
            return [store_raw_bars(store, symbol, resolution, source, _series_frame(parts))
                    for source, parts in by_source]  # fmt: skip
        return [
            store_bars(store, symbol, resolution, source, _series_frame(parts), cache=self.inline)
            for source, parts in by_source
        ]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.publisher.release()

    def _sort_out(self, batch: Sequence[Message]) -> list[RawBars]:
        """The batch's usable bars (in offset order); the rest goes to the dead-letter topic."""
        decoded: list[tuple[Message, RawBars]] = []
        for message in batch:
            try:
                decoded.append((message, decode_bars(message.value())))
            except PoisonMessage as poison:
                self._dead_letter(message, poison.kind, poison.detail)
        bad = invalid_rows([raw for _, raw in decoded])
        good = []
        for (message, raw), invalid in zip(decoded, bad, strict=True):
            if invalid:
                self._dead_letter(message, INVALID_BAR, why_invalid(raw))
            else:
                good.append(raw)
        return good

    def _dead_letter(self, message: Message, reason: str, detail: str) -> None:
        headers = dlq.headers_for(message, reason, detail, self.group)
        self.publisher.send(self.kafka.dlq_topic, message.key(), message.value() or b"", headers)
        self.report.dead_letters += 1
        metrics.DEAD_LETTERS.labels(reason).inc()
        metrics.MESSAGES.labels("bars", "dead_lettered").inc()
        log.warning("dead letter (%s) from partition %s offset %s: %s", reason,
                    message.partition(), message.offset(), detail)  # fmt: skip


def _by_series(
    batches: Iterable[RawBars],
) -> dict[tuple[str, str], list[tuple[str, list[RawBars]]]]:
    """(symbol, resolution) -> runs of consecutive messages from one source, in offset order."""
    grouped: dict[tuple[str, str], list[tuple[str, list[RawBars]]]] = {}
    for raw in batches:
        runs = grouped.setdefault((raw.symbol, raw.resolution), [])
        if runs and runs[-1][0] == raw.source:
            runs[-1][1].append(raw)
        else:
            runs.append((raw.source, [raw]))
    return grouped


def _series_frame(parts: list[RawBars]) -> pd.DataFrame:
    """One validated frame of a series' messages; on a repeated timestamp the later message
    (higher offset) wins."""
    ts = np.concatenate([p.ts_us for p in parts])
    values = [np.concatenate([p.values[k] for p in parts]) for k in range(len(OHLCV_COLUMNS))]
    keep = ~pd.Index(ts).duplicated(keep="last")
    index = pd.DatetimeIndex(pd.to_datetime(ts[keep], unit="us", utc=True), name=INDEX_NAME)
    frame = pd.DataFrame({c: v[keep] for c, v in zip(OHLCV_COLUMNS, values, strict=True)},
                         index=index)  # fmt: skip
    return validate_bars(frame)


# ------------------------------------------------------------------------ indicator jobs
@dataclass
class IndicatorJobsReport:
    jobs: int = 0
    refreshed: int = 0
    rows: int = 0
    seconds: float = 0.0


def run_indicator_jobs(
    settings: Settings,
    kafka: KafkaSettings,
    request: ConsumeRequest,
    *,
    stop: threading.Event | None = None,
) -> IndicatorJobsReport:
    """Recompute the indicators of the series named by indicator jobs (one member of the
    indicator group). Jobs for one series in one batch are run once; a job whose series has
    nothing left to recompute costs one small query."""
    group = request.group or kafka.indicator_group
    options = ConsumeOptions(group, request.until_idle, request.idle_seconds,
                             request.batch_messages)  # fmt: skip
    report = IndicatorJobsReport()
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=_PARALLEL_SERIES)  # series side by side
    with open_stores(settings) as stores:

        def handle(batch: Sequence[Message]) -> None:
            began = time.perf_counter()
            series: dict[tuple[str, str], None] = {}
            for message in batch:
                try:
                    job = decode_job(message.value())
                except PoisonMessage as poison:
                    log.warning("ignored indicator job: %s", poison)
                    continue
                series[(job.symbol, job.resolution)] = None
            for rows in pool.map(lambda key: refresh_indicators(stores.bars, *key), series):
                outcome = "refreshed" if rows else "already_fresh"
                metrics.INDICATOR_REFRESHES.labels(outcome).inc()
                report.refreshed += bool(rows)
                report.rows += rows
            report.jobs += len(batch)
            metrics.MESSAGES.labels("indicator_jobs", "stored").inc(len(batch))
            metrics.BATCH_SECONDS.labels("indicator_jobs").observe(time.perf_counter() - began)

        try:
            GroupMember(kafka, kafka.jobs_topic, options).run(handle, stop)
        finally:
            pool.shutdown(wait=True)
    report.seconds = time.monotonic() - started
    return report


# ------------------------------------------------------------------------------ dead letters
def list_dead_letters(kafka: KafkaSettings) -> list[DeadLetter]:
    """Every message of the dead-letter topic, with its reason and whether it was replayed."""
    return dlq.read(kafka)


def replay_dead_letters(
    kafka: KafkaSettings, reasons: Sequence[str] | None = None
) -> list[DeadLetter]:
    """Send the dead letters not replayed yet back to the bars topic (only ``reasons``)."""
    return dlq.replay(kafka, frozenset(reasons) if reasons else None)


def serve_metrics(port: int) -> None:
    """Serve the stream's Prometheus metrics on ``port`` for as long as the process runs."""
    metrics.serve(port)


# ---------------------------------------------------------------------------------- archive
@dataclass(frozen=True)
class ArchiveRequest:
    """Copy stored bars to the lake at ``url`` (all symbols/resolutions when empty)."""

    url: str
    symbols: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class SeriesArchived:
    symbol: str
    resolution: str
    bars: int
    files_written: int
    files_unchanged: int


@dataclass(frozen=True)
class ArchiveReport:
    url: str
    series: tuple[SeriesArchived, ...]


def archive(
    settings: Settings,
    request: ArchiveRequest,
    on_series: Callable[[SeriesArchived], None] | None = None,
) -> ArchiveReport:
    """Write the stored bars to the Parquet lake (idempotent: a re-run rewrites nothing)."""
    lake = Lake(request.url)
    done = []
    with open_stores(settings) as stores:
        for symbol, resolution in _series_to_archive(stores, request):
            bars = _bars_with_source(stores, symbol, resolution, request.start, request.end)
            if bars.empty:
                continue
            wrote = lake.write_series(symbol, resolution, bars)
            item = SeriesArchived(symbol, resolution, wrote.bars, wrote.written, wrote.unchanged)
            if on_series is not None:
                on_series(item)
            done.append(item)
    return ArchiveReport(request.url, tuple(done))


def _series_to_archive(stores: Stores, request: ArchiveRequest) -> list[tuple[str, str]]:
    stored = {i.info.symbol: i.bars for i in stores.instruments.list() if i.bars}
    for symbol in request.symbols:
        if symbol not in stored:
            close = difflib.get_close_matches(symbol, list(stored), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise DataNotFoundError(
                f"no bars of {symbol} are stored", f"{hint}ingest it first or drop it from -s"
            )
    symbols = request.symbols or tuple(sorted(stored))
    return [
        (s, r)
        for s in symbols
        for r in sorted(stored[s])
        if not request.resolutions or r in request.resolutions
    ]


def _bars_with_source(
    stores: Stores, symbol: str, resolution: str, start: datetime | None, end: datetime | None
) -> pd.DataFrame:
    """Stored OHLCV with each bar's source."""
    sources = sorted(stores.bars.sources(symbol, resolution))
    if len(sources) <= 1:
        bars = stores.bars.load_bars(symbol, resolution, start, end, indicators=False)
        bars["source"] = sources[0] if sources else ""
        return bars
    # Several sources: which row is whose needs the series' writer (a consistent read).
    with stores.bars.lock(symbol, resolution) as series:
        first = series.load(sources[0], start, end)
        labels = np.where(first.same_source, sources[0], "").astype(object)
        for source in sources[1:]:
            labels[series.load(source, start, end).same_source] = source
    bars = first.bars.copy()
    bars["source"] = labels
    return bars
