"""Dropping an expired day partition versus DELETEing its rows, while ingestion writes.

DESIGN §8: "dropping an expired day partition never blocks ingestion for more than 100 ms".

One old day partition of `ruaj.cdr` (400 days back) is filled by SQL (`generate_series`, then
its indexes rebuilt, `VACUUM (FREEZE, ANALYZE)` and a `CHECKPOINT`: a year-old partition has
long been vacuumed and written out) with 1 M rows (`--quick` 50 k, `--events N` sets it), of
which one MSISDN (the target) is a party of 1 in 200. While an ingest loop writes today's CDRs,
each operation runs once on a freshly loaded copy of that day:

- `drop (DETACH CONCURRENTLY)`: `store.retention.drop` as `ruaj maintain` runs it for a login
  that owns the event tables — detach concurrently (under the concurrent-detach timeout: it
  blocks no writer while it waits for older transactions), then copy held rows, drop and audit
  in one transaction under the short `lock_timeout`, each step retried;
- `drop (plain DETACH)`: the same for a login that does not own them (`ruaj_maintenance`):
  `ruaj.partition_detach`, a plain DETACH with a moment of ACCESS EXCLUSIVE on `ruaj.cdr`;
- `drop under a legal hold`: the concurrent drop with an active hold on the target over that
  day, so migration 0016's copy to hold storage runs; the rows held are checked against the
  rows that name the target;
- `control`s: nothing for 400 ms (about a drop's time; once per round), the noise floor of the
  measure; and `LOCK TABLE ruaj.cdr IN ACCESS EXCLUSIVE MODE` held 200 ms, once, to show that
  the measure sees a blocking operation (its stall and lock wait should be about 200 ms);
- `DELETE`: what DESIGN §4 forbids, for comparison — one `DELETE FROM ruaj.cdr WHERE
  start_time` in that day, in one transaction; then `VACUUM` of the partition, which a DELETE
  needs before the space is reusable (timed the same way, as its own row).

Ingestion is two loops of the production write path, `store.writer.write` (rows and
offsets in one transaction), each on its own connection as two workers of one consumer group
(each its own Kafka partition): each writes a batch of 2 000 CDR rows every 100 ms, staggered
(40 000 rows/s in all, near a worker's full rate; a batch that ends late is followed at once).
With two writers a transaction is nearly always open on `ruaj.cdr`, so an operation that
queues for a lock on it holds up the other writer behind it, as in production. Each batch's
latency is the wall time of that call. Every operation has its own baseline, the batches of
the seconds before it; the batches during an operation are those whose call overlaps it, and
its *stall* is the longest of them minus the baseline median. Another connection looks at the
ingest backends in `pg_stat_activity` every 5 ms: the longest time one was seen waiting on a
table lock says whether a stall was blocking (the operation's locks) or contention (CPU,
disk, WAL on a shared machine). WAL is the maintenance backend's own (PostgreSQL 18
`pg_stat_get_backend_wal`), so the ingest's WAL is not in it. The four operations are run in
3 rounds (`--quick`: 1); each row gives the median of an operation's own figures and the
worst of ingestion's.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import LiteralString

from pydantic import SecretStr

from bench.support import Env, Report, bulk_insert, load_average, percentile
from ingest import codec
from store import db, errors, holds, partitions, retention, wire, writer
from store.settings import StoreSettings

TARGET = "38344999001"
POPULATION = 1_000_000
TARGET_EVERY = 200  # one row in this many names the target
BATCH_ROWS = 2000
INGESTERS = 2  # ingest loops, each on its own connection, as workers of one consumer group
BATCH_EVERY = 0.100  # seconds between batch starts of one loop
TARGET_STALL_MS = 100.0
_GROUP = "bench-retention"
REPEATS = 3  # rounds of the four operations (`--quick`: 1)
SAMPLE_EVERY = 0.005  # seconds between looks at the ingest backends' wait events
CONCURRENT = "drop (DETACH CONCURRENTLY)"
PLAIN = "drop (plain DETACH, not owner)"
HELD = "drop under a legal hold"
DELETE = "DELETE"
VACUUM = "VACUUM after the DELETE"
IDLE_S = 0.4  # about a drop's time
IDLE = f"control: nothing for {IDLE_S * 1000:.0f} ms"
CONTROL_BLOCK_S = 0.2
FAILED = "NOT dropped"
LOCK_TIMEOUT_MS = StoreSettings.model_fields["retention_lock_timeout_ms"].default
CONCURRENT_TIMEOUT_MS = StoreSettings.model_fields["retention_concurrent_detach_timeout_ms"].default
CONTROL = f"control: ruaj.cdr locked {CONTROL_BLOCK_S * 1000:.0f} ms"
_WARM_UP = 3  # first batches of a connection, not in any baseline

# One day's random traffic, as in bench/disclosure.py.
_DAY: LiteralString = """
INSERT INTO {partition}
SELECT gen_random_uuid(), t, t + (random() * interval '10 minutes'), 'VOICE', 'ORIGINATING',
       a, b,
       CASE WHEN random() < 0.02 THEN '38345' || lpad((random() * 999999)::int::text, 6, '0') END,
       a, '29501' || lpad((random() * 9999999999)::bigint::text, 10, '0'),
       '35693803564380' || (random() * 9)::int,
       '295-01-' || (1000 + (random() * 500)::int) || '-1', NULL, 'NORMAL_CLEARING', 'msc-1'
