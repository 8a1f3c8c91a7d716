"""`ruaj ingest`: one consumer group over the event topics, into PostgreSQL, exactly once.

The database is the only record of where consumption stands (`ruaj.ingest_offset`, written in
the same transaction as the rows, by `store.writer`):

- on every assignment the worker pauses the partitions it was given, reads their stored next
  offsets and seeks there — a partition with none starts at its earliest message, so nothing is
  ever skipped — then resumes them. The offsets are committed to Kafka too, after the database,
  only so that lag monitoring outside ruaj sees them;
- a batch is collected until `RUAJ_INGEST_BATCH_MAX_ROWS` messages, `…_MAX_BYTES` bytes or
  `…_MAX_SECONDS` since its first message, whichever comes first. Each message is decoded and
  validated (`ingest.codec`); a poison message becomes a dead letter, an event already older
  than its retention window is counted `expired` and stored nowhere;
- two batches are written at once, each on its own connection: the later one's rows go in
  while the earlier one commits, and it claims its offsets only after that commit (`_Flight`);
- the batch is written by `store.writer.write` in one transaction; its dead letters are produced
  to `ruaj.dlq` (with headers naming source topic, partition, offset and reason) and
  acknowledged by the broker before that transaction commits. A crash at any point leaves either
  nothing or everything of the batch: the next owner of the partitions starts at the stored
  offsets, and the writer skips what lies below them;
- database and broker failures are retried with backoff and never dead-lettered; while a batch
  waits, nothing more is fetched, so memory stays bounded;
- `stop()` (SIGTERM, SIGINT) stops fetching, writes the batch in flight with its offsets within
  `RUAJ_INGEST_STOP_TIMEOUT_SECONDS`, and leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import LiteralString

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from ingest import avro_reader, codec, dead_letters, metrics, readiness, retry
from ingest.errors import BrokerUnavailable, PoisonRecord
from ingest.settings import IngestSettings
from store import db, errors, partitions, tables, wire, writer
from store.settings import StoreSettings

logger = logging.getLogger(__name__)

EVENT_TOPICS: tuple[str, ...] = ("ruaj.cdr", "ruaj.sms", "ruaj.imei", "ruaj.ipsession")
ALL_TOPICS: tuple[str, ...] = (*EVENT_TOPICS, "ruaj.subscriber")
_IDLE_POLL_SECONDS = 0.5
_MISSING_PARTITION_ATTEMPTS = 3
# Messages decoded between two yields to the event loop (about 1 ms of work): the write in
# flight takes its next step within a millisecond of PostgreSQL's answer.
_DECODE_SLICE = 64
# Messages asked of the consumer at a time. It builds every message it hands over in one go,
# without yielding: 20,000 at once held the event loop for 30 ms, and PostgreSQL waited that
# long for the write in flight's next statement.
_FETCH_SLICE = 1000

# Batches written at once, each on its own connection and in its own transaction: the next
# batch's rows go in while the one before finishes (its span index, offsets, commit), so that
# PostgreSQL always has work; its offsets are claimed once that one has committed.
_WRITES = 2
# While a batch waits for the one before to commit, how often it asks whether that one waits
# on it (an event re-sent across the two batches: the earlier one's row waits on the later's).
_GIVE_WAY_CHECK_SECONDS = 0.25
_BLOCKING: LiteralString = "SELECT pg_backend_pid() = ANY(pg_blocking_pids($1))"

Partition = tuple[str, int]
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What `ruaj ingest` was asked to do beyond the settings."""

    topics: tuple[str, ...] = ALL_TOPICS
    group: str = "ruaj-ingest"
    until_idle: float | None = None  # exit after this many seconds without a message


class _PreviousFailed(Exception):
    """The batch before did not commit in this attempt: roll back, and write again after it."""


