"""One MSISDN's traffic over 90 days through the guarded function, at growing table sizes.

DESIGN §8: "one MSISDN's traffic over 90 days with 50 M CDR rows loaded: p95 < 100 ms".

The CDR table is filled with SQL (`generate_series`, one INSERT per day partition) over 100
days: a population of 1 M MSISDNs calling each other at random, plus one heavy user (the
target) with about 12 calls a day as caller, callee, forwarded-to party or served third party.
At each size the same request is timed side by side:

- `guarded`: `ruaj.disclose_traffic_data` as an officer login, as `ruaj order execute` runs it
  (scope checks, live rows UNION held rows, the read recorded and audited), each call in its own
  transaction, rolled back so every call sees the same state;
- `raw`: the same rows by the same OR-of-party-columns query as the superuser, without checks,
  hold storage or audit: what the guard costs on top.

Sizes (rows loaded, cumulative): 2 M, 6 M, 15 M by default; `--events N` sets the largest
(the others are N/7.5 and N/2.5); `--quick` 60 k, 180 k, 450 k. The database runs on the
same machine as everything else; its cache is warm after the first calls (warm-up calls are
not timed), which is how a busy disclosure desk meets it.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import LiteralString
from urllib.parse import urlsplit, urlunsplit

from bench.support import Env, Report, bulk_insert, percentile
from ruaj import progress
from store import db, partitions

DAYS = 100
POPULATION = 1_000_000
TARGET = "38344999001"
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=DAYS)
WINDOW = (END - timedelta(days=90), END)
TARGET_PER_DAY = 12
CALLS = 40  # timed calls per size and kind

# One day's random traffic: calling and called numbers drawn from the population; the served
# party is the caller; a few calls are forwarded.
_DAY: LiteralString = """
INSERT INTO ruaj.cdr
SELECT gen_random_uuid(), t, t + (random() * interval '10 minutes'), 'VOICE', 'ORIGINATING',
       a, b,
       CASE WHEN random() < 0.02 THEN '38345' || lpad((random() * 999999)::int::text, 6, '0') END,
       a, '29501' || lpad((random() * 9999999999)::bigint::text, 10, '0'),
       '35693803564380' || (random() * 9)::int,
       '295-01-' || (1000 + (random() * 500)::int) || '-1', NULL, 'NORMAL_CLEARING', 'msc-1'
FROM (SELECT $1::timestamptz + (g * (interval '1 day' / $2)) AS t,
             '38344' || lpad((random() * ($3 - 1))::int::text, 6, '0') AS a,
             '38344' || lpad((random() * ($3 - 1))::int::text, 6, '0') AS b
      FROM generate_series(0, $2 - 1) g) x
"""
# The target's own calls of that day, in each role.
_TARGET_DAY: LiteralString = """
INSERT INTO ruaj.cdr
SELECT gen_random_uuid(), t, t + interval '3 minutes', 'VOICE', 'ORIGINATING',
       CASE WHEN g % 4 = 0 THEN $3 ELSE '38344' || lpad(g::text, 6, '0') END,
       CASE WHEN g % 4 = 1 THEN $3 ELSE '38344' || lpad((g + 7)::text, 6, '0') END,
       CASE WHEN g % 4 = 2 THEN $3 END,
       CASE WHEN g % 4 = 3 THEN $3 ELSE '38344' || lpad(g::text, 6, '0') END,
       '295010000000001', '356938035643809', '295-01-1001-1', NULL, 'NORMAL_CLEARING', 'msc-1'
FROM (SELECT $1::timestamptz + (g * (interval '1 day' / $2)) + interval '17 seconds' AS t, g
      FROM generate_series(0, $2 - 1) g) x
"""
_ORDER: LiteralString = """
WITH o AS (
    INSERT INTO ruaj.disclosure_order (order_hash, order_reference, state, document, signature,
                                       valid_from, valid_until, recipient_agency)
    VALUES (sha256('bench'::bytea), 'BENCH-1', 'approved', 'bench'::bytea, 'sig'::bytea,
            now() - interval '1 day', now() + interval '30 days', 'Bench Agency')
    RETURNING order_id)
INSERT INTO ruaj.order_task (order_id, task_id, task_type, identifier_kind, identifier_value,
                             range_from, range_to)
SELECT order_id, 't1', 'traffic_data', 'msisdn', $1, $2, $3 FROM o
RETURNING order_id
"""
_GUARDED: LiteralString = "SELECT * FROM ruaj.disclose_traffic_data($1, 't1', $2, $3, $4)"
_RAW: LiteralString = """
SELECT c.* FROM ruaj.cdr c
WHERE c.start_time >= $2 AND c.start_time < $3
  AND (c.calling_number = $1 OR c.called_number = $1 OR c.forwarded_to = $1
       OR c.served_msisdn = $1)
