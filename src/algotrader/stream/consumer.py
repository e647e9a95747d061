"""One member of a consumer group that hands batches of messages to a handler and commits
their offsets only once the handler has returned.

The handler makes a batch durable (database commit, dead letters and follow-up messages
acknowledged) before it returns; only then are the batch's offsets committed, synchronously. A
process killed at any point therefore loses nothing: the batch is delivered again, to this
member or to whichever member the group gives the partition to, and the handler's writes are
idempotent. Rebalances happen inside :meth:`consume` calls, i.e. between batches, when every
batch handed out so far is committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from algotrader.stream import metrics
from algotrader.stream.kafka import ensure_topics, group_lag, kafka_client, unavailable
from algotrader.stream.settings import KafkaSettings

if TYPE_CHECKING:
    from confluent_kafka import Message

log = logging.getLogger(__name__)

Handler = Callable[[Sequence["Message"]], None]


@dataclass(frozen=True)
class ConsumeOptions:
    """How one group member runs.

    ``until_idle``: stop once nothing arrived for ``idle_seconds`` and the group has committed
    everything the topic holds; otherwise run until ``stop`` is set (or Ctrl-C).
    """

    group: str
    until_idle: bool = False
    idle_seconds: float = 5.0
    batch_messages: int = 2_000
    poll_seconds: float = 0.5


@dataclass(frozen=True)
class ConsumeStats:
    messages: int
    batches: int
    seconds: float


class GroupMember:
    """A consumer of ``topic`` in group ``options.group`` (manual, synchronous commits)."""

    def __init__(self, settings: KafkaSettings, topic: str, options: ConsumeOptions) -> None:
        self.settings = settings
        self.topic = topic
        self.options = options
        self._kafka = kafka_client()
        self._consumer: Any = None
        self._assigned: set[int] = set()

    def run(self, handler: Handler, stop: threading.Event | None = None) -> ConsumeStats:
        """Consume until told to stop (or idle); returns what was handled."""
        started = time.monotonic()
        ensure_topics(self.settings, [self.topic])
        self._consumer = self._kafka.Consumer(self._config())
        self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        messages = batches = 0
        last_activity = time.monotonic()
        try:
            while stop is None or not stop.is_set():
                batch = self._poll()
                if batch:
                    handler(batch)
                    self._commit(batch)
                    messages += len(batch)
                    batches += 1
                    last_activity = time.monotonic()
                    self._record_lag()
                elif self._idle(last_activity):
                    break
        finally:
            self._consumer.close()  # leaves the group: the others get its partitions at once
        return ConsumeStats(messages, batches, time.monotonic() - started)

    def _config(self) -> dict[str, Any]:
        return {
            **self.settings.client_config(),
            "group.id": self.options.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.settings.session_timeout_ms,
            "heartbeat.interval.ms": max(500, self.settings.session_timeout_ms // 5),
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "fetch.wait.max.ms": 100,
            "error_cb": lambda error: log.warning("Kafka consumer: %s", error),
        }

    def _poll(self) -> list[Message]:
        # Whatever is already fetched is one batch, handed out at once; an empty queue waits up
        # to poll_seconds for the first message only. Batches thus grow with the backlog (while
        # one is stored, the next accumulates) and a lone live bar is not held back.
        size = self.options.batch_messages
        batch = self._consumer.consume(size, 0)
        if not batch:
            batch = self._consumer.consume(1, self.options.poll_seconds)
            if batch and size > 1:
                batch += self._consumer.consume(size - 1, 0)
        good = []
        for message in batch:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != self._kafka.KafkaError._PARTITION_EOF:
                if error.fatal():
                    raise unavailable(self.settings)
                # Transient (a broker restarting, a lost connection): librdkafka reconnects.
                log.warning("Kafka consumer: %s", error)
        return good

    def _commit(self, batch: Sequence[Message]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for message in batch:
            where = (message.topic() or "", message.partition() or 0)
            ends[where] = max(ends.get(where, 0), (message.offset() or 0) + 1)
        offsets = [self._kafka.TopicPartition(t, p, o) for (t, p), o in ends.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except self._kafka.KafkaException as exc:
            # The group rebalanced while the batch was written: its new owner reads it again,
            # and writing it twice changes nothing.
            log.warning("offsets not committed (%s); the batch will be read again", exc)

    def _idle(self, last_activity: float) -> bool:
        if not self.options.until_idle:
            return False
        if time.monotonic() - last_activity < self.options.idle_seconds:
            return False
        return group_lag(self._consumer, self.topic) == 0

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned |= {p.partition for p in partitions}
        log.info("%s: assigned %s", self.options.group, sorted(self._assigned))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Every batch handed out before this callback is committed (callbacks run inside
        # consume(), between batches): nothing to flush here.
        self._assigned -= {p.partition for p in partitions}
        for p in partitions:
            metrics.forget_lag(self.topic, p.partition)
        log.info("%s: revoked %s", self.options.group, sorted(p.partition for p in partitions))

    def _record_lag(self) -> None:
        for partition in sorted(self._assigned):
            tp = self._kafka.TopicPartition(self.topic, partition)
            try:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                (position,) = self._consumer.position([tp])
            except self._kafka.KafkaException:
                continue
            if high >= 0 and position.offset >= 0:
                metrics.record_lag(self.topic, partition, max(0, high - position.offset))
