"""Helpers for the ingest tests: simulated streams with their truth, workers, what was stored."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ingest import codec, consumer, identifiers, simulator
from ingest.settings import IngestSettings
from store import db
from store.settings import StoreSettings
from tests import support

TABLE_OF_TOPIC = dict(codec.TOPICS)
EVENT_TABLES = ("cdr", "sms", "imei_observation", "ip_session")


@dataclass(slots=True)
class Truth:
    """What the simulator sent, from its truth file."""

    entries: list[dict[str, Any]]
    good: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # table → id → fields

    @classmethod
    def read(cls, path: Path) -> Truth:
        """Parse a truth file (one JSON object per message)."""
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        truth = cls(entries)
        for entry in entries:
            if entry["kind"] == "good":
                table = TABLE_OF_TOPIC[entry["topic"]]
                truth.good.setdefault(table, {})[entry["event_id"]] = entry["fields"]
        return truth

    @property
    def bad(self) -> list[dict[str, Any]]:
        """The bad messages, each with the reason the pipeline must give."""
        return [e for e in self.entries if e["kind"] == "bad"]

    def kinds(self) -> Counter[str]:
        """Messages per kind (good, bad, duplicate)."""
        return Counter(e["kind"] for e in self.entries)

    def distinct_good(self, table: str) -> int:
        """Distinct good events of one table."""
        return len(self.good.get(table, {}))


def ingest_settings(bootstrap: str, **overrides: Any) -> IngestSettings:
    """Settings of a worker for tests: short batches and retries."""
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "kafka_topic_partitions": 3,
        "ingest_batch_max_seconds": 0.2,
        "ingest_retry_initial_seconds": 0.05,
        "ingest_retry_max_seconds": 0.5,
        "ingest_session_timeout_seconds": 6,
    }
    return IngestSettings(**(values | overrides))


async def produce(
    bootstrap: str, scenario: simulator.Scenario, truth: Path, *, end: datetime | None = None
) -> Truth:
    """Produce a scenario (topics made with 3 partitions) and read its truth back."""
    await simulator.produce(ingest_settings(bootstrap), scenario, end=end, truth=truth)
    return Truth.read(truth)


async def send(bootstrap: str, messages: Iterable[tuple[str, bytes, bytes | None]]) -> None:
    """Produce (topic, value, key) messages as network systems do, and wait for the acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        futures = [await producer.send(t, v, key=k) for t, v, k in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@asynccontextmanager
async def running(
    database_url: str, settings: IngestSettings, *, until_idle: float | None = None,
    group: str = "ruaj-ingest",
) -> AsyncIterator[tuple[consumer.Worker, asyncio.Task[int]]]:  # fmt: skip
    """A worker running in this event loop; stopped (and awaited) on exit."""
    worker = consumer.Worker(
        settings,
        StoreSettings(database_url=database_url),  # type: ignore[arg-type]  # str → SecretStr
        consumer.Options(group=group, until_idle=until_idle),
    )
    task = asyncio.create_task(worker.run())
    try:
        yield worker, task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


async def ingest_until_idle(
    database_url: str, settings: IngestSettings, idle: float = 2.0
) -> consumer.Worker:
    """Run a worker until it has seen nothing new for `idle` seconds."""
    async with running(database_url, settings, until_idle=idle) as (worker, task):
        assert await asyncio.wait_for(task, 240) == 0
    return worker


async def counts(conn: db.Connection) -> dict[str, int]:
    """Rows per event table, dead letters and registry changes."""
    found = {}
    for table in (*EVENT_TABLES, "dead_letter", "subscriber_change"):
        found[table] = await conn.fetchval(f"SELECT count(*) FROM ruaj.{table}")
    return found


async def stored_offsets(
    conn: db.Connection, group: str = "ruaj-ingest"
) -> dict[tuple[str, int], int]:
    """`ruaj.ingest_offset` of a group."""
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM ruaj.ingest_offset WHERE consumer_group = $1",
        group,
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The end offset (high watermark) of every partition of `topics` that holds messages.

    Read from fetch responses: Tansu answers ListOffsets(latest) — what `end_offsets` asks —
    with the base offset of the partition's last record batch, not with its end.
    """
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await client.start()
    try:
        partitions = [
            TopicPartition(t, p) for t in topics for p in client.partitions_for_topic(t) or ()
        ]
        client.assign(partitions)
        for tp in partitions:
            client.seek(tp, 0)
        async with asyncio.timeout(30):
            while any(client.highwater(tp) is None for tp in partitions):
                await client.getmany(timeout_ms=200, max_records=1)
        ends = {tp: client.highwater(tp) for tp in partitions}
    finally:
        await client.stop()
    return {(tp.topic, tp.partition): end for tp, end in ends.items() if end}


async def dead_letter_topic(bootstrap: str) -> list[dict[str, str]]:
    """The headers of every message in `ruaj.dlq`."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                              auto_offset_reset="earliest")  # fmt: skip
    await client.start()
    try:
        partitions = [TopicPartition("ruaj.dlq", p)
                      for p in client.partitions_for_topic("ruaj.dlq") or ()]  # fmt: skip
        if not partitions:
            return []
        client.assign(partitions)
        ends = await client.end_offsets(partitions)
        found = []
        while [tp for tp in partitions if await client.position(tp) < ends[tp]]:
            for records in (await client.getmany(timeout_ms=1000)).values():
                found += [{k: v.decode() for k, v in r.headers} for r in records]
        return found
    finally:
        await client.stop()


def metric(name: str, **labels: str) -> float:
    """The current value of a sample of this process's metrics (0 when absent)."""
    return support.sample(name, **labels) or 0.0


def expected(column: str, sent: Any) -> Any:
    """What the database returns for a value the simulator sent (truth-file form)."""
    if sent is None:
        return None
    if column == "event_id":
        return uuid.UUID(sent)
    if column in ("private_ip", "public_ip"):
        return ipaddress.ip_address(sent)
    if column in ("imei", "served_imei"):
        return identifiers.imei(sent)
    if isinstance(sent, str) and sent.endswith("Z") and sent[4:5] == "-" and "T" in sent:
        return datetime.fromisoformat(sent)
    return sent