FROM (SELECT $1::timestamptz + (g * (interval '1 day' / $2)) AS t,
             CASE WHEN g % $4 = 0 THEN $5
                  ELSE '38344' || lpad((random() * ($3 - 1))::int::text, 6, '0') END AS a,
             '38344' || lpad((random() * ($3 - 1))::int::text, 6, '0') AS b
      FROM generate_series(0, $2 - 1) g) x
"""
_NAMING_TARGET: LiteralString = """
SELECT count(*) FROM ruaj.cdr
WHERE start_time >= $2 AND start_time < $3
  AND (calling_number = $1 OR called_number = $1 OR forwarded_to = $1 OR served_msisdn = $1)
"""
_DELETE: LiteralString = "DELETE FROM ruaj.cdr WHERE start_time >= $1 AND start_time < $2"
# What an ingest backend waits on: NULL when running on CPU, '' when idle between batches.
_WAITING: LiteralString = """
SELECT pid, CASE WHEN state <> 'active' THEN '' ELSE wait_event_type || ':' || wait_event END
       AS wait
FROM pg_stat_activity WHERE pid = ANY ($1::integer[])
"""
_BACKEND_WAL: LiteralString = "SELECT wal_bytes FROM pg_stat_get_backend_wal(pg_backend_pid())"


@dataclass(slots=True)
class Ingest:
    """The ingest loop: batches of today's CDRs through `store.writer.write`, paced."""

    conn: db.Connection
    day: date
    partition: int  # the Kafka partition its batches come from: each loop has its own
    offset: int = 0
    rng: random.Random = field(default_factory=random.Random)
    calls: list[tuple[float, float]] = field(default_factory=list)  # (start, end), perf_counter

    def _batch(self) -> writer.Batch:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        batch = writer.Batch()
        rng = self.rng
        for _ in range(BATCH_ROWS):
            at = wire.timestamp(start + timedelta(seconds=rng.random() * 86_399))
            a = f"38344{rng.randrange(POPULATION):06d}"
            row = (
                str(uuid.uuid4()), at, at + rng.randrange(600) * 1_000_000, "VOICE",
                "ORIGINATING", a, f"38344{rng.randrange(POPULATION):06d}", None, a,
                f"29501{rng.randrange(10**10):010d}", None, f"295-01-{rng.randrange(1000, 1500)}-1",
                None, "NORMAL_CLEARING", "msc-1",
            )  # fmt: skip
            batch.add(writer.Item("ruaj.cdr", self.partition, self.offset, "cdr", row, at))
            self.offset += 1
        return batch

    async def run(self, stop: asyncio.Event) -> None:
        """Write a batch every `BATCH_EVERY` seconds until `stop` is set (the loops start
        staggered, so that their batches interleave)."""

        async def nothing(_: object) -> None:
            return None

        await asyncio.sleep(BATCH_EVERY * self.partition / INGESTERS)
        while not stop.is_set():
            batch = self._batch()
            started = time.perf_counter()
            await writer.write(self.conn, _GROUP, batch, codec.COLUMNS, nothing)
            ended = time.perf_counter()
            self.calls.append((started, ended))
            pause = BATCH_EVERY - (time.perf_counter() - started)
            if pause > 0:
                try:
                    async with asyncio.timeout(pause):
                        await stop.wait()
                except TimeoutError:
                    pass

    def latencies_ms(self, lo: float, hi: float) -> list[float]:
        """Latencies of the calls that overlap [lo, hi]."""
        return [(e - s) * 1000 for s, e in self.calls if e >= lo and s <= hi]


