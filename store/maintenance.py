"""The steps of a `ruaj maintain` pass and the context they share (contract 2 of the brief).

A pass runs a list of named steps in order, each `async def step(ctx) -> None`. A step that
fails is logged and counted (`ruaj_maintenance_step_failures_total{step}`) and the next one
still runs: above all, a drop that cannot get its lock never stops partitions from being
created. Steps honour `ctx.dry_run` (say what they would do through `ctx.report`, change
nothing) and act as if the time were `ctx.now`.

The store's own steps are here: `partitions` (create the coming days), `holds` (expire holds
whose time is up), `retention` (drop expired partitions), `subscribers` (erase subscribers
whose contract ended longer ago than their window), `session_spans` (prune the IP-attribution
index of sessions whose records are gone) and `store_metrics`. Other packages add theirs in
`ruaj/commands/maintain.py` (the audit checkpoint, the dead-letter topic).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import prometheus_client

from store import audit, db, errors, holds, orders, partitions, registry, retention, tables
from store.settings import StoreSettings

logger = logging.getLogger(__name__)

# Metrics of DESIGN §7 that the maintenance service exports, in a registry of its own (which
# `ruaj maintain` serves, and other packages' maintenance metrics join): a process exports only
# the metrics of the service it runs.
REGISTRY = prometheus_client.CollectorRegistry()
prometheus_client.ProcessCollector(registry=REGISTRY)
prometheus_client.PlatformCollector(registry=REGISTRY)
prometheus_client.GCCollector(registry=REGISTRY)
PARTITIONS = prometheus_client.Gauge(
    "ruaj_store_partitions",
    "Day partitions attached to each event table",
    ["table"],
    registry=REGISTRY,
)
OLDEST_PARTITION = prometheus_client.Gauge(
    "ruaj_store_oldest_partition_timestamp_seconds",
    "Start of the oldest attached day partition of each event table (Unix time)",
    ["table"],
    registry=REGISTRY,
)
NEWEST_PARTITION = prometheus_client.Gauge(
    "ruaj_store_newest_partition_timestamp_seconds",
    "Start of the newest attached day partition of each event table (Unix time): partitions "
    "exist up to a day after it",
    ["table"],
    registry=REGISTRY,
)
RETENTION_WINDOW = prometheus_client.Gauge(
    "ruaj_retention_window_seconds",
    "The retention window of each event table's category (RUAJ_RETENTION_*_DAYS)",
    ["table"],
    registry=REGISTRY,
)
DROPPED = prometheus_client.Counter(
    "ruaj_retention_partitions_dropped_total",
    "Expired day partitions dropped",
    ["table"],
    registry=REGISTRY,
)
DROP_FAILURES = prometheus_client.Counter(
    "ruaj_retention_drop_failures_total",
    "Partition drops given up for this pass (retried on the next)",
    ["table"],
    registry=REGISTRY,
)
CREATED = prometheus_client.Counter(
    "ruaj_store_partitions_created_total",
    "Day partitions created ahead",
    ["table"],
    registry=REGISTRY,
)
LAST_RUN = prometheus_client.Gauge(
    "ruaj_retention_last_run_timestamp_seconds",
    "When the last maintenance pass finished its retention step without failure (Unix time)",
    registry=REGISTRY,
)
HOLDS_ACTIVE = prometheus_client.Gauge(
    "ruaj_legal_holds_active", "Legal holds in force", registry=REGISTRY
)
AUDIT_ENTRIES = prometheus_client.Gauge(
    "ruaj_audit_entries", "Entries in the audit log", registry=REGISTRY
)
LAST_CHECKPOINT = prometheus_client.Gauge(
    "ruaj_audit_last_checkpoint_timestamp_seconds",
    "When the newest signed audit checkpoint was written (Unix time)",
    registry=REGISTRY,
)
LAST_CHECKPOINT_ENTRIES = prometheus_client.Gauge(
    "ruaj_audit_last_checkpoint_entries",
    "Entries of the audit log that the newest signed checkpoint covers (its tree size)",
    registry=REGISTRY,
)
SUBSCRIBERS_ERASED = prometheus_client.Counter(
    "ruaj_registry_subscribers_erased_total",
    "Subscribers erased with their identity history, their contract having ended longer ago "
    "than the subscriber-data window",
    registry=REGISTRY,
)
SPANS_PRUNED = prometheus_client.Counter(
    "ruaj_registry_session_spans_pruned_total",
    "IP-attribution spans removed because retention dropped the records of their session",
    registry=REGISTRY,
)
STEP_FAILURES = prometheus_client.Counter(
    "ruaj_maintenance_step_failures_total",
    "Maintenance steps that failed",
    ["step"],
    registry=REGISTRY,
)
STEP_DURATION = prometheus_client.Histogram(
    "ruaj_maintenance_step_duration_seconds",
    "Time each maintenance step took",
    ["step"],
    registry=REGISTRY,
)

# Every table appears from the start (zero), so `increase()` over drops has a series to work on.
for _table in tables.EVENT_TABLES:
    for _counter in (DROPPED, DROP_FAILURES, CREATED):
        _counter.labels(_table.name)


@dataclass(slots=True, kw_only=True)
class Context:
    """What every step of one pass gets.

    `now` is the pass's clock (`--now`, or the wall clock); `report` prints one line of what is
    done or, with `dry_run`, what would be done.
    """

    now: datetime
    dry_run: bool
    settings: StoreSettings
    pool: db.Pool
    report: Callable[[str], None]

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[db.Connection]:
        """A connection from the pool for the length of the block."""
        async with db.translated(), self.pool.acquire() as proxy:
            # The pool hands out a proxy that behaves as the connection it wraps.
            yield cast(db.Connection, proxy)


Step = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NamedStep:
    """A step and the name it is logged and counted under."""

    name: str
    run: Step


@dataclass(slots=True)
class PassOutcome:
    """Which steps of a pass failed."""

    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every step succeeded."""
        return not self.failed


