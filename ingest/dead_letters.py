"""Dead letters to `ruaj.dlq`: the original key and value, and headers that say where the
message came from and why it was refused (a reason and a detail that names a field, never a
value)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord

from ingest import topics
from store import writer

MessageKey = tuple[str, int, int]  # topic, partition, offset


def headers(letter: writer.DeadLetter, detail: str, at: datetime) -> list[tuple[str, bytes]]:
    """The Kafka headers of one dead letter."""
    return [
        ("ruaj.source.topic", letter.topic.encode()),
        ("ruaj.source.partition", str(letter.partition).encode()),
        ("ruaj.source.offset", str(letter.offset).encode()),
        ("ruaj.reason", letter.reason.encode()),
        ("ruaj.detail", detail.encode()),
        ("ruaj.dead_lettered_at", at.isoformat().encode()),
    ]


async def produce(
    producer: AIOKafkaProducer,
    letters: Sequence[writer.DeadLetter],
    raw: Mapping[MessageKey, ConsumerRecord],
    details: Mapping[MessageKey, str],
) -> None:
    """Produce `letters` to `ruaj.dlq` and wait until the broker has acknowledged every one.

    Raises aiokafka's `KafkaError` when it cannot: the caller's transaction then rolls back and
    the batch is tried again, so no dead letter is recorded without its message in the topic.
    """
    at = datetime.now(UTC)
    sent = []
    for letter in letters:
        key = (letter.topic, letter.partition, letter.offset)
        message = raw.get(key)
        sent.append(
            await producer.send(
                topics.DLQ,
                value=None if message is None else message.value,
                key=None if message is None else message.key,
                headers=headers(letter, details.get(key, ""), at),
            )
        )
    await asyncio.gather(*sent)