@dataclass(slots=True)
class Sampler:
    """Looks at the ingest backends' wait events every `SAMPLE_EVERY` seconds."""

    conn: db.Connection
    pids: list[int]
    samples: list[tuple[float, int, str | None]] = field(default_factory=list)  # when, pid, wait

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until `stop` is set."""
        while not stop.is_set():
            rows = await self.conn.fetch(_WAITING, self.pids)
            at = time.perf_counter()
            self.samples += [(at, row["pid"], row["wait"]) for row in rows]
            await asyncio.sleep(SAMPLE_EVERY)

    def waits(self, lo: float, hi: float) -> str:
        """What the ingest backends were seen doing in [lo, hi] while in a batch: the share of
        samples on CPU and on its two most frequent wait events."""
        seen = Counter(w if w is not None else "CPU" for at, _, w in self.samples
                       if lo <= at <= hi and w != "")  # fmt: skip
        total = sum(seen.values())
        if not total:
            return "-"
        return ", ".join(f"{w} {n / total:.0%}" for w, n in seen.most_common(3))

    def longest_wait_ms(self, lo: float, hi: float) -> float:
        """The longest unbroken run of lock-waiting samples that overlaps [lo, hi], from its
        first waiting sample to the first sample after it that was not waiting."""
        longest = 0.0
        began: dict[int, float] = {}
        for at, pid, wait in self.samples:
            waiting = wait == "Lock:relation"  # a table lock (not extend, not a row)
            if waiting:
                began.setdefault(pid, at)
            elif pid in began:
                first = began.pop(pid)
                if at >= lo and first <= hi:
                    longest = max(longest, (at - first) * 1000)
        return longest


@dataclass(slots=True)
class Outcome:
    """What one operation did and how ingestion fared meanwhile."""

    operation: str
    rows: int
    seconds: float
    wal_bytes: int
    during_ms: list[float]
    baseline_ms: list[float]
    lock_wait_ms: float
    waits: str
    detail: str = ""

    @property
    def worst_ms(self) -> float:
        """The longest batch overlapping the operation."""
        return max(self.during_ms) if self.during_ms else 0.0

    @property
    def stall_ms(self) -> float:
        """The longest batch overlapping the operation minus the baseline median."""
        return self.worst_ms - statistics.median(self.baseline_ms)

    def as_row(self) -> dict[str, object]:
        """The report row."""
        return {
            "operation": self.operation,
            "rows": self.rows,
            "seconds": self.seconds,
            "wal_mib": self.wal_bytes / 2**20,
            "batches_during": len(self.during_ms),
            "max_batch_ms_during": self.worst_ms,
            "baseline_p50_ms": statistics.median(self.baseline_ms),
            "baseline_p99_ms": percentile(self.baseline_ms, 0.99),
            "stall_ms": self.stall_ms,
            "detail": self.detail,
        }


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _load_day(conn: db.Connection, day: date, rows: int) -> int:
    """Fill the day's partition with `rows` random calls (bulk-load style: detach, drop the
    secondary indexes, insert, rebuild them, attach), vacuum and checkpoint it; returns the
    rows that name the target."""
    name = await partitions.ensure(conn, "cdr", day)
    qualified = f"ruaj.{db.quote_ident(name)}"
    low, high = _start(day), _start(day) + timedelta(days=1)
    await bulk_insert(conn, "cdr", name, low, high, _DAY.format(partition=qualified), low, rows,
                      POPULATION, TARGET_EVERY, TARGET)  # fmt: skip
    await conn.execute(f"VACUUM (FREEZE, ANALYZE) {qualified}")
    await conn.execute("CHECKPOINT")
    naming: int = await conn.fetchval(_NAMING_TARGET, TARGET, low, high)
    return naming


async def _backend_wal(conn: db.Connection) -> int:
    """WAL bytes this backend has written (its pending statistics flushed first)."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT 1")  # the flush happens when that transaction ends
    return int(await conn.fetchval(_BACKEND_WAL))


