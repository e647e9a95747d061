"""Prometheus metrics of the price stream (``prometheus_client``).

Names follow Prometheus' conventions (``algotrader_`` prefix, ``_total`` counters, base units);
labels take a few known values only (stages, poison kinds, topic names and partition numbers).
They live in their own :data:`REGISTRY`; ``algotrader stream consume --metrics-port N`` serves it.
When the platform-wide metrics module lands, these definitions move there (or its registry
registers this one) without changing a name.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from algotrader.stream.schema import POISON_KINDS

REGISTRY = CollectorRegistry(auto_describe=True)

STAGES = ("bars", "indicator_jobs", "dlq_replay")

MESSAGES = Counter(
    "algotrader_stream_messages_total",
    "Messages a stream consumer handled, by stage and outcome (stored, dead_lettered).",
    ["stage", "outcome"],
    registry=REGISTRY,
)
BARS_STORED = Counter(
    "algotrader_stream_bars_stored_total",
    "Bars the stream consumer wrote (inserted or changed) to the database.",
    registry=REGISTRY,
)
BARS_RECEIVED = Counter(
    "algotrader_stream_bars_received_total",
    "Valid bars the stream consumer received (stored, or already stored).",
    registry=REGISTRY,
)
BARS_PUBLISHED = Counter(
    "algotrader_stream_bars_published_total",
    "Bars published to the price stream.",
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "algotrader_stream_dead_letters_total",
    "Messages sent to the dead-letter topic, by reason.",
    ["reason"],
    registry=REGISTRY,
)
INDICATOR_REFRESHES = Counter(
    "algotrader_stream_indicator_refreshes_total",
    "Indicator jobs run, by outcome (refreshed, already_fresh).",
    ["outcome"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "algotrader_stream_batch_seconds",
    "Time to make one consumed batch durable (database and acknowledgements).",
    ["stage"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
LAG = Gauge(
    "algotrader_stream_consumer_lag_messages",
    "Messages of an assigned partition this consumer has not read yet.",
    ["topic", "partition"],
    registry=REGISTRY,
)

for _stage in STAGES:
    for _outcome in ("stored", "dead_lettered"):
        MESSAGES.labels(_stage, _outcome)
for _kind in POISON_KINDS:
    DEAD_LETTERS.labels(_kind)
for _outcome in ("refreshed", "already_fresh"):
    INDICATOR_REFRESHES.labels(_outcome)


def record_lag(topic: str, partition: int, lag: int) -> None:
    LAG.labels(topic, str(partition)).set(lag)


def forget_lag(topic: str, partition: int) -> None:
    """A partition this consumer no longer owns: its lag is another member's to report."""
    with contextlib.suppress(KeyError):
        LAG.remove(topic, str(partition))


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve :data:`REGISTRY` at ``http://ADDRESS:PORT/metrics`` (a daemon thread)."""
    start_http_server(port, addr=address, registry=REGISTRY)
