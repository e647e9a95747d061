"""The dead-letter topic: messages a consumer could not use, with the reason, kept for a human.

A dead letter is the original message (same key, same bytes) plus headers: ``dlq.reason`` (one
of :data:`~algotrader.stream.schema.POISON_KINDS`), ``dlq.detail`` (one line), where it came
from (``dlq.topic``, ``dlq.partition``, ``dlq.offset``), the consumer group and when it failed.
:func:`replay` sends dead letters back to the bars topic (e.g. after the producer or the
consumer was fixed); the offsets committed by the replay group remember which were sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from algotrader.stream.kafka import Publisher, _client, ensure_topics, unavailable
from algotrader.stream.settings import KafkaSettings

if TYPE_CHECKING:
    from confluent_kafka import Message

REASON = "dlq.reason"
DETAIL = "dlq.detail"
TOPIC = "dlq.topic"
PARTITION = "dlq.partition"
OFFSET = "dlq.offset"
GROUP = "dlq.group"
FAILED_AT = "dlq.failed_at"
REPLAYED_FROM = "dlq.replayed_from"


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic (``partition``/``offset`` are its place there)."""

    partition: int
    offset: int
    key: str | None
    reason: str
    detail: str
    topic: str
    source_partition: int
    source_offset: int
    failed_at: str
    replayed: bool
    value: bytes


def headers_for(message: Message, reason: str, detail: str, group: str) -> list[tuple[str, bytes]]:
    """The headers that say why ``message`` is a dead letter and where it came from."""
    return [
        (REASON, reason.encode()),
        (DETAIL, detail[:2000].encode()),
        (TOPIC, (message.topic() or "").encode()),
        (PARTITION, str(message.partition()).encode()),
        (OFFSET, str(message.offset()).encode()),
        (GROUP, group.encode()),
        (FAILED_AT, datetime.now(UTC).isoformat(timespec="seconds").encode()),
    ]


def read(settings: KafkaSettings) -> list[DeadLetter]:
    """Every dead letter, oldest first per partition, each marked replayed or not."""
    return [letter for letter, _ in _read_all(settings)]


def replay(settings: KafkaSettings, reasons: frozenset[str] | None = None) -> list[DeadLetter]:
    """Send the dead letters not replayed yet (only those of ``reasons`` when given) back to
    the bars topic; returns them. Replayed letters are remembered only once the cluster has
    acknowledged the copies, so an interrupted replay sends at most those again."""
    kafka = _client()
    publisher = Publisher(settings, linger_ms=5)
    letters = list(_read_all(settings))
    sent = []
    for letter, _ in letters:
        if letter.replayed or (reasons is not None and letter.reason not in reasons):
            continue
        origin = f"{letter.partition}:{letter.offset}".encode()
        key = letter.key.encode() if letter.key is not None else None
        publisher.send(settings.topic, key, letter.value, [(REPLAYED_FROM, origin)])
        sent.append(letter)
    publisher.flush()
    # Everything read is now done with: skipped letters stay listed, but are not pending.
    ends: dict[int, int] = {}
    for letter, _ in letters:
        ends[letter.partition] = max(ends.get(letter.partition, 0), letter.offset + 1)
    if ends:
        committer = kafka.Consumer(_config(settings))
        try:
            offsets = [kafka.TopicPartition(settings.dlq_topic, p, o) for p, o in ends.items()]
            committer.commit(offsets=offsets, asynchronous=False)
        finally:
            committer.close()
    return sent


def _config(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "group.id": settings.replay_group,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }


def _read_all(settings: KafkaSettings) -> Iterator[tuple[DeadLetter, Message]]:
    """Read the whole topic without joining the group (assign), up to its end."""
    kafka = _client()
    ensure_topics(settings, [settings.dlq_topic])
    consumer = kafka.Consumer(_config(settings))
    try:
        metadata = consumer.list_topics(settings.dlq_topic, timeout=15).topics[settings.dlq_topic]
        partitions = [kafka.TopicPartition(settings.dlq_topic, p) for p in metadata.partitions]
        replayed_until = {tp.partition: tp.offset for tp in consumer.committed(partitions)}
        start = kafka.OFFSET_BEGINNING
        consumer.assign(
            [kafka.TopicPartition(settings.dlq_topic, p, start) for p in replayed_until]
        )
        for message in _until_end(consumer, len(partitions)):
            yield _letter(message, replayed_until.get(message.partition() or 0, -1)), message
    except kafka.KafkaException:
        raise unavailable(settings) from None
    finally:
        consumer.close()


def _until_end(consumer: Any, partitions: int) -> Iterator[Message]:
    """Messages until every partition reported its end and nothing more came for a moment
    (or nothing came for a few seconds: some brokers never report an end)."""
    kafka = _client()
    ended: set[int] = set()
    quiet_since = time.monotonic()
    while True:
        quiet = time.monotonic() - quiet_since
        if quiet >= 3.0 or (len(ended) >= partitions and quiet >= 0.5):
            return
        batch = consumer.consume(1000, 0.25)
        if batch:
            quiet_since = time.monotonic()
        for message in batch:
            error = message.error()
            if error is None:
                ended.discard(message.partition() or 0)
                yield message
            elif error.code() == kafka.KafkaError._PARTITION_EOF:
                ended.add(message.partition() or 0)
            else:
                raise kafka.KafkaException(error)


def _letter(message: Message, replayed_until: int) -> DeadLetter:
    pairs = cast(list[tuple[str, bytes | None]], message.headers() or [])
    headers = {name: value.decode(errors="replace") for name, value in pairs if value is not None}
    key = message.key()
    offset = message.offset() or 0
    return DeadLetter(
        partition=message.partition() or 0,
        offset=offset,
        key=key.decode(errors="replace") if key is not None else None,
        reason=headers.get(REASON, "unknown"),
        detail=headers.get(DETAIL, ""),
        topic=headers.get(TOPIC, ""),
        source_partition=int(headers.get(PARTITION, "-1")),
        source_offset=int(headers.get(OFFSET, "-1")),
        failed_at=headers.get(FAILED_AT, ""),
        replayed=offset < replayed_until,
        value=message.value() or b"",
    )
