"""The dead-letter topic: messages a consumer could not use, with the reason, kept for a human.

A dead letter is the original message (same key, same bytes) plus headers: ``dlq.reason`` (one
of :data:`~algotrader.stream.schema.POISON_KINDS`), ``dlq.detail`` (one line), where it came
from (``dlq.topic``, ``dlq.partition``, ``dlq.offset``), the consumer group and when it failed.

:func:`replay` sends dead letters back to the bars topic (after the producer or the consumer was
fixed) and then appends a small marker to the dead-letter topic itself (header
``dlq.replayed``: ``partition:offset``), so the topic alone says which letters were replayed,
whatever subset a replay picked. A letter is listed once even if a consumer killed between
sending it and committing its offsets sent it twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from algotrader.stream.kafka import Publisher, ensure_topics, kafka_client, unavailable
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
REPLAYED = "dlq.replayed"
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
    letters: list[DeadLetter] = []
    replayed: set[str] = set()
    seen: set[tuple[str, int, int]] = set()
    for message in _read_all(settings):
        headers = _headers(message)
        if REPLAYED in headers:
            replayed.add(headers[REPLAYED])
            continue
        letter = _letter(message, headers)
        origin = (letter.topic, letter.source_partition, letter.source_offset)
        if origin[1] >= 0 and origin in seen:
            continue  # sent twice by a consumer killed before it committed
        seen.add(origin)
        letters.append(letter)
    return [
        _replace_replayed(letter, f"{letter.partition}:{letter.offset}" in replayed)
        for letter in letters
    ]


def replay(settings: KafkaSettings, reasons: frozenset[str] | None = None) -> list[DeadLetter]:
    """Send the dead letters not replayed yet (only those of ``reasons`` when given) back to
    the bars topic, then mark them replayed; returns them. Marks are written only once the
    copies are acknowledged, so an interrupted replay sends at most those again."""
    publisher = Publisher(settings, linger_ms=5)
    chosen = [
        letter
        for letter in read(settings)
        if not letter.replayed and (reasons is None or letter.reason in reasons)
    ]
    for letter in chosen:
        origin = f"{letter.partition}:{letter.offset}".encode()
        key = letter.key.encode() if letter.key is not None else None
        publisher.send(settings.topic, key, letter.value, [(REPLAYED_FROM, origin)])
    publisher.flush()
    for letter in chosen:
        marker = f"{letter.partition}:{letter.offset}".encode()
        key = letter.key.encode() if letter.key is not None else None
        publisher.send(settings.dlq_topic, key, b"", [(REPLAYED, marker)])
    publisher.close()
    return [_replace_replayed(letter, True) for letter in chosen]


def _replace_replayed(letter: DeadLetter, replayed: bool) -> DeadLetter:
    return replace(letter, replayed=replayed)


def _read_all(settings: KafkaSettings) -> Iterator[Message]:
    """Read the whole topic without joining a group (assign), up to its end."""
    kafka = kafka_client()
    ensure_topics(settings, [settings.dlq_topic])
    config = {
        **settings.client_config(),
        "group.id": "algotrader-dlq-reader",  # never joined nor committed: assign() only
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    consumer = kafka.Consumer(config)
    try:
        metadata = consumer.list_topics(settings.dlq_topic, timeout=15).topics[settings.dlq_topic]
        start = kafka.OFFSET_BEGINNING
        partitions = sorted(metadata.partitions)
        consumer.assign([kafka.TopicPartition(settings.dlq_topic, p, start) for p in partitions])
        yield from _until_end(consumer, len(partitions))
    except kafka.KafkaException:
        raise unavailable(settings) from None
    finally:
        consumer.close()


def _until_end(consumer: Any, partitions: int) -> Iterator[Message]:
    """Messages until every partition reported its end and nothing more came for a moment
    (or nothing came for a few seconds: some brokers never report an end)."""
    kafka = kafka_client()
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


def _headers(message: Message) -> dict[str, str]:
    pairs = cast(list[tuple[str, bytes | None]], message.headers() or [])
    return {name: value.decode(errors="replace") for name, value in pairs if value is not None}


def _letter(message: Message, headers: dict[str, str]) -> DeadLetter:
    key = message.key()
    return DeadLetter(
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=key.decode(errors="replace") if key is not None else None,
        reason=headers.get(REASON, "unknown"),
        detail=headers.get(DETAIL, ""),
        topic=headers.get(TOPIC, ""),
        source_partition=int(headers.get(PARTITION, "-1")),
        source_offset=int(headers.get(OFFSET, "-1")),
        failed_at=headers.get(FAILED_AT, ""),
        replayed=False,
        value=message.value() or b"",
    )
