"""The simulator against the real broker: what is in the topics is what the truth file says."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ingest import avro, codec, identifiers, simulator
from ingest.errors import PoisonRecord
from ingest.settings import IngestSettings
from ruaj import stack
from tests.support import run_ruaj

pytestmark = pytest.mark.integration


async def _consume(bootstrap: str, topics: tuple[str, ...]) -> dict[tuple[str, int, int], Any]:
    """Every message of `topics`, by (topic, partition, offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[tuple[str, int, int], Any] = {}
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for r in records:
                    found[(r.topic, r.partition, r.offset)] = r
        return found
    finally:
        await consumer.stop()


def _expected(column: str, sent: Any) -> Any:
    if column in ("private_ip", "public_ip"):
        return ipaddress.ip_address(sent)
    if column in ("imei", "served_imei") and sent is not None:
        return identifiers.imei(sent)
    if isinstance(sent, str) and sent.endswith("Z") and sent[4:5] == "-" and "T" in sent:
        return datetime.fromisoformat(sent)
    return sent


async def test_the_topics_hold_what_the_truth_file_says(broker: stack.Broker,
                                                         tmp_path: Path) -> None:  # fmt: skip
    settings = IngestSettings(kafka_bootstrap=broker.bootstrap, kafka_topic_partitions=3)
    scenario = simulator.Scenario(subscribers=60, events=1500, days=2, seed=99,
                                  bad_fraction=0.1, duplicate_fraction=0.05)  # fmt: skip
    end = datetime.now(UTC)
    truth_path = tmp_path / "truth.jsonl"
    seen: list[int] = []
    summary = await simulator.produce(settings, scenario, end=end, truth=truth_path,
                                      progress=seen.append)  # fmt: skip
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    assert summary.messages == len(truth) == 1500 and seen[-1] == 1500
    assert summary.counts == Counter((t["topic"], t["kind"]) for t in truth)
    assert sum(summary.reasons.values()) == 150

    produced = await _consume(broker.bootstrap, simulator.TOPICS)
    assert len(produced) == len(truth)
    subject = codec.Codec(avro.load(), now=lambda: end)
    stored_ids: set[str] = set()
    compared = Counter[str]()
    for entry in truth:
        record = produced[(entry["topic"], entry["partition"], entry["offset"])]
        assert record.key == entry["key"].encode()
        if entry["kind"] == "bad":
            with pytest.raises(PoisonRecord) as caught:
                subject.decode(entry["topic"], record.value)
            assert caught.value.reason == entry["reason"]
            continue
        decoded = subject.decode(entry["topic"], record.value)
        row = codec.readable(decoded.table, decoded.row)
        if entry["kind"] == "duplicate":
            assert row["event_id"] in stored_ids
            continue
        stored_ids.add(str(row["event_id"]))
        assert set(entry["fields"]) == set(row)
        for column, value in row.items():
            assert value == _expected(column, entry["fields"][column]), column
        compared[entry["topic"]] += 1
    assert set(compared) == set(simulator.TOPICS)


async def test_topics_are_created_with_the_configured_partitions(broker: stack.Broker) -> None:
    settings = IngestSettings(kafka_bootstrap=broker.bootstrap, kafka_topic_partitions=5)
    await simulator.create_topics(settings)
    await simulator.create_topics(settings)  # already there: nothing to do, no error
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(simulator.TOPICS))
    finally:
        await admin.close()
    assert {t["topic"]: len(t["partitions"]) for t in described} == dict.fromkeys(
        simulator.TOPICS, 5
    )


@pytest.mark.acceptance
def test_ruaj_simulate_prints_a_summary(broker: stack.Broker, tmp_path: Path) -> None:
    env = {"RUAJ_KAFKA_BOOTSTRAP": broker.bootstrap, "RUAJ_STACK_DIR": str(tmp_path / "stack"),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    truth = tmp_path / "truth.jsonl"
    options = ["--subscribers", "20", "--rate", "400", "--duration", "1", "--seed", "4",
               "--bad-fraction", "0.25", "--truth", str(truth)]  # fmt: skip
    done = run_ruaj("simulate", *options, env=env)
    assert done.returncode == 0, done.stderr
    assert "sent 400 messages" in done.stdout
    assert "seed 4" in done.stdout
    assert "bad by reason: future_time 12, invalid_enum 13, invalid_identifier 12" in done.stdout
    lines = truth.read_text().splitlines()
    assert len(lines) == 400
    assert Counter(json.loads(line)["kind"] for line in lines) == Counter(good=300, bad=100)
    refused = run_ruaj("simulate", "--rate", "10", env=env)
    assert refused.returncode == 2
    assert "--rate and --duration go together" in refused.stderr
