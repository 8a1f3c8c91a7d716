"""Decode + validate, per record and per topic: the codec's hot path, no database, no broker.

For each event topic, realistic messages from the simulator are decoded over and over:
- `codec`: `Codec.decode` — framing, the compiled Avro reader, validation, the row tuple;
- `reader`: the compiled reader alone (`avro.Decoder.decode`), so `codec - reader` is validation
  and conversion;
- `python_reader`: the same reading plan run as generated Python (`avro_reader.Reader.python`),
  what runs where the C extension could not be built;
- `fastavro`: fastavro's `schemaless_reader` on the same body with the parsed schema (datetimes
  and enum symbols included) plus the exact-length check — the obvious alternative, for scale.

Times are CPU time of this process (`time.process_time`), the best of several rounds that
alternate between the three: on a shared machine wall-clock time mostly measures the
neighbours. The budget it serves: ingestion must reach 0.8 x a bare COPY (about 50 000 rows/s
on 2 cores shared with PostgreSQL), so decode + validate should stay well under 20 µs.
"""

from __future__ import annotations

import functools
import io
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import fastavro

from bench.support import Env, Report, avro_reader_note
from ingest import avro, codec, simulator

_ROUNDS = 5


def _best_us(works: list[Callable[[], None]], count: int, rounds: int) -> list[float]:
    """Best CPU microseconds per record of each of `works` (each handles `count` records),
    measured in alternation."""
    best = [float("inf")] * len(works)
    for _ in range(rounds):
        for index, work in enumerate(works):
            started = time.process_time()
            work()
            best[index] = min(best[index], time.process_time() - started)
    return [b / count * 1e6 for b in best]


def _messages(quick: bool, end: datetime) -> dict[str, list[bytes]]:
    scenario = simulator.Scenario(subscribers=2000, events=8000 if quick else 40_000, seed=2026)
    by_topic: dict[str, list[bytes]] = defaultdict(list)
    for message in simulator.messages(scenario, end=end):
        by_topic[message.topic].append(message.value)
    return by_topic


def _full(decode: Callable[[str, bytes], object], topic: str, payloads: list[bytes]) -> None:
    for payload in payloads:
        decode(topic, payload)


def _python(reads: Mapping[bytes, Callable[[bytes, int], object]], payloads: list[bytes]) -> None:
    for payload in payloads:
        reads[payload[2:10]](payload, 10)


def _fastavro(parsed: Any, payloads: list[bytes]) -> None:
    reader = fastavro.schemaless_reader
    for payload in payloads:
        stream = io.BytesIO(payload)
        stream.seek(10)
        reader(stream, parsed, None)
        if stream.tell() != len(payload):
            raise AssertionError("trailing bytes")


async def run(env: Env) -> Report:
    """Measure µs/record of the codec, its reader (C and Python) and fastavro for each topic."""
    end = datetime.now(UTC)
    schemas = avro.load()
    subject = codec.Codec(schemas, now=lambda: end)
    rounds = 3 if env.quick else _ROUNDS
    report = Report(name="decode")
    for topic, payloads in sorted(_messages(env.quick, end).items()):
        name = topic.removeprefix(avro.TOPIC_PREFIX)
        parsed = fastavro.parse_schema(dict(schemas.reader(name).schema))
        full = functools.partial(_full, subject.decode, topic, payloads)
        compiled = functools.partial(_full, subject.decoder.decode, name, payloads)
        reads = {fp: reader.python for fp, reader in subject.decoder.readers(name).items()}
        python = functools.partial(_python, reads, payloads)
        baseline = functools.partial(_fastavro, parsed, payloads)
        count = len(payloads)
        codec_us, reader_us, python_us, fastavro_us = _best_us(
            [full, compiled, python, baseline], count, rounds
        )
        report.rows.append({
            "topic": topic,
            "records": count,
            "codec_us": codec_us,
            "reader_us": reader_us,
            "validate_us": codec_us - reader_us,
            "python_reader_us": python_us,
            "fastavro_us": fastavro_us,
            "codec_records_per_s": round(1e6 / codec_us),
            "reader_vs_fastavro": fastavro_us / reader_us,
        })  # fmt: skip
    total = sum(r["records"] for r in report.rows)
    mean = sum(r["codec_us"] * r["records"] for r in report.rows) / total
    report.notes.append(
        f"simulator mix ({total:,} records): {mean:.2f} µs/record decode + validate, "
        f"{1e6 / mean:,.0f} records/s on one core"
    )
    report.notes.append(avro_reader_note())
    report.notes.append(f"best of {rounds} rounds per figure{' (--quick)' if env.quick else ''}")
    return report
