"""The write path of ingestion: a batch of consumed messages, its rows and its offsets, in one
transaction (DESIGN §3: this is what makes ingestion exactly-once in effect).

`write(conn, group, batch, before_commit)`:

1. Locks the consumer group's offset rows of every partition in the batch (in a fixed order,
   created at the batch's first offset when missing). Two workers that both hold
   a partition for a moment — a rebalance, a stalled process coming back — are serialised here,
   and messages below the stored next offset are skipped: somebody already wrote them. A
   partition stored *behind* what the caller's own commits stored (a crash lost asynchronous
   commits, or the database was restored from a backup) stops the batch with `OffsetsRewound`:
   the caller reads that partition again from there.
2. COPYs the rows of each event table (binary COPY, the fastest way in). A batch that meets an
   event already stored (a re-sent event: same `event_id`, same time) fails its COPY on the
   primary key; that table's rows are then inserted as column arrays with `INSERT … ON
   CONFLICT DO NOTHING`, which stores the new ones and counts the rest as duplicates.
   Duplicates inside one batch are removed before either path.
3. Keeps the registry (SubscriberChange rows, in event-time order, through the SECURITY
   DEFINER functions of migration 0005) and the IP-session span index.
4. Records every dead letter in `ruaj.dead_letter` (topic, partition, offset, reason — no
   payload), moves the offsets forward, calls `before_commit` with the dead letters (the caller
   produces them to the dead-letter topic and waits for the broker's acknowledgement), commits.

Rows carry their timestamps and addresses in the wire forms of `store.wire` (as `ingest.codec`
makes them): write on a connection prepared by `store.wire.use`.

Nothing here decides what is valid: the codec did. A row whose day partition is missing raises
`MissingPartition` before anything is written, so the caller creates the partitions (outside any
transaction) and writes the batch again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import LiteralString, NamedTuple

import asyncpg

from store import db, errors, registry, tables, wire

STORED = "stored"
DUPLICATE = "duplicate"
DEAD_LETTERED = "dead_lettered"
EXPIRED = "expired"
RESULTS: tuple[str, ...] = (STORED, DUPLICATE, DEAD_LETTERED, EXPIRED)

SUBSCRIBER_CHANGE = "subscriber_change"
_DAY_US = wire.DAY_US

# One COPY target per event table; the columns are the caller's (ingest.codec.COLUMNS).
_EVENT_TABLES: tuple[str, ...] = tuple(t.name for t in tables.EVENT_TABLES)
_IP_SESSION = "ip_session"

# Claims the batch's offset rows: creates the missing ones at the batch's first offsets and
# locks them all (an upsert locks the row it meets), returning where each partition stands and
# whether its row had to be created (`xmax = 0` holds for a row the statement inserted; the
# upsert's no-op update of an existing row sets xmax to this transaction).
_CLAIM: LiteralString = """
INSERT INTO ruaj.ingest_offset AS o (consumer_group, topic, partition, next_offset)
SELECT $1, x.topic, x.partition, x.first_offset
FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS x(topic, partition, first_offset)
ORDER BY x.topic, x.partition
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = o.next_offset
RETURNING o.topic, o.partition, o.next_offset, o.xmax = 0 AS created
"""
_ADVANCE: LiteralString = """
UPDATE ruaj.ingest_offset o
SET next_offset = x.next_offset, updated_at = now()
FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS x(topic, partition, next_offset)
WHERE o.consumer_group = $1 AND o.topic = x.topic AND o.partition = x.partition
  AND o.next_offset < x.next_offset
"""
_STORED_OFFSETS: LiteralString = """
SELECT o.topic, o.partition, o.next_offset
FROM ruaj.ingest_offset o
JOIN unnest($2::text[], $3::integer[]) AS x(topic, partition)
  ON o.topic = x.topic AND o.partition = x.partition
