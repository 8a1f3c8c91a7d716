"""Ingest throughput, Kafka → PostgreSQL, side by side with a bare COPY and a naive consumer.

One stream of simulated events (`ingest.simulator`, 200 000 by default, `--events N`) is
produced once into a fresh embedded broker. The same rows then go, each way into its own
fresh migrated database with the same tables and indexes:

- `bare COPY`: the rows, decoded up front (`ingest.codec`, not timed), loaded with one
  binary COPY per table in one transaction — the ceiling, with nothing of Kafka, validation,
  offsets or batching;
- `naive consumer`: what a first implementation does — one message at a time from Kafka,
  decode, one INSERT committed per message (Kafka auto-commit: not even exactly-once);
- `ruaj ingest`: the worker (`ingest.consumer.Worker`, default batch bounds) in this process:
  consume, decode, validate, batch, COPY with the offsets in the same transaction.

Rates count rows stored per second from the first stored row to the last; the start-up of a
consumer (joining the group) is not part of them. Beside each rate, the CPU spent per row by
the worker process, by PostgreSQL (every backend of the postmaster) and by the broker, from
/proc, says where the time goes: on a machine shared with the database, a worker that takes
less CPU per row leaves more of it to PostgreSQL.

The bare COPY and ruaj ingest run five times in turn (see `run`): one pair of runs on a shared
machine says little, the median of five pairs more.

Event days are spread over the week before now, so every row lands in a day partition that
exists already in the baselines (created before the timing, as maintenance would).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import LiteralString

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import _proc
from bench.support import Env, Report, avro_reader_note, load_average
from ingest import avro, codec, consumer, simulator
from ingest.errors import PoisonRecord
from ingest.settings import IngestSettings
from ruaj import progress, stack
from store import db, partitions, wire

_WRITTEN: LiteralString = (
    "SELECT coalesce(sum(next_offset), 0) FROM ruaj.ingest_offset"
    " WHERE consumer_group = 'bench-ruaj'"
)
_SEED = 2026
_DAYS = 7
_PRODUCE_WINDOW = 5000  # messages in flight while producing
_ROUNDS = 5  # of bare COPY and ruaj ingest, in turn


@dataclass(slots=True)
class Stream:
    """The messages produced once, and their rows decoded once."""

    messages: list[tuple[str, bytes, bytes]]  # topic, key, value
    rows: dict[str, list[tuple[object, ...]]]  # table → rows in COLUMNS[table] order
    days: dict[str, set[date]]  # table → days its rows fall on
    decode_us: float  # CPU µs per message of Codec.decode

    @property
    def row_count(self) -> int:
        """Rows to store (messages that decode)."""
        return sum(len(rows) for rows in self.rows.values())


@dataclass(slots=True)
class Measure:
    """One way of storing the stream: how long it took and who spent the CPU."""

    method: str
    rows: int
    seconds: float
    worker_cpu: float | None  # seconds, the process that consumes and writes
    pg_cpu: float | None  # seconds, all backends of the server
    broker_cpu: float | None  # seconds

    @property
    def rate(self) -> float:
        """Rows stored per second."""
        return self.rows / self.seconds

    def as_row(self, copy_rate: float | None) -> dict[str, object]:
        """The report row; `copy_rate` is the bare COPY's rows/s, for the ratio."""
        rate = self.rate
        row: dict[str, object] = {
            "method": self.method,
            "rows": self.rows,
            "seconds": self.seconds,
            "rows_per_s": round(rate),
            "vs_copy": rate / copy_rate if copy_rate else 1.0,
        }
        for name, cpu in (("worker", self.worker_cpu), ("pg", self.pg_cpu),
                          ("broker", self.broker_cpu)):  # fmt: skip
            row[f"{name}_cpu_us_per_row"] = None if cpu is None else cpu / self.rows * 1e6
        return row