Operation = Callable[[db.Connection], Awaitable[tuple[int, str]]]  # → (rows, detail)


async def _session(
    url: str, maint: db.Connection, today: date, steps: list[tuple[str, Operation]],
    baseline_s: float,
) -> list[Outcome]:  # fmt: skip
    """Run the ingest loops; after `baseline_s`, each step in turn (1 s apart), timed."""
    conns = [await db.connect(url) for _ in range(INGESTERS + 1)]
    sampler_conn, ingest_conns = conns[0], conns[1:]
    for conn in ingest_conns:
        await wire.use(conn)  # as the worker's: the rows carry wire timestamps
    keys = [("ruaj.cdr", n) for n in range(INGESTERS)]
    stored = await writer.stored_offsets(sampler_conn, _GROUP, keys)
    ingests = [Ingest(c, today, n, offset=stored.get(k, 0))
               for n, (c, k) in enumerate(zip(ingest_conns, keys, strict=True))]  # fmt: skip
    sampler = Sampler(sampler_conn, [c.get_server_pid() for c in ingest_conns])
    stop = asyncio.Event()
    outcomes = []

    def latencies_ms(lo: float, hi: float) -> list[float]:
        return [ms for i in ingests for ms in i.latencies_ms(lo, hi)]

    try:
        async with asyncio.TaskGroup() as group:
            loops = [group.create_task(i.run(stop)) for i in ingests]
            sampling = group.create_task(sampler.run(stop))
            try:
                await asyncio.sleep(baseline_s)
                for name, step in steps:
                    now = time.perf_counter()
                    baseline = [(e - s) * 1000 for i in ingests for s, e in i.calls[_WARM_UP:]
                                if s >= now - baseline_s]  # fmt: skip
                    wal = await _backend_wal(maint)
                    started = time.perf_counter()
                    rows, detail = await step(maint)
                    ended = time.perf_counter()
                    wal = await _backend_wal(maint) - wal
                    await asyncio.sleep(1.0)  # the batch in flight at the end, and a margin
                    during = latencies_ms(started, ended)
                    waited = sampler.longest_wait_ms(started, ended)
                    waits = sampler.waits(started, ended)
                    outcomes.append(Outcome(name, rows, ended - started, wal, during, baseline,
                                            waited, waits, detail))  # fmt: skip
                    await asyncio.sleep(max(0.0, baseline_s - 1.0))  # the next baseline
            finally:
                stop.set()
            for loop in loops:
                await loop
            await sampling
    finally:
        for conn in conns:
            await conn.close()
    return outcomes


def _drop(settings: StoreSettings, day: date, *, concurrently: bool) -> Operation:
    partition = partitions.Partition(table="cdr", day=day)
    due = retention.Present(partition=partition, state=retention.ATTACHED)

    async def step(conn: db.Connection) -> tuple[int, str]:
        limit = retention.cutoff(settings, "cdr", datetime.now(UTC))
        try:
            dropped = await retention.drop(conn, settings, due, limit, concurrently=concurrently)
        except errors.TransientStoreError:
            # What `ruaj maintain` does then: the partition is left for its next pass.
            return 0, f"{FAILED} ({settings.retention_drop_attempts} attempts timed out)"
        return dropped.rows, f"attempts {dropped.attempts}, held rows {dropped.held_rows}"

    return step


async def _finish(conn: db.Connection, settings: StoreSettings, day: date) -> None:
    """Drop the day if a drop left it (ingestion stopped: what the next pass would do)."""
    partition = partitions.Partition(table="cdr", day=day)
    for due in await retention.present(conn):
        if due.partition == partition:
            limit = retention.cutoff(settings, "cdr", datetime.now(UTC))
            await retention.drop(conn, settings, due, limit, concurrently=True)


def _delete(day: date) -> Operation:
    async def step(conn: db.Connection) -> tuple[int, str]:
        async with conn.transaction():
            status = await conn.execute(_DELETE, _start(day), _start(day) + timedelta(days=1))
        return int(status.rsplit(" ", 1)[-1]), "one statement, one transaction"

    return step


def _idle() -> Operation:
    async def step(conn: db.Connection) -> tuple[int, str]:
        await asyncio.sleep(IDLE_S)
        return 0, "the measure's noise floor: the stall of doing nothing"

    return step


