"""The Kafka clients of the price stream, on confluent-kafka (librdkafka).

* :func:`ensure_topics` creates the stream's topics when they are missing;
* :class:`Publisher` is an idempotent producer (``enable.idempotence``: retries after a broker
  restart or a lost connection write each message once, in order per partition) whose
  :meth:`~Publisher.flush` raises unless every message was acknowledged by the cluster;
* :func:`group_lag` is what a consumer group still has to read.

Nothing here depends on a particular broker: any Kafka-protocol cluster (Apache Kafka,
Redpanda, ...) will do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from algotrader.errors import UserError
from algotrader.stream.settings import KafkaSettings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

log = logging.getLogger(__name__)

_TIMEOUT = 10.0


class StreamUnavailableError(UserError):
    """No Kafka broker answers, or it refused what the stream needs."""


def kafka_client() -> Any:
    """The confluent_kafka module, or one clear line saying how to install it."""
    try:
        import confluent_kafka
    except ImportError:
        raise UserError(
            "the price stream needs the Kafka client (confluent-kafka)",
            "install it with: pip install 'algotrader[stream]'",
        ) from None
    return confluent_kafka


def ensure_topics(settings: KafkaSettings, topics: Sequence[str]) -> None:
    """Create those of ``topics`` that do not exist yet (``settings.partitions`` each)."""
    kafka = kafka_client()
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(settings.client_config())
    try:
        existing = admin.list_topics(timeout=_TIMEOUT).topics
    except kafka.KafkaException:
        raise unavailable(settings) from None
    missing = [t for t in dict.fromkeys(topics) if t not in existing]
    if not missing:
        return
    created = admin.create_topics(
        [NewTopic(t, settings.partitions, settings.replication_factor) for t in missing],
        request_timeout=_TIMEOUT,
    )
    for topic, future in created.items():
        try:
            future.result()
            log.info("created topic %s (%d partitions)", topic, settings.partitions)
        except kafka.KafkaException as exc:
            if exc.args[0].code() != kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise StreamUnavailableError(
                    f"could not create the Kafka topic {topic!r} ({exc.args[0].str()})",
                    "create it beforehand, or allow this client to create topics",
                ) from None


def unavailable(settings: KafkaSettings) -> StreamUnavailableError:
    return StreamUnavailableError(
        f"no Kafka broker answers at {settings.describe()}",
        "start the cluster or set ALGOTRADER_KAFKA_BOOTSTRAP (and its SASL/TLS settings)",
    )


class Publisher:
    """An idempotent producer that knows whether everything it sent was acknowledged.

    Messages are batched (``linger.ms``) and compressed; ``end_offsets`` records, per
    (topic, partition), one past the last acknowledged offset.
    """

    def __init__(self, settings: KafkaSettings, *, linger_ms: int = 20) -> None:
        kafka = kafka_client()
        config = {
            **settings.client_config(),
            "enable.idempotence": True,  # implies acks=all and in-order retries
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "batch.size": 4_000_000,
            "message.max.bytes": 4_000_000,
            "queue.buffering.max.kbytes": 512_000,
            "error_cb": self._on_error,
        }
        self._kafka = kafka
        self._producer = kafka.Producer(config)
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self.sent = 0
        self.acknowledged = 0
        self.end_offsets: dict[tuple[str, int], int] = {}

    def _on_error(self, error: Any) -> None:
        # Transient problems (a broker restarting) are retried by librdkafka; fatal ones surface
        # in flush() through the failed deliveries.
        log.warning("Kafka producer: %s", error)

    def _delivered(self, error: Any, message: Message) -> None:
        with self._lock:
            if error is not None:
                self._failures.append(str(error))
                return
            self.acknowledged += 1
            where = (message.topic() or "", message.partition() or 0)
            offset = (message.offset() or 0) + 1
            if offset > self.end_offsets.get(where, 0):
                self.end_offsets[where] = offset

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one message (waits while the local queue is full)."""
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1
        self._producer.poll(0)

    def poll(self, seconds: float) -> None:
        """Serve delivery reports for up to ``seconds``."""
        self._producer.poll(seconds)

    def close(self) -> None:
        """Wait for what is queued (as :meth:`flush`), then let the client go."""
        try:
            self.flush()
        finally:
            self.release()

    def release(self) -> None:
        """Let the client go now (what is still queued is dropped): after an error."""
        # Drops the callback cycle, so librdkafka's threads stop now rather than at some
        # later garbage collection.
        self._producer = None

    def flush(self, timeout: float = 120.0) -> None:
        """Wait until every queued message is acknowledged; raise if any was not."""
        deadline = time.monotonic() + timeout
        while (left := self._producer.flush(1.0)) and time.monotonic() < deadline:
            log.info("waiting for the Kafka cluster to acknowledge %d messages", left)
        with self._lock:
            failures = list(self._failures)
            self._failures.clear()
        if left or failures:
            first = failures[0] if failures else f"{left} messages still unacknowledged"
            raise StreamUnavailableError(
                f"the Kafka cluster did not take every message ({first})",
                "check the cluster (and ALGOTRADER_KAFKA_BOOTSTRAP), then run the command again",
            )


def group_lag(consumer: Consumer, topic: str, timeout: float = _TIMEOUT) -> int:
    """Messages of ``topic`` that the consumer's group has not committed yet, summed over
    every partition (the ones assigned to other members too)."""
    kafka = kafka_client()
    metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return 0
    partitions = [kafka.TopicPartition(topic, p) for p in sorted(metadata.partitions)]
    committed = consumer.committed(partitions, timeout=timeout)
    lag = 0
    for tp in committed:
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
        position = tp.offset if tp.offset >= 0 else low
        lag += max(0, high - position)
    return lag