WHERE o.consumer_group = $1
"""
# A message is recorded once, whichever consumer group met it (a replay under another group
# meets the same messages). No conflict target: naming one would need SELECT, which ingest
# has not.
_DEAD_LETTER: LiteralString = """
INSERT INTO ruaj.dead_letter (topic, partition, "offset", reason)
SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[])
ON CONFLICT DO NOTHING
"""
# The column types of the 0001 event tables, for the duplicate-skipping path. It passes the
# rows as one array per column to `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`: no
# staging table (`CREATE TABLE … LIKE` would need SELECT on the event table, which ingest has
# not; a temporary table per batch would bloat the catalogue).
_TYPES: dict[str, dict[str, str]] = {
    "cdr": {
        "event_id": "uuid", "start_time": "timestamptz", "end_time": "timestamptz",
        "call_type": "text", "direction": "text", "calling_number": "text",
        "called_number": "text", "forwarded_to": "text", "served_msisdn": "text",
        "served_imsi": "text", "served_imei": "text", "cell_start": "text", "cell_end": "text",
        "end_reason": "text", "network_element": "text",
    },
    "sms": {
        "event_id": "uuid", "event_time": "timestamptz", "direction": "text", "sender": "text",
        "recipient": "text", "served_msisdn": "text", "served_imsi": "text",
        "served_imei": "text", "cell": "text", "message_type": "text",
        "delivery_status": "text", "network_element": "text",
    },
    "imei_observation": {
        "event_id": "uuid", "observed_at": "timestamptz", "imei": "text", "imsi": "text",
        "msisdn": "text", "cell": "text", "reason": "text", "network_element": "text",
    },
    "ip_session": {
        "event_id": "uuid", "session_id": "text", "status": "text", "event_time": "timestamptz",
        "session_start": "timestamptz", "session_end": "timestamptz", "msisdn": "text",
        "imsi": "text", "imei": "text", "apn": "text", "private_ip": "inet",
        "public_ip": "inet", "public_port_first": "integer", "public_port_last": "integer",
        "cell": "text", "bytes_up": "bigint", "bytes_down": "bigint",
    },
}  # fmt: skip


def _merge(table: str, names: tuple[str, ...]) -> str:
    """`INSERT … ON CONFLICT DO NOTHING` of column arrays, built from the fixed catalogue only."""
    types = _TYPES[table]
    unknown = [name for name in names if name not in types]
    if unknown or len(names) != len(types):
        raise ValueError(f"columns {names} are not those of ruaj.{table}")
    casts = ", ".join(f"${i}::{types[name]}[]" for i, name in enumerate(names, 1))
    return (
        f"INSERT INTO ruaj.{table} ({', '.join(names)}) "
        f"SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING"
    )


# PostgreSQL's words when a row has no partition to go to (SQLSTATE 23514, check_violation).
_NO_PARTITION = "no partition of relation"


class MissingPartition(errors.StoreError):
    """A row's day partition does not exist (yet, or any more): create it and write again."""


class Overlapped(errors.StoreError):
    """A batch whose rows went in before its offsets were claimed (`write`'s `before_claim`)
    holds messages stored before, by this or another worker. Nothing was written: write it
    again, claiming first (which skips them)."""

    def __init__(self, messages: int) -> None:
        super().__init__(f"{messages} message(s) of the batch were written before")


class OffsetsRewound(errors.StoreError):
    """The database stands behind offsets the caller had stored itself: commits it saw
    succeed are gone (PostgreSQL crashed before an asynchronous commit reached its WAL on disk,
    or the database was restored from a backup). Nothing was written: read those partitions
    again from their stored offsets, then write the rest of the batch."""

    def __init__(self, partitions: set[tuple[str, int]]) -> None:
        super().__init__(f"stored offsets behind this worker's own commits on {len(partitions)} "
                         "partition(s)")  # fmt: skip
        self.partitions = partitions


class Item(NamedTuple):
    """One consumed message, as the caller decided it.

    `table`, `row` (in the table's column order, values in the wire forms of `store.wire`) and
    `event_time` (the value of its partition column, a wire timestamp) are set for an event to
    store; `reason` for a dead letter; neither for an event
    that arrived already older than its retention window (`expired`: counted, stored nowhere).
    A named tuple rather than a frozen dataclass: one is made per message on the hot path, and
    a tuple is made several times faster.
    """

    topic: str
    partition: int
    offset: int
    table: str | None = None
    row: tuple[object, ...] | None = None
    event_time: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A message the batch dead-letters, and why (a codec reason or `identity_overlap`)."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass(slots=True, kw_only=True)
