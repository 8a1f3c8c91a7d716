"""The ingest metrics of DESIGN §7 (prometheus-client). Labels are topics, results and
reasons — never an identifier.

They live in a registry of their own, which `ruaj ingest` serves: a process exports only the
metrics of the service it runs (the command line imports every command's modules, so metrics
in prometheus-client's global registry would appear, as zeros, in every service).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import prometheus_client

from store import writer

REGISTRY = prometheus_client.CollectorRegistry()
prometheus_client.ProcessCollector(registry=REGISTRY)
prometheus_client.PlatformCollector(registry=REGISTRY)
prometheus_client.GCCollector(registry=REGISTRY)

RECORDS = prometheus_client.Counter(
    "ruaj_ingest_records",
    "Records handled, by topic and result (stored, duplicate, dead_lettered, expired)",
    ["topic", "result"],
    registry=REGISTRY,
)
BATCH_DURATION = prometheus_client.Histogram(
    "ruaj_ingest_batch_duration_seconds",
    "One batch, from its first record to the commit of its rows and offsets",
    ["topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
LAG = prometheus_client.Gauge(
    "ruaj_ingest_consumer_lag_records",
    "Records of this worker's partitions not yet committed to the database",
    ["topic"],
    registry=REGISTRY,
)
LAST_COMMIT = prometheus_client.Gauge(
    "ruaj_ingest_last_commit_timestamp_seconds",
    "When rows and offsets of the topic were last committed (Unix time)",
    ["topic"],
    registry=REGISTRY,
)
DLQ_RECORDS = prometheus_client.Counter(
    "ruaj_ingest_dlq_records",
    "Records dead-lettered, by topic and reason",
    ["topic", "reason"],
    registry=REGISTRY,
)
RETRIES = prometheus_client.Counter(
    "ruaj_ingest_write_retries",
    "Batch writes retried after a transient failure (database or dead-letter topic)",
    registry=REGISTRY,
)
OFFSET_GAPS = prometheus_client.Counter(
    "ruaj_ingest_offset_gaps",
    "Messages between the stored offset and the first one the broker still had (lost to the "
    "broker's retention before they were read)",
    ["topic"],
    registry=REGISTRY,
)
IN_FLIGHT = prometheus_client.Gauge(
    "ruaj_ingest_batch_records_in_flight",
    "Messages of the batch being collected or written, not yet committed",
    registry=REGISTRY,
)


def account(outcome: writer.Outcome, topics: Iterable[str], elapsed: float) -> None:
    """Count a committed batch: results, dead letters, latency and commit time per topic."""
    now = time.time()
    for (topic, result), count in outcome.counts.items():
        RECORDS.labels(topic=topic, result=result).inc(count)
    for letter in outcome.dead_letters:
        DLQ_RECORDS.labels(topic=letter.topic, reason=letter.reason).inc()
    for topic in set(topics):
        BATCH_DURATION.labels(topic=topic).observe(elapsed)
        LAST_COMMIT.labels(topic=topic).set(now)
    for (topic, _), (stored, first) in outcome.gaps.items():
        OFFSET_GAPS.labels(topic=topic).inc(first - stored)
