"""Every Prometheus metric of the platform, and one small helper per thing worth counting.

Conventions (https://prometheus.io/docs/practices/naming/): the ``algotrader_`` prefix, base
units (seconds), ``_total`` on counters, ``_timestamp_seconds`` for "when did it last work".
Label values come from short, known lists (:data:`RESOLUTIONS`, :data:`SOURCES`, ...); anything
else is counted as ``other``, so no label can grow without bound (no symbols, run ids, job ids or
timestamps as labels). Labelled series that dashboards rely on are created at zero up front, so
a panel shows 0 rather than "no data" before the first event.

The metrics live in their own :data:`REGISTRY` (not prometheus_client's global one): a one-shot
command exports exactly these, and a service adds the process collectors when it serves them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# The `*_created` samples (a series' creation time) double every exposition for no use here.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

OTHER = "other"
RESOLUTIONS = ("1m", "5m", "15m", "30m", "1h", "1d", "1w")
SOURCES = ("ibkr", "ibsim", "synthetic", "csv")
IB_REQUEST_KINDS = (
    "historical_data",
    "head_timestamp",
    "contract_details",
    "place_order",
    "cancel_order",
    "open_orders",
)
# The IB message codes worth telling apart on a dashboard; the rest are ``other``.
IB_ERROR_CODES = (
    "100", "162", "165", "200", "201", "202", "321", "322", "354", "366", "420", "502", "504",
    "1100", "1101", "1102", "2103", "2105", "2107", "2108", "10167", "10182", "10197", "10225",
)  # fmt: skip
ORDER_STATUSES = (
    "PendingSubmit", "PendingCancel", "PreSubmitted", "Submitted", "ApiPending", "ApiCancelled",
    "Cancelled", "Filled", "Inactive",
)  # fmt: skip
JOB_KINDS = ("backtest", "batch")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_OUTCOMES = ("succeeded", "failed", "cancelled", "already_done")
INGEST_OUTCOMES = ("ok", "failed")
REFRESH_OUTCOMES = ("ok", "partial", "failed", "interrupted")

# Ingest: a daily refresh takes well under a second, a 5-year 1-minute walk through IB hours.
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600)

BARS_FETCHED = Counter(
    "algotrader_bars_fetched_total",
    "Bars received from a data source.",
    ["source", "resolution"],
    registry=REGISTRY,
)
BARS_STORED = Counter(
    "algotrader_bars_stored_total",
    "Bars written to the database (inserted or changed).",
    ["source", "resolution"],
    registry=REGISTRY,
)
INGESTS = Counter(
    "algotrader_ingests_total",
    "Ingests of one series, by outcome.",
    ["source", "resolution", "outcome"],
    registry=REGISTRY,
)
INGEST_DURATION = Histogram(
    "algotrader_ingest_duration_seconds",
    "Time to fetch and store one series (successful ingests).",
    ["source", "resolution"],
    buckets=_DURATION_BUCKETS,
    registry=REGISTRY,
)
INGEST_LAST_SUCCESS = Gauge(
    "algotrader_ingest_last_success_timestamp_seconds",
    "When an ingest of this source and resolution last succeeded (Unix time).",
    ["source", "resolution"],
    registry=REGISTRY,
)

IB_REQUESTS = Counter(
    "algotrader_ib_requests_total",
    "Requests sent to TWS / IB Gateway, retries included.",
    ["kind"],
    registry=REGISTRY,
)
IB_PACING_WAITS = Counter(
    "algotrader_ib_pacing_waits_total",
    "Historical-data requests that had to wait for the pacer.",
    registry=REGISTRY,
)
IB_PACING_WAIT_SECONDS = Counter(
    "algotrader_ib_pacing_wait_seconds_total",
    "Time spent waiting for the historical-data pacer.",
    registry=REGISTRY,
)
IB_ERRORS = Counter(
    "algotrader_ib_errors_total",
    "Error messages IB sent, by code (codes outside a known list count as 'other').",
    ["code"],
    registry=REGISTRY,
)
IB_RECONNECTS = Counter(
    "algotrader_ib_reconnects_total",
    "Connections to IB made again after one was lost.",
    registry=REGISTRY,
)

BACKTESTS = Counter(
    "algotrader_backtests_total",
    "Backtests run and stored.",
    ["resolution"],
    registry=REGISTRY,
)
BACKTEST_DURATION = Histogram(
    "algotrader_backtest_duration_seconds",
    "Time to load the bars, run one backtest and store it.",
    ["resolution"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

JOBS_PROCESSED = Counter(
    "algotrader_jobs_processed_total",
    "Queued jobs a worker finished, by kind and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "algotrader_job_duration_seconds",
    "Time a worker spent on one job attempt.",
    ["kind"],
    buckets=_DURATION_BUCKETS,
    registry=REGISTRY,
)

ORDER_STATUS_CHANGES = Counter(
    "algotrader_order_status_changes_total",
    "Order status changes recorded in the order log, by new status.",
    ["status"],
    registry=REGISTRY,
)

SCHEDULER_RUNS = Counter(
    "algotrader_scheduler_runs_total",
    "Scheduled watchlist refreshes (retries included), by outcome.",
    ["resolution", "outcome"],
    registry=REGISTRY,
)
SCHEDULER_RETRIES = Counter(
    "algotrader_scheduler_retries_total",
    "Refresh retries scheduled after a failure.",
    ["resolution"],
    registry=REGISTRY,
)
SCHEDULER_LAG = Histogram(
    "algotrader_scheduler_lag_seconds",
    "How late a scheduled refresh started after its planned time.",
    ["resolution"],
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_LAST_SUCCESS = Gauge(
    "algotrader_scheduler_last_success_timestamp_seconds",
    "When a scheduled refresh of this resolution last finished without failures (Unix time).",
    ["resolution"],
    registry=REGISTRY,
)


def bounded(value: object, allowed: Iterable[str]) -> str:
    """``value`` as a label value if it is one of ``allowed``, else ``other``."""
    text = str(value)
    return text if text in allowed else OTHER


def _source(source: str) -> str:
    return bounded(source, SOURCES)


def _resolution(resolution: str) -> str:
    return bounded(resolution, RESOLUTIONS)


def record_ingest(
    source: str, resolution: str, *, fetched: int, stored: int, seconds: float
) -> None:
    """One series ingested: bars fetched and stored, its duration, the last-success time."""
    labels = (_source(source), _resolution(resolution))
    BARS_FETCHED.labels(*labels).inc(fetched)
    BARS_STORED.labels(*labels).inc(stored)
    INGESTS.labels(*labels, "ok").inc()
    INGEST_DURATION.labels(*labels).observe(seconds)
    INGEST_LAST_SUCCESS.labels(*labels).set(time.time())


def record_ingest_failure(source: str, resolution: str) -> None:
    INGESTS.labels(_source(source), _resolution(resolution), "failed").inc()


def record_backtest(resolution: str, seconds: float) -> None:
    BACKTESTS.labels(_resolution(resolution)).inc()
    BACKTEST_DURATION.labels(_resolution(resolution)).observe(seconds)


def record_job(kind: str, outcome: str, seconds: float) -> None:
    JOBS_PROCESSED.labels(bounded(kind, JOB_KINDS), bounded(outcome, JOB_OUTCOMES)).inc()
    JOB_DURATION.labels(bounded(kind, JOB_KINDS)).observe(seconds)


def record_refresh(resolution: str, outcome: str, lag_seconds: float | None) -> None:
    """One scheduled refresh run (``lag_seconds``: None for retries, which run when planned)."""
    res = _resolution(resolution)
    SCHEDULER_RUNS.labels(res, bounded(outcome, REFRESH_OUTCOMES)).inc()
    if lag_seconds is not None:
        SCHEDULER_LAG.labels(res).observe(max(0.0, lag_seconds))
    if outcome == "ok":
        SCHEDULER_LAST_SUCCESS.labels(res).set(time.time())


def record_refresh_retry(resolution: str) -> None:
    SCHEDULER_RETRIES.labels(_resolution(resolution)).inc()


# -- Interactive Brokers (called from algotrader.ibkr) -----------------------------------------


def record_ib_request(kind: str) -> None:
    """One request sent to IB (``kind``: one of :data:`IB_REQUEST_KINDS`)."""
    IB_REQUESTS.labels(bounded(kind, IB_REQUEST_KINDS)).inc()


def record_ib_pacing_wait(seconds: float) -> None:
    """A request waited ``seconds`` for the pacer (call only when it did wait)."""
    IB_PACING_WAITS.inc()
    IB_PACING_WAIT_SECONDS.inc(max(0.0, seconds))


def record_ib_error(code: int) -> None:
    IB_ERRORS.labels(bounded(code, IB_ERROR_CODES)).inc()


def record_ib_reconnect() -> None:
    IB_RECONNECTS.inc()


def record_order_status(status: str) -> None:
    ORDER_STATUS_CHANGES.labels(bounded(status, ORDER_STATUSES)).inc()


def _create_known_series() -> None:
    """Zero-valued series for every known label value dashboards query."""
    for source in SOURCES:
        for resolution in RESOLUTIONS:
            BARS_FETCHED.labels(source, resolution)
            BARS_STORED.labels(source, resolution)
            for outcome in INGEST_OUTCOMES:
                INGESTS.labels(source, resolution, outcome)
    for kind in IB_REQUEST_KINDS:
        IB_REQUESTS.labels(kind)
    for code in (*IB_ERROR_CODES, OTHER):
        IB_ERRORS.labels(code)
    for resolution in RESOLUTIONS:
        BACKTESTS.labels(resolution)
        BACKTEST_DURATION.labels(resolution)
        SCHEDULER_LAG.labels(resolution)
        SCHEDULER_RETRIES.labels(resolution)
        for outcome in REFRESH_OUTCOMES:
            SCHEDULER_RUNS.labels(resolution, outcome)
    for kind in JOB_KINDS:
        JOB_DURATION.labels(kind)
        for outcome in JOB_OUTCOMES:
            JOBS_PROCESSED.labels(kind, outcome)
    for status in (*ORDER_STATUSES, OTHER):
        ORDER_STATUS_CHANGES.labels(status)


_create_known_series()