def _block() -> Operation:
    async def step(conn: db.Connection) -> tuple[int, str]:
        async with conn.transaction():
            await conn.execute("LOCK TABLE ruaj.cdr IN ACCESS EXCLUSIVE MODE")
            await conn.execute(f"SELECT pg_sleep({CONTROL_BLOCK_S})")
        return 0, "the measure's check: it must see this block"

    return step


def _vacuum(day: date) -> Operation:
    name = f"ruaj.{db.quote_ident(partitions.name('cdr', day))}"

    async def step(conn: db.Connection) -> tuple[int, str]:
        await conn.execute(f"VACUUM {name}")
        return 0, "space of the deleted rows reusable (not returned to the OS)"

    return step


async def _hold(maint: db.Connection, day: date) -> int:
    """A hold on the target over `day`, traffic only; returns its id."""
    return await holds.add(
        maint, reference="BENCH-HOLD", identifiers=[holds.Identifier(kind="msisdn",
        value=TARGET)], range_from=_start(day), range_to=_start(day) + timedelta(days=1),
        expires=datetime.now(UTC) + timedelta(days=30), categories=["traffic"],
    )  # fmt: skip


async def run(env: Env) -> Report:
    """Load the day afresh before each operation; run each while ingestion writes."""
    rows = env.events or (50_000 if env.quick else 1_000_000)
    baseline_s = 3.0 if env.quick else 5.0
    repeats = 1 if env.quick else REPEATS
    report = Report("retention")
    url = await env.fresh_database("retention")
    maint = await db.connect(url)
    settings = StoreSettings(database_url=SecretStr(url))
    today = datetime.now(UTC).date()  # the ingest's rows stay in this day, past midnight too
    old = today - timedelta(days=400)
    outcomes: list[Outcome] = []
    try:
        await partitions.ensure(maint, "cdr", today)
        controls = [(IDLE, _idle())] * repeats + [(CONTROL, _block())]
        outcomes += await _session(url, maint, today, controls, baseline_s)
        for _ in range(repeats):
            for name, concurrently in ((CONCURRENT, True), (PLAIN, False)):
                await _load_day(maint, old, rows)
                step = _drop(settings, old, concurrently=concurrently)
                outcomes += await _session(url, maint, today, [(name, step)], baseline_s)
                await _finish(maint, settings, old)
            naming = await _load_day(maint, old, rows)
            hold_id = await _hold(maint, old)
            step = _drop(settings, old, concurrently=True)
            outcomes += await _session(url, maint, today, [(HELD, step)], baseline_s)
            await _finish(maint, settings, old)
            held = (await holds.held_rows(maint))["cdr"]
            if held != naming:
                raise RuntimeError(f"{held} rows held, {naming} name the held MSISDN")
            outcomes[-1].detail += f" (= the {naming:,} rows naming the MSISDN)"
            await holds.release(maint, hold_id)  # its copies erased: the next drops hold none
            await _load_day(maint, old, rows)
            steps = [(DELETE, _delete(old)), (VACUUM, _vacuum(old))]
            outcomes += await _session(url, maint, today, steps, baseline_s)
            await maint.execute(f"DROP TABLE ruaj.{partitions.name('cdr', old)}")
        ingested = await maint.fetchval("SELECT count(*) FROM ruaj.cdr WHERE start_time >= $1",
                                        _start(today))  # fmt: skip
    finally:
        await maint.close()
        await env.drop_database(url)
    names = list(dict.fromkeys(o.operation for o in outcomes))
    report.rows = [_row([o for o in outcomes if o.operation == n]) for n in names]
    _notes(report, rows, repeats, outcomes, int(ingested))
    return report