@dataclass(slots=True)
class _Collected:
    """A batch with what only the worker needs of it: the raw messages that may become dead
    letters (poison, and registry changes the database may still refuse) and their details."""

    batch: writer.Batch
    started: float  # when its first message came (monotonic)
    raw: dict[tuple[str, int, int], ConsumerRecord] = field(default_factory=dict)
    details: dict[tuple[str, int, int], str] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Flight:
    """A batch being written: on which connection, after which batch, and how far it got."""

    collected: _Collected | None  # until written: the batch after it needs only the rest
    slot: int  # the connection (and its lock) it is written on
    previous: _Flight | None  # the batch written before it, still in flight when it started
    server_pid: int | None = None  # of its connection's backend, once it has one
    committed: asyncio.Event = field(default_factory=asyncio.Event)
    failed: asyncio.Event = field(default_factory=asyncio.Event)  # an attempt did not commit
    task: asyncio.Task[bool] | None = None  # True once written and accounted


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._worker.revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._worker.assigned(assigned)


class Worker:
    """One ingest worker: consume, decode, validate, batch, write, dead-letter."""

    def __init__(
        self,
        settings: IngestSettings,
        store_settings: StoreSettings,
        options: Options,
        *,
        decoder: codec.Codec | None = None,
    ) -> None:
        self._settings = settings
        self._store_settings = store_settings
        self._options = options
        self._codec = decoder or codec.Codec.from_settings(settings, now=self._clock)
        self._windows = {
            t.name: timedelta(days=store_settings.retention_days(t.category))
            for t in tables.EVENT_TABLES
        }
        self._stopping = asyncio.Event()
        self._stop_deadline: float | None = None
        # One per connection: held while a batch is written on it, and all by rebalances.
        self._locks = tuple(asyncio.Lock() for _ in range(_WRITES))
        self._unpositioned: set[TopicPartition] = set()
        self._committed: dict[TopicPartition, int] = {}  # next offsets stored in the database
        # Next offsets known to be stored: read when positioning, or stored by our own commits.
        # The database standing behind them means commits were lost: read again from there.
        self._written: dict[Partition, int] = {}
        self._known_days: set[tuple[str, date]] = set()
        # The batch being collected, and those being written meanwhile (at most _WRITES): the
        # next batch is fetched and decoded while PostgreSQL takes the previous ones.
        self._collecting: writer.Batch | None = None
        self._writing: list[writer.Batch] = []
        self._now = datetime.now(UTC)  # the codec's clock, read once per fetch
        self._backoffs = tuple(
            retry.Backoff(
                initial=settings.ingest_retry_initial_seconds,
                maximum=settings.ingest_retry_max_seconds,
                deadline=lambda: self._stop_deadline,
                on_failure=functools.partial(self._failed, slot=slot),
            )
            for slot in range(_WRITES)
        )
        self._backoff = self._backoffs[0]  # positioning, schema registry
        self._conns: list[db.Connection | None] = [None] * _WRITES
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_activity = time.monotonic()
        self._rebalancing = False
        self.written = 0  # messages whose batch committed (for tests and the summary)
        # (topic, result) → records of committed batches: what `ruaj ingest --until-idle` reports
        self.results: Counter[tuple[str, str]] = Counter()
        for topic in options.topics:  # a series per topic from the start, for increase()
            metrics.OFFSET_GAPS.labels(topic=topic)
        self.stopped = False  # run() has returned

    def _clock(self) -> datetime:
        return self._now

    # -- the service ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop fetching; the batch in flight is still written (within the stop timeout)."""
        if not self._stopping.is_set():
            logger.info("stopping: writing the batch in flight")
            self._stop_deadline = time.monotonic() + self._settings.ingest_stop_timeout_seconds
            self._stopping.set()

    async def run(self) -> int:
        """Consume until stopped (or idle for `until_idle`); returns the exit code."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._options.group,
            group_instance_id=self._settings.ingest_instance_id,
            enable_auto_commit=False,  # the database holds the offsets
            auto_offset_reset="earliest",  # never skip data
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=int(self._settings.ingest_session_timeout_seconds * 1000),
            heartbeat_interval_ms=max(
                500, int(self._settings.ingest_session_timeout_seconds * 1000 / 3)
            ),
        )
        consumer.subscribe(topics=list(self._options.topics), listener=_Listener(self))
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=False,  # the embedded broker has no InitProducerId
        )
        self._consumer, self._producer = consumer, producer
        try:
            await consumer.start()
            await producer.start()
        except KafkaError as exc:
            await _quietly(consumer.stop())
            await _quietly(producer.stop())
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap}: {exc}"
            ) from exc
        logger.info(
            "ingest started",
            extra={
                "group": self._options.group,
                "topics": list(self._options.topics),
                "avro_reader": "C" if avro_reader.COMPILED else "Python",
            },
        )
        try:
            return await self._loop()
        finally:
            await _quietly(consumer.stop())
            await _quietly(producer.stop())
            for conn in self._conns:
                if conn is not None:
                    await _quietly(conn.close())
            self.stopped = True
            logger.info("ingest stopped", extra={"messages_written": self.written})

    async def _loop(self) -> int:
        flights: list[_Flight] = []  # being written, oldest first
        try:
            while not self._stopping.is_set():
                if self._unpositioned:
                    # Positions come from the database: let the writes in flight land first.
                    if not await self._land(flights, 0):
                        return 1
                    await self._position()
                collected = await self._collect()
                if not await self._land(flights, _WRITES - 1):  # a connection free
                    return 1
                if collected is not None and self._unpositioned:
                    # Taken away and given back, or rewound, while it was collected.
                    collected.batch.forget({(tp.topic, tp.partition) for tp in self._unpositioned})
                if collected is not None:
                    previous = flights[-1] if flights else None
                    slot = 0 if previous is None else (previous.slot + 1) % _WRITES
                    flight = _Flight(collected, slot, previous)
                    flight.task = asyncio.create_task(self._write(flight))
                    flights.append(flight)
                elif self._idle_for_long_enough():
                    logger.info("idle: exiting", extra={"idle_seconds": self._options.until_idle})
                    return 0 if await self._land(flights, 0) else 1
            return 0 if await self._land(flights, 0) else 1
        finally:
            for flight in flights:
                task = flight.task
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    @staticmethod
    async def _land(flights: list[_Flight], keep: int) -> bool:
        """Wait for the oldest writes until at most `keep` are in flight (and drop the finished
        ones); False if one ran out of time while stopping."""
        while flights and (len(flights) > keep or flights[0].task is None
                           or flights[0].task.done()):  # fmt: skip
            task = flights.pop(0).task
            if task is not None and not await task:
                return False
        return True

    async def ready(self) -> dict[str, bool]:
        """Readiness: the database answers, and the broker accepts connections."""
        url = self._store_settings.database_url.get_secret_value()
        return {
            "database": await readiness.database(url),
            "broker": await readiness.broker(self._settings.kafka_bootstrap),
        }

    @property
    def positioned(self) -> bool:
        """Whether the worker holds partitions and all of them are positioned (it consumes)."""
        if self._consumer is None:
            return False
        return bool(self._consumer.assignment()) and not self._unpositioned

    # -- rebalances ------------------------------------------------------------------------

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """New assignment: hold the partitions until they are positioned from the database."""
        assert self._consumer is not None
        self._unpositioned = set(partitions)
        if partitions:
            self._consumer.pause(*partitions)
        self._rebalancing = False
        self._last_activity = time.monotonic()
        logger.info("partitions assigned", extra={"partitions": len(partitions)})

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions taken away: wait for a write in progress, forget what is not written."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._rebalancing = True  # not idle: the group is handing partitions round
        async with contextlib.AsyncExitStack() as held:
            for lock in self._locks:  # in order: every write in progress has landed
                await held.enter_async_context(lock)
            for batch in (*self._writing, self._collecting):
                if batch is not None:
                    batch.forget(gone)
        for tp in partitions:
            self._committed.pop(tp, None)
            self._written.pop((tp.topic, tp.partition), None)
            self._unpositioned.discard(tp)
        logger.info("partitions revoked", extra={"partitions": len(partitions)})

    async def _position(self) -> None:
        """Seek newly assigned partitions to their stored offsets (or their beginning)."""
        assert self._consumer is not None
        pending = self._unpositioned & self._consumer.assignment()
        if not pending:
            return
        keys = [(tp.topic, tp.partition) for tp in pending]
        try:
            stored = await self._backoff.run(lambda: self._stored_offsets(keys))
        except retry.OutOfTime:
            return
        missing = [tp for tp in pending if (tp.topic, tp.partition) not in stored]
        beginnings: Mapping[TopicPartition, int] = {}
        if missing:
            beginnings = await self._consumer.beginning_offsets(missing)
        for tp in pending:
            key = (tp.topic, tp.partition)
            offset = stored.get(key, beginnings.get(tp, 0))
            self._consumer.seek(tp, offset)
            self._committed[tp] = offset
            if key in stored:
                self._written[key] = offset
            else:
                self._written.pop(key, None)
        self._consumer.resume(*pending)
        self._unpositioned -= pending
        logger.info(
            "partitions positioned from the database",
            extra={"partitions": len(pending), "without_stored_offset": len(missing)},
        )

    async def _stored_offsets(self, keys: list[Partition]) -> dict[Partition, int]:
        conn = await self._connection()
        return await writer.stored_offsets(conn, self._options.group, keys)

    # -- collecting a batch ----------------------------------------------------------------

    async def _collect(self) -> _Collected | None:
        """Messages up to the batch bounds; None when nothing came (or we are stopping)."""
        assert self._consumer is not None
        batch = writer.Batch()
        collected = _Collected(batch=batch, started=0.0)
        self._collecting = batch
        size = 0
        started: float | None = None
        limit = self._settings.ingest_batch_max_seconds
        while not self._stopping.is_set():
            if started is None:
                timeout = _IDLE_POLL_SECONDS
            else:
                timeout = limit - (time.monotonic() - started)
                if timeout <= 0:
                    break
            wanted = min(_FETCH_SLICE, self._settings.ingest_batch_max_rows - len(batch))
            fetched = await self._fetch(timeout, wanted)
            if not fetched:
                if started is None:
                    self._update_lag()
                    return None
                continue
            if started is None:
                started = time.monotonic()
            size += await self._add(collected, fetched)
            metrics.IN_FLIGHT.set(len(batch) + sum(len(b) for b in self._writing))
            if (
                len(batch) >= self._settings.ingest_batch_max_rows
                or size >= self._settings.ingest_batch_max_bytes
                or self._unpositioned
            ):
                break
        self._collecting = None
        if not batch.items:
            return None
        collected.started = started or time.monotonic()
        self._last_activity = time.monotonic()
        return collected

    async def _fetch(
        self, wait_seconds: float, max_records: int
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        assert self._consumer is not None
        stop = asyncio.ensure_future(self._stopping.wait())
        fetch = asyncio.ensure_future(
            self._consumer.getmany(
                timeout_ms=max(1, int(wait_seconds * 1000)), max_records=max_records
            )
        )
        try:
            await asyncio.wait((stop, fetch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            # Stopping: what the consumer hands over now is still written; nothing more comes.
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
            return {}
        result: dict[TopicPartition, list[ConsumerRecord]] = fetch.result()
        return result

    async def _add(
        self, collected: _Collected, fetched: dict[TopicPartition, list[ConsumerRecord]]
    ) -> int:
        """Decode and validate fetched messages into the batch; returns their bytes."""
        size = 0
        if self._settings.schema_registry_url:
            payloads = [m.value for messages in fetched.values() for m in messages if m.value]
            try:
                await self._backoff.run(lambda: self._codec.prefetch(payloads))
            except retry.OutOfTime:
                return 0  # stopping: these are read again on restart
        self._now = now = datetime.now(UTC)
        horizons = {table: wire.timestamp(now - window) for table, window in self._windows.items()}
        add, item = collected.batch.add, self._item
        for tp, messages in fetched.items():
            if tp in self._unpositioned:
                continue  # fetched before a rebalance took it away and gave it back
            for lo in range(0, len(messages), _DECODE_SLICE):
                for message in messages[lo : lo + _DECODE_SLICE]:
                    size += len(message.value or b"") + len(message.key or b"")
                    add(item(message, horizons, collected))
                # Let the write in flight take its next step: PostgreSQL works meanwhile.
                await asyncio.sleep(0)
        return size

    def _item(
        self, message: ConsumerRecord, horizons: dict[str, int], collected: _Collected
    ) -> writer.Item:
        """The hot path: one message decoded, validated and judged against its window."""
        topic, partition, offset = message.topic, message.partition, message.offset
        try:
            if message.value is None:
                raise PoisonRecord("malformed", "the message has no value (a tombstone)")
            decoded = self._codec.decode(topic, message.value)
        except PoisonRecord as poison:
            key = (topic, partition, offset)
            collected.raw[key] = message
            collected.details[key] = poison.detail
            return writer.Item(topic, partition, offset, reason=poison.reason)
        table = decoded.table
        horizon = horizons.get(table)
        if horizon is not None and decoded.event_time < horizon:
            return writer.Item(topic, partition, offset)  # expired
        if table == writer.SUBSCRIBER_CHANGE:
            # An assignment may still be refused by the registry: keep it for the DLQ.
            collected.raw[(topic, partition, offset)] = message
        # tuple.__new__ directly: Item's own __new__ is a Python function (one Item a message).
        return _new_tuple(writer.Item, (topic, partition, offset, table, decoded.row,
                                        decoded.event_time, None))  # fmt: skip

    # -- writing a batch -------------------------------------------------------------------

    async def _write(self, flight: _Flight) -> bool:
        """Write a batch, retrying transient failures; False if stopping ran out of time."""
        collected = flight.collected
        assert collected is not None
        batch = collected.batch
        self._writing.append(batch)
        try:
            outcome = await self._backoffs[flight.slot].run(lambda: self._write_once(flight))
        except retry.OutOfTime:
            logger.error(
                "the batch in flight could not be written before the stop timeout; it will be "
                "read again on restart (nothing is lost, nothing is stored twice)",
                extra={"messages": len(batch)},
            )
            return False
        finally:
            self._writing.remove(batch)
            flight.collected = flight.previous = None  # no chain of batches kept alive
        self._account(collected, outcome)
        metrics.IN_FLIGHT.set(len(self._collecting or ()) + sum(len(b) for b in self._writing))
        await self._commit_to_kafka(outcome.next_offsets)
        self._update_lag()
        return True

    async def _write_once(self, flight: _Flight) -> writer.Outcome:
        """Write the batch (the caller retries transient failures). Every attempt that does
        not commit marks the flight `failed`: the batch after it, should it wait for this
        one's commit, gives up its own attempt and writes after this one has landed."""
        try:
            missing = 0
            after_previous = False
            while True:
                previous = flight.previous
                if previous is not None and (after_previous or previous.failed.is_set()):
                    # It may write its rows again and must not wait on ours: let it land.
                    assert previous.task is not None
                    if not await asyncio.shield(previous.task):
                        raise retry.OutOfTime
                try:
                    outcome = await self._attempt(flight)
                except writer.MissingPartition:
                    self._known_days.clear()  # dropped or never made since we looked
                    missing += 1
                    if missing == _MISSING_PARTITION_ATTEMPTS:
                        raise
                except writer.OffsetsRewound as rewound:
                    assert flight.collected is not None
                    self._rewind(rewound.partitions, flight.collected.batch)  # then the rest
                except (writer.Overlapped, _PreviousFailed):
                    after_previous = True  # again, once the batch before landed, claiming first
                else:
                    flight.committed.set()
                    return outcome
                flight.failed.set()
        except BaseException:
            flight.failed.set()
            raise

    async def _attempt(self, flight: _Flight) -> writer.Outcome:
        """One transaction of the batch, on the flight's connection."""
        collected = flight.collected
        assert collected is not None
        batch = collected.batch
        async with self._locks[flight.slot]:
            if not batch.items and not batch.next_offsets:
                return writer.Outcome()  # everything was revoked or rewound meanwhile
            conn = await self._connection(flight.slot, batch)
            flight.server_pid = conn.get_server_pid()
            await self._ensure_partitions(conn, batch)
            previous = flight.previous
            concurrent = previous is not None and not previous.committed.is_set()
            return await writer.write(
                conn, self._options.group, batch, codec.COLUMNS,
                functools.partial(self._dead_letter, collected), self._written,
                before_claim=functools.partial(self._rows_in, flight, conn) if concurrent else None,
            )  # fmt: skip

    @staticmethod
    async def _rows_in(flight: _Flight, conn: db.Connection) -> None:
        """The flight's rows are in: claim its offsets once the batch before has committed.

        `_PreviousFailed` if that one's attempt failed instead, or if it waits on a row of ours
        (the same event re-sent in both batches): rolling back lets it go on."""
        previous = flight.previous
        assert previous is not None
        waits = [asyncio.ensure_future(e.wait()) for e in (previous.committed, previous.failed)]
        try:
            while True:
                done, _ = await asyncio.wait(
                    waits, timeout=_GIVE_WAY_CHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if done:
                    break
                if previous.server_pid is not None:
                    async with db.translated():
                        blocking = await conn.fetchval(_BLOCKING, previous.server_pid)
                    if blocking:
                        raise _PreviousFailed
        finally:
            for wait in waits:
                wait.cancel()
        if not previous.committed.is_set():
            raise _PreviousFailed

    async def _dead_letter(
        self, collected: _Collected, letters: Sequence[writer.DeadLetter]
    ) -> None:
        if letters:
            assert self._producer is not None
            await dead_letters.produce(self._producer, letters, collected.raw, collected.details)

    def _rewind(self, partitions: set[Partition], batch: writer.Batch | None = None) -> None:
        """Commits we saw succeed are not in the database: forget what is unwritten of these
        partitions in `batch` (about to be written again) and the batch being collected, and
        read them again from their stored offsets (`_position`).

        A batch written meanwhile on the other connection is not touched: `_written` still
        holds the offsets the database is behind, so its claim finds them and it rewinds
        itself (it must not store them with a gap in front: the messages read again would lie
        below its offsets, and be skipped)."""
        assert self._consumer is not None
        logger.warning(
            "the database stands behind offsets this worker stored (PostgreSQL lost commits in "
            "a crash, or was restored from a backup): reading those partitions again from there",
            extra={"partitions": len(partitions)},
        )
        for kept in (batch, self._collecting):
            if kept is not None:
                kept.forget(partitions)
        tps = [tp for tp in self._consumer.assignment() if (tp.topic, tp.partition) in partitions]
        if tps:
            self._consumer.pause(*tps)
            self._unpositioned |= set(tps)

    async def _ensure_partitions(self, conn: db.Connection, batch: writer.Batch) -> None:
        for table, day in sorted(batch.day_partitions - self._known_days):
            await partitions.ensure(conn, table, day)
            self._known_days.add((table, day))

    def _account(self, collected: _Collected, outcome: writer.Outcome) -> None:
        batch = collected.batch
        elapsed = time.monotonic() - collected.started
        metrics.account(outcome, (t for t, _ in batch.next_offsets), elapsed)
        self.results.update(outcome.counts)
        for (topic, partition), (stored, first) in outcome.gaps.items():
            logger.warning(
                "messages missing between the stored offset and the first one fetched",
                extra={"topic": topic, "partition": partition, "stored_offset": stored,
                       "first_fetched": first},
            )  # fmt: skip
        for (topic, partition), offset in outcome.next_offsets.items():
            self._committed[TopicPartition(topic, partition)] = offset
            self._written[(topic, partition)] = offset
        self.written += len(batch) - outcome.skipped
        results: Counter[str] = Counter()
        for (_, result), count in outcome.counts.items():
            results[result] += count
        logger.debug("batch committed", extra={"messages": len(batch), **results})

    async def _commit_to_kafka(self, offsets: dict[Partition, int]) -> None:
        """Tell the broker too (for lag monitoring); the database stays the reference."""
        assert self._consumer is not None
        assignment = self._consumer.assignment()
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        wanted = {tp: o for tp, o in wanted.items() if tp in assignment}
        if not wanted:
            return
        try:
            await self._consumer.commit(wanted)
        except KafkaError as exc:
            # A rebalance in progress: harmless, the next owner starts from the database.
            logger.info("offset commit to Kafka skipped", extra={"error": type(exc).__name__})

    def _update_lag(self) -> None:
        assert self._consumer is not None
        lag: Counter[str] = Counter({topic: 0 for topic in self._options.topics})
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            committed = self._committed.get(tp)
            if highwater is not None and committed is not None:
                lag[tp.topic] += max(0, highwater - committed)
        for topic, value in lag.items():
            metrics.LAG.labels(topic=topic).set(value)

    def _idle_for_long_enough(self) -> bool:
        until = self._options.until_idle
        if until is None or self._rebalancing or self._unpositioned:
            return False
        return time.monotonic() - self._last_activity >= until

    # -- the database connection and retries -----------------------------------------------

    async def _connection(self, slot: int = 0, batch: writer.Batch | None = None) -> db.Connection:
        current = self._conns[slot]
        if current is None or current.is_closed():
            conn = await db.connect(self._store_settings.database_url.get_secret_value())
            try:
                await wire.use(conn)  # the codec's rows go out as they are
                if not self._settings.ingest_synchronous_commit:
                    # Safe: see IngestSettings.ingest_synchronous_commit and `_rewind`.
                    async with db.translated():
                        await conn.execute("SET synchronous_commit TO off")
                await self._check_written(conn, batch)
            except BaseException:
                conn.terminate()
                raise
            self._conns[slot] = current = conn
        return current

    async def _check_written(self, conn: db.Connection, batch: writer.Batch | None) -> None:
        """After a reconnection: the database may have lost commits we saw succeed (a crash
        before their WAL was on disk, a restore from a backup). Partitions still receiving
        messages would show it at their next write; this finds the quiet ones too.

        It compares with `_written` as it was when asking: a write on the other connection may
        commit meanwhile, and a partition it adds was not asked about (taking it for one the
        database lost would read it again for nothing)."""
        if not self._written:
            return
        written = dict(self._written)
        stored = await writer.stored_offsets(conn, self._options.group, written)
        behind = {key for key, ours in written.items() if stored.get(key, -1) < ours}
        if behind:
            self._rewind(behind, batch)

    def _failed(self, exc: Exception, slot: int) -> None:
        if isinstance(exc, errors.TransientStoreError):
            self._drop_connection(slot)

    def _drop_connection(self, slot: int) -> None:
        conn = self._conns[slot]
        if conn is not None:
            conn.terminate()
            self._conns[slot] = None


async def _quietly(awaitable: object) -> None:
    with contextlib.suppress(Exception):
        await awaitable  # type: ignore[misc]
