"""Retention of the event tables: which day partitions to create, which to drop, and the drop.

A partition is due for dropping when its whole day lies before `now - window` (the window of
its table's category, `StoreSettings`). Dropping never DELETEs: the partition is detached from
its table — CONCURRENTLY when this login owns the event tables (writers are not blocked at
all), otherwise through `ruaj.partition_detach` (a plain DETACH, which holds an ACCESS
EXCLUSIVE lock on the parent for a moment) — and then, in one transaction, its rows covered by
an active legal hold are copied to hold storage, it is dropped and the drop is audited
(`ruaj.partition_drop`). The plain detach and the drop run under a short `lock_timeout`, so
writers queued behind a waiting ACCESS EXCLUSIVE request are held up for at most that long; a
concurrent detach (or the FINALIZE of one a killed pass left pending) waits longer for the
transactions older than it, holding nothing a writer needs. A step that times out is retried,
and a partition still attached after every attempt is left for the next pass.

A pass that was killed can leave a partition half detached (DETACH CONCURRENTLY pending: it
is finalized) or detached but not dropped (it is dropped): the plan finds both.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import LiteralString

from store import db, errors, partitions, tables
from store.settings import StoreSettings

logger = logging.getLogger(__name__)

_STATE: LiteralString = r"""
SELECT c.relname AS name, i.inhrelid IS NOT NULL AS attached,
       coalesce(i.inhdetachpending, false) AS pending
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid
WHERE n.nspname = 'ruaj' AND c.relkind = 'r'
  AND c.relname ~ '^(cdr|sms|imei_observation|ip_session)_p[0-9]{8}$'
"""
_OWNS: LiteralString = """
SELECT bool_and(pg_has_role(current_user, c.relowner, 'USAGE'))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'ruaj' AND c.relname = ANY ($1::text[])
"""
_DETACH: LiteralString = "SELECT ruaj.partition_detach($1, $2)"
_DROP: LiteralString = "SELECT dropped_rows, held_rows FROM ruaj.partition_drop($1, $2, $3)"

# How the partition stands: attached, half detached by a DETACH CONCURRENTLY that did not
# finish, or detached (a standalone table left by a pass that stopped before the drop).
ATTACHED = "attached"
PENDING = "detach pending"
DETACHED = "detached"


@dataclass(frozen=True, slots=True, kw_only=True)
class Present:
    """A day partition that exists, and how it stands."""

    partition: partitions.Partition
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What a pass does at `now`: partitions to create, and partitions to drop with the cutoff
    of their table (the drop refuses a partition whose day ends after it)."""

    now: datetime
    create: list[partitions.Partition] = field(default_factory=list)
    drop: list[Present] = field(default_factory=list)
    cutoffs: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """A partition dropped: its rows, and how many of them went to hold storage."""

    partition: partitions.Partition
    rows: int
    held_rows: int
    attempts: int


def window(settings: StoreSettings, table: str) -> timedelta:
    """The retention window of an event table's category."""
    return timedelta(days=settings.retention_days(tables.get(table).category))


def cutoff(settings: StoreSettings, table: str, now: datetime) -> datetime:
    """`now - window`: a partition whose day ends at or before this is due for dropping."""
    return now.astimezone(UTC) - window(settings, table)


def days_ahead(settings: StoreSettings, now: datetime) -> list[date]:
    """Today and the following days for which partitions must exist."""
    today = partitions.day_of(now)
    return [today + timedelta(days=n) for n in range(settings.partitions_ahead_days + 1)]


async def present(conn: db.Connection) -> list[Present]:
    """Every day partition of the event tables, attached or not, by table and day."""
    async with db.translated():
        rows = await conn.fetch(_STATE)
    found = []
    for row in rows:
        partition = partitions.parse(row["name"])
        if partition is None:
            continue
        state = PENDING if row["pending"] else ATTACHED if row["attached"] else DETACHED
        found.append(Present(partition=partition, state=state))
    found.sort(key=lambda p: (p.partition.table, p.partition.day))
    return found