class Batch:
    """Messages of one or more partitions, each partition's in offset order, plus where each
    partition's consumption stands after them (`next_offsets`).

    `add` also sorts each message out as it comes — its table's rows (duplicates inside the
    batch removed), the registry's changes, the IP sessions' port-block spans (folded per
    session), the dead letters, the day partitions the rows need, the counts of what is stored
    nowhere — so that the write transaction does nothing but database work: the worker adds
    messages while the previous batch is being written, and PostgreSQL is not kept waiting for
    Python between two statements.
    """

    items: list[Item] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    first_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    rows: dict[str, list[tuple[object, ...]]] = field(
        default_factory=lambda: {t: [] for t in _EVENT_TABLES}
    )
    topic_of: dict[str, str] = field(default_factory=dict)  # event table → its topic
    changes: list[Item] = field(default_factory=list)  # subscriber changes
    spans: registry.SessionSpans = field(default_factory=registry.SessionSpans)  # ip_session
    dead: list[Item] = field(default_factory=list)
    days: set[tuple[str, int]] = field(default_factory=set)  # table, days since 2000-01-01
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # expired, duplicate
    _seen: dict[object, int] = field(default_factory=dict)  # event_id → event time
    _seen_more: set[tuple[object, int]] = field(default_factory=set)

    @classmethod
    def of(cls, items: Iterable[Item]) -> Batch:
        """A batch of `items`, added in order."""
        batch = cls()
        for item in items:
            batch.add(item)
        return batch

    def add(self, item: Item) -> None:
        """Append one message (in its partition's offset order)."""
        topic, partition, offset, table, row, event_time, reason = item  # one unpack, not seven
        key = (topic, partition)
        self.items.append(item)
        self.first_offsets.setdefault(key, offset)
        self.next_offsets[key] = offset + 1
        if table is None:
            if reason is None:
                self.counts[(topic, EXPIRED)] += 1
            else:
                self.dead.append(item)
            return
        if table == SUBSCRIBER_CHANGE:
            if row is not None:
                self.changes.append(item)
            return
        rows = self.rows.get(table)
        if rows is None or row is None or event_time is None:
            return
        # The primary key, (event_id, event time): a re-sent event repeats both. Kept as
        # event_id → time, no tuple a message for the garbage collector to scan; an event_id
        # met again at another time (not a re-sent event) goes to `_seen_more`.
        event_id = row[0]
        known = self._seen.get(event_id)
        if known is None:
            self._seen[event_id] = event_time
        elif known == event_time or (event_id, event_time) in self._seen_more:
            self.counts[(topic, DUPLICATE)] += 1
            return
        else:
            self._seen_more.add((event_id, event_time))
        rows.append(row)
        self.topic_of[table] = topic
        self.days.add((table, event_time // _DAY_US))
        if table == _IP_SESSION:
            self.spans.add(row)

    def forget(self, gone: set[tuple[str, int]]) -> None:
        """Drop the messages of partitions in `gone` (no longer this worker's)."""
        if not any(key in gone for key in self.next_offsets):
            return
        kept = Batch.of(i for i in self.items if (i.topic, i.partition) not in gone)
        for f in fields(Batch):
            setattr(self, f.name, getattr(kept, f.name))

    @property
    def day_partitions(self) -> set[tuple[str, date]]:
        """The (table, UTC day) partitions the batch's rows go to."""
        return {(table, wire.day(number * _DAY_US)) for table, number in self.days}

    def __len__(self) -> int:
        return len(self.items)


@dataclass(slots=True, kw_only=True)
class Outcome:
    """What a committed batch did."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, result) → n
    dead_letters: list[DeadLetter] = field(default_factory=list)
    skipped: int = 0  # below the stored offset: written before, by this or another worker
    gaps: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


BeforeCommit = Callable[[Sequence[DeadLetter]], Awaitable[None]]


async def stored_offsets(
    conn: db.Connection, group: str, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The next offset stored for each (topic, partition) of `group` that has one."""
    keys = sorted(set(partitions))
    if not keys:
        return {}
    async with db.translated():
        rows = await conn.fetch(_STORED_OFFSETS, group, [k[0] for k in keys], [k[1] for k in keys])
    return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}


async def write(
    conn: db.Connection,
    group: str,
    batch: Batch,
    columns: dict[str, tuple[str, ...]],
    before_commit: BeforeCommit,
    written: Mapping[tuple[str, int], int] | None = None,
    *,
    before_claim: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Write `batch` and its offsets in one transaction (see the module docstring).

    `columns[table]` names the row layout of each table; `written[partition]` is the next
    offset the caller's own earlier commits stored, where it knows one. Raises
    `MissingPartition` (nothing written: create the partitions, then call again),
    `OffsetsRewound` (nothing written: the stored offsets of some partitions are behind
    `written`), `TransientStoreError` (retry), or `StoreError`. `Outcome.gaps` names partitions
    whose first message lies beyond the stored offset (messages the broker no longer has).

    With `before_claim`, the event rows go in first, then `before_claim()` is awaited, then the
    offsets are claimed: a caller writing the next batch on a second connection lets its COPY
    run while the batch before commits, and makes `before_claim` wait for that commit (the
    claim would wait on the offset rows anyway; the registry and the span index must see the
    batch before). Should the claim then show that some of the rows were written before
    (another worker took the partition meanwhile), `Overlapped` is raised and nothing is
    written: call again without `before_claim`.
    """
    outcome = Outcome()
    keys = sorted(batch.next_offsets)
    topics = [k[0] for k in keys]
    numbers = [k[1] for k in keys]
    firsts = [batch.first_offsets[k] for k in keys]
    try:
        async with db.translated(), conn.transaction():
            if before_claim is not None:
                await _store_events(conn, batch, columns, outcome)
                await before_claim()
            claimed = await conn.fetch(_CLAIM, group, topics, numbers, firsts)
            stored = {(row["topic"], row["partition"]): row["next_offset"] for row in claimed}
            if written:
                _check_not_rewound(claimed, written)
            fresh = _fresh(batch, stored, outcome)
            if before_claim is None:
                await _store_events(conn, fresh, columns, outcome)
            elif fresh is not batch:
                raise Overlapped(len(batch) - len(fresh))
            outcome.counts.update(fresh.counts)
            await _apply_registry(conn, fresh, outcome)
            dead = [
                DeadLetter(topic=i.topic, partition=i.partition, offset=i.offset, reason=i.reason)
                for i in fresh.dead
                if i.reason is not None
            ]
            dead += outcome.dead_letters
            for letter in dead:
                outcome.counts[(letter.topic, DEAD_LETTERED)] += 1
            outcome.dead_letters = dead
            if dead:
                await conn.execute(
                    _DEAD_LETTER,
                    [d.topic for d in dead],
                    [d.partition for d in dead],
                    [d.offset for d in dead],
                    [d.reason for d in dead],
                )
            await conn.execute(
                _ADVANCE, group, topics, numbers, [batch.next_offsets[k] for k in keys]
            )
            outcome.next_offsets = {k: max(batch.next_offsets[k], stored.get(k, 0)) for k in keys}
            await before_commit(dead)
    except errors.StoreError as exc:
        if _NO_PARTITION in str(exc):
            raise MissingPartition(str(exc)) from exc
        raise
    return outcome


def _check_not_rewound(
    claimed: Sequence[asyncpg.Record], written: Mapping[tuple[str, int], int]
) -> None:
    """Raise `OffsetsRewound` for partitions stored behind the caller's own commits (or not
    stored at all: the claim had to create their row)."""
    rewound = set()
    for row in claimed:
        key = (row["topic"], row["partition"])
        ours = written.get(key)
        if ours is not None and (row["created"] or row["next_offset"] < ours):
            rewound.add(key)
    if rewound:
        raise OffsetsRewound(rewound)


def _fresh(batch: Batch, stored: dict[tuple[str, int], int], outcome: Outcome) -> Batch:
    """The part of `batch` not yet written (at or above each partition's stored offset)."""
    if all(first >= stored.get(key, 0) for key, first in batch.first_offsets.items()):
        # The usual case: nobody wrote any of it before (partitions' messages come in order).
        for key, offset in batch.first_offsets.items():
            if key in stored and offset > stored[key]:
                outcome.gaps[key] = (stored[key], offset)
        return batch
    fresh = Batch()
    for item in batch.items:
        if item.offset < stored.get((item.topic, item.partition), 0):
            outcome.skipped += 1
        else:
            fresh.add(item)
    for key, offset in fresh.first_offsets.items():
        if key in stored and offset > stored[key]:
            outcome.gaps[key] = (stored[key], offset)
    return fresh


async def _store_events(
    conn: db.Connection,
    batch: Batch,
    columns: dict[str, tuple[str, ...]],
    outcome: Outcome,
) -> None:
    """COPY each event table's rows; the duplicate-skipping path for a table that meets one."""
    # One topic feeds one table (ingest.codec.TOPICS): a table's counts are its topic's.
    for table in _EVENT_TABLES:
        rows = batch.rows[table]
        if not rows:
            continue
        stored = await _copy(conn, table, rows, columns[table])
        topic = batch.topic_of[table]
        outcome.counts[(topic, STORED)] += stored
        outcome.counts[(topic, DUPLICATE)] += len(rows) - stored


async def _copy(
    conn: db.Connection, table: str, rows: list[tuple[object, ...]], names: tuple[str, ...]
) -> int:
    """Store `rows` in `table`; returns how many were new (the rest were stored before)."""
    try:
        async with conn.transaction():  # a savepoint: a failed COPY leaves the batch intact
            await conn.copy_records_to_table(table, schema_name="ruaj", columns=names, records=rows)
        return len(rows)
    except asyncpg.UniqueViolationError:
        pass
    arrays = [list(column) for column in zip(*rows, strict=True)]
    status = await conn.execute(_merge(table, names), *arrays)
    return int(status.rsplit(" ", 1)[-1])


async def _apply_registry(conn: db.Connection, batch: Batch, outcome: Outcome) -> None:
    """Subscriber changes in event-time order; the span index from IP-session rows."""
    changes = batch.changes
    if changes:
        # Stable: events of one instant keep their partition order.
        changes = sorted(changes, key=lambda i: 0 if i.event_time is None else i.event_time)
        results = await registry.apply_changes(conn, [i.row for i in changes if i.row])
        for item, result in zip(changes, results, strict=True):
            if result in (STORED, DUPLICATE):
                outcome.counts[(item.topic, result)] += 1
            else:
                outcome.dead_letters.append(
                    DeadLetter(
                        topic=item.topic, partition=item.partition, offset=item.offset,
                        reason=result,
                    )
                )  # fmt: skip
    if batch.spans:
        await batch.spans.apply(conn)