ORDER BY c.start_time, c.event_id
"""
_OFFICER = "bench_officer"


def _sizes(env: Env) -> list[int]:
    if env.quick:
        return [60_000, 180_000, 450_000]
    largest = env.events or 15_000_000
    return [int(largest / 7.5), int(largest / 2.5), largest]


async def _grow_day(conn: db.Connection, day: datetime, rows: int) -> None:
    """Add `rows` random calls to one day's partition, bulk-load style (`support.bulk_insert`)."""
    name = partitions.name("cdr", day.date())
    insert = _DAY.replace("INSERT INTO ruaj.cdr", f"INSERT INTO ruaj.{db.quote_ident(name)}")
    await bulk_insert(conn, "cdr", name, day, day + timedelta(days=1), insert, day, rows,
                      POPULATION)  # fmt: skip


async def _grow(conn: db.Connection, have: int, want: int, shown: progress.Progress) -> int:
    """Add random traffic, spread evenly over the days, until the table holds `want` rows."""
    per_day = (want - have) // DAYS
    for day in range(DAYS):
        await _grow_day(conn, START + timedelta(days=day), per_day)
        shown.set(have + per_day * (day + 1))
    return have + per_day * DAYS


async def _timed(
    conn: db.Connection, query: LiteralString, *args: object
) -> tuple[list[float], int]:
    """Milliseconds per call (each in a rolled-back transaction) and the rows of the last."""
    times, rows = [], 0
    for i in range(CALLS + 3):
        transaction = conn.transaction()
        await transaction.start()
        try:
            started = time.perf_counter()
            result = await conn.fetch(query, *args)
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            await transaction.rollback()
        if i >= 3:  # warm-up calls are not timed
            times.append(elapsed)
        rows = len(result)
    return times, rows


async def run(env: Env) -> Report:
    """Load, then time guarded and raw queries at each size."""
    report = Report("disclosure")
    url = await env.fresh_database("disclosure")
    admin = await db.connect(url)
    officer: db.Connection | None = None
    try:
        await admin.execute(f"CREATE ROLE {_OFFICER} LOGIN IN ROLE ruaj_officer")
        for day in range(DAYS + 1):
            await partitions.ensure(admin, "cdr", (START + timedelta(days=day)).date())
        for day in range(DAYS):
            await admin.execute(_TARGET_DAY, START + timedelta(days=day), TARGET_PER_DAY, TARGET)
        order_id = await admin.fetchval(_ORDER, TARGET, *WINDOW)
        officer = await db.connect(urlunsplit(urlsplit(url)._replace(
            netloc=f"{_OFFICER}@{urlsplit(url).netloc.rpartition('@')[2]}")))  # fmt: skip
        have = TARGET_PER_DAY * DAYS
        sizes = _sizes(env)
        shown = progress.Progress("loading CDR rows", sizes[-1])
        try:
            for size in sizes:
                loading = time.perf_counter()
                have = await _grow(admin, have, size, shown)
                loaded_s = time.perf_counter() - loading
                await admin.execute("ANALYZE ruaj.cdr")
                guarded, rows = await _timed(officer, _GUARDED, order_id, TARGET, *WINDOW)
                raw, raw_rows = await _timed(admin, _RAW, TARGET, *WINDOW)
                assert rows == raw_rows, (rows, raw_rows)
                for kind, times in (("guarded", guarded), ("raw", raw)):
                    report.rows.append({
                        "cdr_rows": have, "query": kind, "rows_returned": rows,
                        "p50_ms": statistics.median(times), "p95_ms": percentile(times, 0.95),
                        "p99_ms": percentile(times, 0.99), "max_ms": max(times),
                        "load_seconds": round(loaded_s, 1),
                    })  # fmt: skip
        finally:
            shown.close()
        largest = [r for r in report.rows if r["cdr_rows"] == have]
        guarded_p95 = next(r["p95_ms"] for r in largest if r["query"] == "guarded")
        raw_p95 = next(r["p95_ms"] for r in largest if r["query"] == "raw")
        report.notes.append(
            f"target p95 < 100 ms at {have:,} rows: guarded p95 {guarded_p95:.1f} ms "
            f"({'met' if guarded_p95 < 100 else 'NOT met'}); raw query p95 {raw_p95:.1f} ms, so "
            f"the guard (checks, hold storage, audit entry) adds {guarded_p95 - raw_p95:.1f} ms"
        )
        report.notes.append(
            f"{DAYS} day partitions; {TARGET_PER_DAY} target calls a day; {CALLS} timed calls "
            "per size and kind after 3 untimed; the machine is shared (2 cores, other work "
            "running), so compare the rows side by side"
        )
    finally:
        if officer is not None:
            await officer.close()
        await admin.close()
        await env.drop_database(url)
        conn = await db.connect(env.admin_url)
        try:
            await conn.execute(f"DROP ROLE IF EXISTS {_OFFICER}")
        finally:
            await conn.close()
    return report