def _row(runs: list[Outcome]) -> dict[str, object]:
    """One operation's report row over its repetitions: medians of its own figures, the worst
    of ingestion's, pooled baselines."""
    baseline = [ms for o in runs for ms in o.baseline_ms]
    worst = max(runs, key=lambda o: o.stall_ms)
    return {
        "operation": runs[0].operation,
        "runs": len(runs),
        "rows": max(o.rows for o in runs),
        "seconds_median": statistics.median(o.seconds for o in runs),
        "seconds_max": max(o.seconds for o in runs),
        "wal_mib": statistics.median(o.wal_bytes for o in runs) / 2**20,
        "batches_during": sum(len(o.during_ms) for o in runs),
        "max_batch_ms_during": worst.worst_ms,
        "baseline_p50_ms": statistics.median(baseline),
        "baseline_p99_ms": percentile(baseline, 0.99),
        "stall_ms_worst": worst.stall_ms,
        "stall_ms_each": " ".join(f"{o.stall_ms:.0f}" for o in runs),
        "ingest_lock_wait_ms_max": max(o.lock_wait_ms for o in runs),
        "ingest_waits_worst_run": worst.waits,
        "detail": " | ".join(dict.fromkeys(o.detail for o in runs)),
    }


def _notes(report: Report, rows: int, repeats: int, outcomes: list[Outcome],
           ingested: int) -> None:  # fmt: skip
    for name in (CONCURRENT, PLAIN, HELD):
        runs = [o for o in outcomes if o.operation == name]
        stall = max(o.stall_ms for o in runs)
        waited = max(o.lock_wait_ms for o in runs)
        why = ""
        if stall > TARGET_STALL_MS:
            blocked = waited >= TARGET_STALL_MS / 2
            why = (
                " — blocked on a lock"
                if blocked
                else " — mostly not a lock wait: ingestion slowed down (CPU, disk)"
            )
        report.notes.append(
            f"target (a drop stalls ingestion at most {TARGET_STALL_MS:.0f} ms), {name}: "
            f"{'met' if stall <= TARGET_STALL_MS else 'NOT met'}, worst stall {stall:.0f} ms "
            f"over {len(runs)} run(s); longest lock wait of an ingest backend {waited:.0f} ms"
            f"{why}"
        )
    drops = [o for o in outcomes if o.operation in (CONCURRENT, PLAIN, HELD)]
    failed = [o for o in drops if o.detail.startswith(FAILED)]
    retried = [o for o in drops if "attempts 1," not in o.detail]
    report.notes.append(
        f"drops that needed a retry (a step hit its lock_timeout: {LOCK_TIMEOUT_MS} ms for a "
        f"plain detach or a drop, {CONCURRENT_TIMEOUT_MS} ms for a concurrent detach): "
        f"{len(retried)} of {len(drops)}; that failed every attempt (left for the next pass, "
        f"then dropped with ingestion stopped): {len(failed)}"
        + "".join(f"; {o.operation}: {o.detail}" for o in failed)
    )
    idle = [o for o in outcomes if o.operation == IDLE]
    report.notes.append(
        f"noise floor (the same measure over {IDLE_S * 1000:.0f} ms of doing nothing, "
        f"{len(idle)} times): stalls {' '.join(f'{o.stall_ms:.0f}' for o in idle)} ms"
    )
    control = next(o for o in outcomes if o.operation == CONTROL)
    report.notes.append(
        f"control (ACCESS EXCLUSIVE on ruaj.cdr for {CONTROL_BLOCK_S * 1000:.0f} ms, while "
        f"ingesting): stall {control.stall_ms:.0f} ms, lock wait seen {control.lock_wait_ms:.0f}"
        " ms — what a blocking operation looks like in these figures"
    )
    deletes = [o for o in outcomes if o.operation == DELETE]
    report.notes.append(
        f"for comparison the DELETE's worst stall was {max(o.stall_ms for o in deletes):.0f} ms"
    )
    report.notes.append(
        f"day partition of {rows:,} rows, reloaded (vacuumed, checkpointed) before each drop "
        f"and each DELETE; {repeats} round(s) of the four; ingest: {INGESTERS} loops of "
        f"{BATCH_ROWS:,}-row batches through store.writer.write, each every "
        f"{BATCH_EVERY * 1000:.0f} ms, {ingested:,} rows "
        "written in all; stall = longest batch overlapping the operation minus the median "
        "batch of the seconds before it; lock wait = an ingest backend seen waiting on a table "
        f"lock (Lock:relation) in pg_stat_activity, sampled every {SAMPLE_EVERY * 1000:.0f} ms "
        "(the longest unbroken run overlapping the operation)"
    )
    report.notes.append(
        f"shared machine: {os.cpu_count()} CPUs, PostgreSQL, this process and possibly other "
        f"benchmarks on them; load average at the end {load_average()}"
    )
