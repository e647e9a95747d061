"""Metrics read from the database when Prometheus scrapes a service.

* ``algotrader_jobs{kind,state}``: jobs per kind and state (the queue's depth is
  ``state="queued"``);
* ``algotrader_job_queue_oldest_age_seconds``: how long the oldest queued job has waited;
* ``algotrader_orders{status}``: orders in the order log per status;
* ``algotrader_watchlist_series{resolution}``: watched series per resolution;
* ``algotrader_database_up``: 1 when the database answered the scrape's queries.

Label values are bounded the same way as the platform's other metrics (unknown ones count as
``other``), and every known combination is exported, at 0 when there is none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from algotrader.app.monitoring import PlatformStatus, StatusReader
from algotrader.observability.metrics import (
    JOB_KINDS,
    JOB_STATES,
    ORDER_STATUSES,
    OTHER,
    RESOLUTIONS,
    bounded,
)


class StatusCollector(Collector):
    """Reads :class:`PlatformStatus` on each scrape."""

    def __init__(self, reader: StatusReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "algotrader_database_up", "1 if the database answered this scrape's queries."
        )
        state = self._reader.read()
        up.add_metric([], 0 if state is None else 1)
        yield up
        if state is not None:
            yield from _families(state)


def _families(state: PlatformStatus) -> Iterator[GaugeMetricFamily]:
    jobs = GaugeMetricFamily(
        "algotrader_jobs", "Jobs per kind and state (queued = the queue's depth).",
        labels=["kind", "state"],
    )  # fmt: skip
    counted: Counter[tuple[str, str]] = Counter()
    for (kind, job_state), n in state.jobs.items():
        counted[(bounded(kind, JOB_KINDS), bounded(job_state, JOB_STATES))] += n
    for kind in (*JOB_KINDS, OTHER):
        for job_state in JOB_STATES:
            jobs.add_metric([kind, job_state], counted[(kind, job_state)])
    yield jobs
    age = GaugeMetricFamily(
        "algotrader_job_queue_oldest_age_seconds",
        "How long the oldest job still waiting in the queue has waited (0: none waits).",
    )
    age.add_metric([], state.oldest_queued_age_seconds)
    yield age
    yield _by_label(
        "algotrader_orders", "Orders in the order log per status.", "status",
        state.orders, ORDER_STATUSES,
    )  # fmt: skip
    yield _by_label(
        "algotrader_watchlist_series", "Watched series per resolution.", "resolution",
        state.watchlist, RESOLUTIONS,
    )  # fmt: skip


def _by_label(
    name: str, documentation: str, label: str, counts: dict[str, int], known: tuple[str, ...]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    totals: Counter[str] = Counter()
    for value, n in counts.items():
        totals[bounded(value, known)] += n
    for value in (*known, OTHER):
        family.add_metric([value], totals[value])
    return family