async def plan(conn: db.Connection, settings: StoreSettings, now: datetime) -> Plan:
    """What a pass at `now` does, from the partitions that exist now."""
    existing = await present(conn)
    names = {p.partition.name for p in existing}
    ahead = days_ahead(settings, now)
    result = Plan(now=now)
    for table in tables.EVENT_TABLES:
        limit = cutoff(settings, table.name, now)
        result.cutoffs[table.name] = limit
        for day in ahead:
            wanted = partitions.Partition(table=table.name, day=day)
            if wanted.name not in names:
                result.create.append(wanted)
        result.drop.extend(
            p for p in existing if p.partition.table == table.name and p.partition.end <= limit
        )
    return result


async def create(conn: db.Connection, partition: partitions.Partition) -> None:
    """Create one planned partition (no-op if someone made it meanwhile)."""
    await partitions.ensure(conn, partition.table, partition.day)


async def owns_event_tables(conn: db.Connection) -> bool:
    """Whether this login owns the event tables (it may then DETACH … CONCURRENTLY)."""
    async with db.translated():
        value: bool | None = await conn.fetchval(_OWNS, [t.name for t in tables.EVENT_TABLES])
    return bool(value)


async def _detach_concurrently(
    conn: db.Connection, partition: partitions.Partition, lock_timeout_ms: int
) -> None:
    # Not in a transaction block (PostgreSQL refuses CONCURRENTLY there): the session's
    # lock_timeout is set for the statement and reset after it.
    statement = (
        f"ALTER TABLE ruaj.{db.quote_ident(partition.table)} "
        f"DETACH PARTITION ruaj.{db.quote_ident(partition.name)} CONCURRENTLY"
    )
    async with db.translated():
        await conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        try:
            await conn.execute(statement)
        finally:
            await conn.execute("RESET lock_timeout")


async def _detach(
    conn: db.Connection, partition: partitions.Partition, lock_timeout_ms: int
) -> str:
    async with db.translated(), conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        outcome: str = await conn.fetchval(_DETACH, partition.table, partition.day)
    return outcome


async def _drop_detached(
    conn: db.Connection, partition: partitions.Partition, limit: datetime, lock_timeout_ms: int
) -> tuple[int, int]:
    async with db.translated(), conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        row = await conn.fetchrow(_DROP, partition.table, partition.day, limit)
    if row is None:
        return 0, 0  # gone already (another pass dropped it)
    return int(row["dropped_rows"]), int(row["held_rows"])


async def _state_of(conn: db.Connection, partition: partitions.Partition) -> str | None:
    for item in await present(conn):
        if item.partition == partition:
            return item.state
    return None


async def drop(
    conn: db.Connection,
    settings: StoreSettings,
    due: Present,
    limit: datetime,
    *,
    concurrently: bool,
) -> Dropped:
    """Detach (if still attached) and drop one due partition, with hold copies and audit.

    Retries a lock timeout up to `retention_drop_attempts` times, backing off; raises
    `TransientStoreError` when every attempt timed out (the next pass tries again).
    """
    attempts = settings.retention_drop_attempts
    timeout = settings.retention_lock_timeout_ms
    # DETACH CONCURRENTLY and FINALIZE take SHARE UPDATE EXCLUSIVE (no writer waits for it)
    # and then wait for every older transaction to end: they may wait longer than a lock that
    # queues writers behind it.
    waiting = settings.retention_concurrent_detach_timeout_ms
    state: str | None = due.state
    for attempt in range(1, attempts + 1):
        try:
            if state == ATTACHED and concurrently:
                await _detach_concurrently(conn, due.partition, waiting)
            elif state == PENDING:
                await _detach(conn, due.partition, waiting)  # FINALIZEs the pending detach
            elif state == ATTACHED:
                await _detach(conn, due.partition, timeout)  # plain: ACCESS EXCLUSIVE
            rows, held = await _drop_detached(conn, due.partition, limit, timeout)
            return Dropped(partition=due.partition, rows=rows, held_rows=held, attempts=attempt)
        except errors.TransientStoreError as exc:
            logger.warning(
                "partition drop attempt failed, will retry",
                extra={"partition": due.partition.name, "attempt": attempt, "error": str(exc)},
            )
            if attempt == attempts:
                raise
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
            state = await _state_of(conn, due.partition)
    raise AssertionError("unreachable: the last attempt returns or raises")