def generate(events: int, end: datetime) -> Stream:
    """The simulated stream of `events` messages ending at `end`, and its decoded rows."""
    scenario = simulator.Scenario(
        subscribers=max(1000, events // 40), events=events, seed=_SEED, days=_DAYS
    )
    schemas = avro.load()
    messages = [(m.topic, m.key, m.value) for m in simulator.messages(scenario, end=end,
                                                                      schemas=schemas)]  # fmt: skip
    subject = codec.Codec(schemas, now=lambda: end)
    rows: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    days: dict[str, set[date]] = defaultdict(set)
    started = time.process_time()
    decoded = [subject.decode(topic, value) for topic, _, value in messages]
    decode_us = (time.process_time() - started) / len(messages) * 1e6
    for record in decoded:
        rows[record.table].append(record.row)
        days[record.table].add(wire.day(record.event_time))
    return Stream(messages, dict(rows), dict(days), decode_us)


async def produce(bootstrap: str, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
    """Create the topics and produce `messages` (acks=all), as `ruaj simulate` does."""
    await simulator.create_topics(IngestSettings(kafka_bootstrap=bootstrap))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=256 * 1024)  # fmt: skip
    await producer.start()
    shown = progress.Progress("producing", len(messages))
    try:
        for lo in range(0, len(messages), _PRODUCE_WINDOW):
            window = messages[lo : lo + _PRODUCE_WINDOW]
            futures = [await producer.send(t, v, key=k) for t, k, v in window]
            await asyncio.gather(*futures)
            shown.set(lo + len(window))
    finally:
        shown.close()
        await producer.stop()


@asynccontextmanager
async def _database(env: Env, prefix: str, stream: Stream) -> AsyncIterator[str]:
    """A fresh migrated database with the stream's day partitions, dropped afterwards."""
    url = await env.fresh_database(prefix)
    try:
        conn = await db.connect(url)
        try:
            for table, days in sorted(stream.days.items()):
                for day in sorted(days):
                    await partitions.ensure(conn, table, day)
            await conn.execute("CHECKPOINT")  # every measure starts with a clean WAL
        finally:
            await conn.close()
        yield url
    finally:
        await env.drop_database(url)


async def _server_cpu(conn: db.Connection) -> _proc.ServerCpu | None:
    """CPU accounting of the PostgreSQL server behind `conn`, if it runs on this machine."""
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    try:
        return _proc.ServerCpu.of(_proc.parent_of(backend))
    except ProcessLookupError:
        return None


class _Clock:
    """Wall time and the CPU of the worker (this process or another), PG and the broker."""

    def __init__(self, pg: _proc.ServerCpu | None, broker: stack.Broker,
                 worker_pid: int | None = None) -> None:  # fmt: skip
        self._pg = pg
        self._broker = broker.pid
        self._worker = worker_pid

    def read(self) -> tuple[float, float, float | None, float | None]:
        """(wall, worker CPU, PG CPU, broker CPU) now."""
        if self._pg is not None:
            self._pg.refresh()
        worker = (time.process_time() if self._worker is None
                  else _proc.cpu_seconds(self._worker))  # fmt: skip
        return (
            time.perf_counter(),
            worker,
            None if self._pg is None else self._pg.seconds(),
            None if self._broker is None else _proc.cpu_seconds(self._broker),
        )

    @staticmethod
    def measure(method: str, rows: int, start: tuple[float, float, float | None, float | None],
                stop: tuple[float, float, float | None, float | None]) -> Measure:  # fmt: skip
        """The Measure between two readings."""

        def delta(index: int) -> float | None:
            a, b = start[index], stop[index]
            return None if a is None or b is None else b - a

        return Measure(method, rows, stop[0] - start[0], delta(1), delta(2), delta(3))


async def bare_copy(env: Env, stream: Stream, broker: stack.Broker) -> Measure:
    """The rows by binary COPY, one per table, in one transaction."""
    async with _database(env, "copy", stream) as url:
        conn = await db.connect(url)
        try:
            await wire.use(conn)  # the rows as the codec makes them, sent as ruaj sends them
            clock = _Clock(await _server_cpu(conn), broker)
            start = clock.read()
            async with conn.transaction():
                for table, rows in sorted(stream.rows.items()):
                    await conn.copy_records_to_table(
                        table, schema_name="ruaj", columns=codec.COLUMNS[table], records=rows
                    )
            stop = clock.read()
            stored = await _stored(conn)
        finally:
            await conn.close()
    return _Clock.measure("bare COPY", stored, start, stop)


def _insert(table: str) -> LiteralString:
    columns = codec.COLUMNS[table]
    names = ", ".join(columns)
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    # Built from the fixed catalogue of codec.COLUMNS, never from input.
    return f"INSERT INTO ruaj.{table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING"


async def naive(env: Env, stream: Stream, broker: stack.Broker) -> Measure:
    """One message at a time: decode, INSERT, commit; Kafka offsets auto-committed."""
    end = datetime.now(UTC)
    subject = codec.Codec(avro.load(), now=lambda: end)
    statements = {table: _insert(table) for table in codec.COLUMNS}
    total = len(stream.messages)
    async with _database(env, "naive", stream) as url:
        conn = await db.connect(url)
        await wire.use(conn)
        consumer = AIOKafkaConsumer(
            *simulator.TOPICS, bootstrap_servers=broker.bootstrap, group_id="bench-naive",
            enable_auto_commit=True, auto_offset_reset="earliest",
        )  # fmt: skip
        shown = progress.Progress("naive consumer", total)
        try:
            clock = _Clock(await _server_cpu(conn), broker)
            await consumer.start()
            start = None
            seen = 0
            async for message in consumer:
                if start is None:
                    start = clock.read()
                assert message.value is not None
                try:
                    decoded = subject.decode(message.topic, message.value)
                except PoisonRecord:
                    pass
                else:
                    await conn.execute(statements[decoded.table], *decoded.row)
                seen += 1
                if seen % 1000 == 0:
                    shown.set(seen)
                if seen == total:
                    break
            stop = clock.read()
            stored = await _stored(conn)
        finally:
            shown.close()
            await consumer.stop()
            await conn.close()
    assert start is not None
    return _Clock.measure("naive consumer (INSERT + commit per message)", stored, start, stop)


async def ruaj_ingest(
    env: Env, stream: Stream, broker: stack.Broker
) -> tuple[Measure, list[tuple[int, int]]]:
    """`ruaj ingest` as its own process (default settings): batches of rows and their offsets,
    one transaction each. Returns the measure and the worker's resident memory as it went
    (messages written, bytes)."""
    total = len(stream.messages)
    async with _database(env, "ruaj", stream) as url:
        conn = await db.connect(url)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RUAJ_")}
        environment |= {"RUAJ_DATABASE_URL": url, "RUAJ_KAFKA_BOOTSTRAP": broker.bootstrap,
                        "RUAJ_METRICS_PORT": str(stack.free_port()),
                        "RUAJ_STACK_DIR": str(env.workdir / "stack")}  # fmt: skip
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ruaj", "--log-level", "WARNING", "ingest", "--group",
            "bench-ruaj", "--topics", ",".join(consumer.EVENT_TOPICS),
            env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        shown = progress.Progress("ruaj ingest", total)
        memory: list[tuple[int, int]] = []
        try:
            clock = _Clock(await _server_cpu(conn), broker, worker_pid=worker.pid)
            # From its first commit on it is ingestion (before: start-up, joining the group).
            first = await _written_beyond(conn, worker, 0)
            start = clock.read()
            done = first
            while done < total:
                done = await _written_beyond(conn, worker, done)
                shown.set(done)
                memory.append((done, _proc.rss_bytes(worker.pid)))
            stop = clock.read()
            stored = await _stored(conn)
        finally:
            shown.close()
            if worker.returncode is None:
                worker.terminate()
                await asyncio.wait_for(worker.wait(), 60)
            await conn.close()
    if stored - first <= 0:
        raise RuntimeError(
            f"the first batch held all {stored:,} rows: nothing left to time (stream more events "
            "than RUAJ_INGEST_BATCH_MAX_ROWS with --events)"
        )
    measure = _Clock.measure(
        "ruaj ingest (COPY + offsets, one transaction per batch)", stored - first, start, stop
    )
    return measure, memory


async def _written_beyond(
    conn: db.Connection, worker: asyncio.subprocess.Process, already: int
) -> int:
    """Messages whose offsets are stored, once more than `already` (polled every 50 ms)."""
    while True:
        written = int(await conn.fetchval(_WRITTEN))
        if written > already:
            return written
        if worker.returncode is not None:
            raise RuntimeError(f"ruaj ingest exited with {worker.returncode}")
        await asyncio.sleep(0.05)


async def _stored(conn: db.Connection) -> int:
    counts = [await conn.fetchval(f"SELECT count(*) FROM ruaj.{table}")
              for table in codec.COLUMNS if table != "subscriber_change"]  # fmt: skip
    return sum(counts)


async def run(env: Env) -> Report:
    """Produce the stream once, then store it each way and compare.

    The bare COPY and ruaj ingest run `_ROUNDS` times in turn (`--quick`: once): the machine is
    shared, and both rates drift by a third between minutes. Each round's ratio compares a pair
    run side by side; the table gives, per method, the round of median rate, and ruaj's ratio
    is the median of the rounds' ratios. The naive consumer, 20 times slower, runs once.
    """
    events = env.events or (60_000 if env.quick else 200_000)  # quick: three default batches
    rounds = 1 if env.quick else _ROUNDS
    stream = generate(events, datetime.now(UTC))
    report = Report("ingest")
    copies: list[Measure] = []
    workers: list[Measure] = []
    with env.broker() as broker:
        await produce(broker.bootstrap, stream.messages)
        for _ in range(rounds):
            copies.append(await bare_copy(env, stream, broker))
            worker, memory = await ruaj_ingest(env, stream, broker)
            workers.append(worker)
        slow = await naive(env, stream, broker)
    for measure in (*copies, slow):
        if measure.rows != stream.row_count:
            raise RuntimeError(f"{measure.method} stored {measure.rows} of {stream.row_count}")
    ratios = [w.rate / c.rate for c, w in zip(copies, workers, strict=True)]
    copy, worker = _median(copies), _median(workers)
    report.rows = [copy.as_row(copy.rate), worker.as_row(copy.rate), slow.as_row(copy.rate)]
    report.rows[1]["vs_copy"] = statistics.median(ratios)
    report.notes.append(
        f"{events:,} messages ({stream.row_count:,} rows over {_DAYS} days), produced once; "
        f"decode + validate {stream.decode_us:.1f} µs/message (CPU, not in the COPY time)"
    )
    report.notes.append(
        f"{rounds} round(s) of bare COPY then ruaj ingest; per round, COPY / ruaj rows/s "
        "(ratio): " + ", ".join(f"{c.rate:,.0f} / {w.rate:,.0f} ({r:.2f})"
                                for c, w, r in zip(copies, workers, ratios, strict=True))
    )  # fmt: skip
    report.notes.append(
        f"ruaj ingest is timed from its first commit on: {worker.rows:,} of {stream.row_count:,} "
        "rows (the first batch, which waits on start-up and the group join, is not counted)"
    )
    report.notes.append(
        f"ruaj ingest / naive consumer: {worker.rate / slow.rate:.1f} (median round)"
    )
    report.notes.append(_memory_note(memory))
    report.notes.append(avro_reader_note())
    report.notes.append(f"load average at the end: {load_average()}")
    return report


def _median(measures: list[Measure]) -> Measure:
    """The measure of median rate (the lower middle one of an even count)."""
    ordered = sorted(measures, key=lambda m: m.rate)
    return ordered[(len(ordered) - 1) // 2]


def _memory_note(memory: list[tuple[int, int]]) -> str:
    """The worker's resident memory at a tenth, half and the end of the stream, and its peak."""
    if not memory:
        return "worker memory: not sampled"
    total = memory[-1][0]

    def at(fraction: float) -> float:
        return next(rss for done, rss in memory if done >= fraction * total) / 2**20

    peak = max(rss for _, rss in memory) / 2**20
    return (
        f"ruaj ingest resident memory: {at(0.1):.0f} MiB at 10 % of the stream, "
        f"{at(0.5):.0f} MiB at 50 %, {at(1.0):.0f} MiB at the end (peak {peak:.0f} MiB)"
    )