async def run_pass(ctx: Context, steps: Sequence[NamedStep]) -> PassOutcome:
    """Run every step in order; a failure is logged and counted, and the next step runs."""
    outcome = PassOutcome()
    for step in steps:
        STEP_FAILURES.labels(step.name)  # a series per step from its first pass, for increase()
        started = time.monotonic()
        try:
            await step.run(ctx)
        except Exception:
            # Counted and logged, never hidden: the pass goes on so that one broken step
            # (a drop that cannot get its lock) does not stop the others.
            STEP_FAILURES.labels(step.name).inc()
            logger.exception("maintenance step failed", extra={"step": step.name})
            outcome.failed.append(step.name)
        finally:
            STEP_DURATION.labels(step.name).observe(time.monotonic() - started)
    return outcome


# -- The store's steps --------------------------------------------------------------------------


async def create_partitions(ctx: Context) -> None:
    """Create the partitions of today and the coming `partitions_ahead_days` days."""
    async with ctx.connection() as conn:
        planned = await retention.plan(conn, ctx.settings, ctx.now)
        for partition in planned.create:
            if ctx.dry_run:
                ctx.report(f"would create {partition.name}")
                continue
            await retention.create(conn, partition)
            CREATED.labels(partition.table).inc()
            ctx.report(f"created {partition.name}")


async def expire_holds(ctx: Context) -> None:
    """Expire the holds whose expiry is at or before `now` (their copies are erased)."""
    async with ctx.connection() as conn:
        if ctx.dry_run:
            for hold in await holds.list_holds(conn):
                if hold.expires_at <= ctx.now:
                    ctx.report(f"would expire hold {hold.hold_id} ({hold.reference})")
            return
        for hold_id in await holds.expire(conn, ctx.now):
            ctx.report(f"expired hold {hold_id}")


async def drop_expired(ctx: Context) -> None:
    """Drop every partition whose whole day lies before `now - window`.

    Every due partition is tried even when one fails; the step fails (and is counted) after
    the others were tried if any of them could not be dropped.
    """
    failed: list[str] = []
    async with ctx.connection() as conn:
        planned = await retention.plan(conn, ctx.settings, ctx.now)
        concurrently = await retention.owns_event_tables(conn)
        for due in planned.drop:
            partition = due.partition
            if ctx.dry_run:
                ctx.report(f"would drop {partition.name} ({due.state})")
                continue
            limit = planned.cutoffs[partition.table]
            try:
                dropped = await retention.drop(
                    conn, ctx.settings, due, limit, concurrently=concurrently
                )
            except Exception:
                DROP_FAILURES.labels(partition.table).inc()
                logger.exception("partition drop failed", extra={"partition": partition.name})
                failed.append(partition.name)
                continue
            DROPPED.labels(partition.table).inc()
            ctx.report(
                f"dropped {partition.name}: {dropped.rows} rows, "
                f"{dropped.held_rows} kept under hold"
            )
    if failed:
        raise errors.PartitionDropFailed(failed)
    if not ctx.dry_run:
        LAST_RUN.set(time.time())


def erasure_horizon(settings: StoreSettings, now: datetime) -> datetime:
    """`now - the subscriber window`: a contract that ended at or before this is erased."""
    return now - timedelta(days=settings.retention_subscriber_days)


def _subscribers(n: int) -> str:
    return f"{n} subscriber" if n == 1 else f"{n} subscribers"


async def erase_subscribers(ctx: Context) -> None:
    """Erase every subscriber whose contract ended at or before `now - window`.

    KYC data, identity history and change log go, each erasure audited by digest (store
    `registry.erase`), in batches of `registry_erasure_batch_size`, one transaction each: a
    failure loses at most the batch in flight, which the next pass erases. Progress is
    reported per batch, as counts only.
    """
    horizon = erasure_horizon(ctx.settings, ctx.now)
    batch = ctx.settings.registry_erasure_batch_size
    async with ctx.connection() as conn:
        due = await registry.erasure_due_count(conn, horizon)
        if ctx.dry_run:
            ctx.report(
                f"would erase {_subscribers(due)} whose contract ended on or before "
                f"{horizon.isoformat()}"
            )
            return
        erased = 0
        while True:
            async with conn.transaction():
                done = 0
                for subscriber_id, _ in await registry.erasure_due(conn, horizon, batch):
                    if await registry.erase(conn, subscriber_id, horizon) is not None:
                        done += 1
            if done == 0:
                break  # nothing (more) due, or what was due is no longer
            erased += done
            SUBSCRIBERS_ERASED.inc(done)
            ctx.report(f"erased {_subscribers(erased)} of {max(due, erased)} due")
    if erased == 0:
        ctx.report(f"no subscriber due for erasure (contract ended on or before "
                   f"{horizon.isoformat()})")  # fmt: skip


async def prune_session_spans(ctx: Context) -> None:
    """Remove the IP-attribution spans of sessions whose records retention has dropped.

    A span goes when its session's last record is older than both the start of the oldest
    day the IP-session window keeps and the oldest ip_session partition still there: records
    of a partition whose drop failed stay attributable until it is dropped.
    """
    limit = retention.cutoff(ctx.settings, "ip_session", ctx.now)
    before = partitions.Partition(table="ip_session", day=partitions.day_of(limit)).start
    async with ctx.connection() as conn:
        present = await retention.present(conn)
        kept = [p.partition.start for p in present if p.partition.table == "ip_session"]
        if kept:
            before = min(before, kept[0])
        if ctx.dry_run:
            ctx.report(f"would prune IP session spans last seen before {before.isoformat()}")
            return
        pruned = await registry.prune_session_spans(conn, before)
    SPANS_PRUNED.inc(pruned)
    ctx.report(f"pruned {pruned} IP session spans last seen before {before.isoformat()}")


async def expire_orders(ctx: Context) -> None:
    """Move every open order past its validity to `expired` (each audited by the database).

    The database decides by its own clock, never by `--now`: nobody may expire an order early
    or keep one alive.
    """
    async with ctx.connection() as conn:
        if ctx.dry_run:
            due = await orders.expire_due(conn)
            ctx.report(f"would expire {due} order(s) past their validity (the database's clock)")
            return
        expired = await orders.expire(conn)
    if expired:
        ctx.report(f"expired {len(expired)} order(s) past their validity: "
                   f"{', '.join(map(str, expired))}")  # fmt: skip


async def refresh_metrics(ctx: Context) -> None:
    """Partitions per table, the oldest and the newest one, the window, holds in force, audit
    entries."""
    async with ctx.connection() as conn:
        for table in tables.EVENT_TABLES:
            RETENTION_WINDOW.labels(table.name).set(
                retention.window(ctx.settings, table.name).total_seconds()
            )
            days = await partitions.list_days(conn, table.name)
            PARTITIONS.labels(table.name).set(len(days))
            if days:
                OLDEST_PARTITION.labels(table.name).set(days[0].start.timestamp())
                NEWEST_PARTITION.labels(table.name).set(days[-1].start.timestamp())
            else:  # no partition: no oldest or newest, rather than a stale one
                for gauge in (OLDEST_PARTITION, NEWEST_PARTITION):
                    with contextlib.suppress(KeyError):
                        gauge.remove(table.name)
        HOLDS_ACTIVE.set(await holds.active_count(conn))
        AUDIT_ENTRIES.set(await audit.next_index(conn))


STORE_STEPS: tuple[NamedStep, ...] = (
    NamedStep("partitions", create_partitions),
    NamedStep("holds", expire_holds),
    NamedStep("retention", drop_expired),
    NamedStep("subscribers", erase_subscribers),
    NamedStep("session_spans", prune_session_spans),
    NamedStep("orders", expire_orders),
    NamedStep("store_metrics", refresh_metrics),
)


# One pass at a time per database: two passes dropping the same partition would only fail,
# but two DETACH CONCURRENTLY of one table wait for each other.
_PASS_LOCK = 0x7275616D  # "ruam"


@contextlib.asynccontextmanager
async def exclusive_pass(pool: db.Pool, *, wait: bool) -> AsyncIterator[bool]:
    """Hold the database's maintenance lock for one pass; yields whether it was obtained.

    With `wait`, waits for a pass that runs elsewhere to finish (logging that it does);
    without, yields False at once when another pass holds it.
    """
    async with db.translated(), pool.acquire() as conn:
        got: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", _PASS_LOCK)
        if not got and wait:
            logger.info("another maintenance pass is running; waiting for it to finish")
            await conn.execute("SELECT pg_advisory_lock($1)", _PASS_LOCK)
            got = True
        try:
            yield got
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock($1)", _PASS_LOCK)
