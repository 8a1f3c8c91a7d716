"""IP attribution and who-held-at-an-instant, at growing sizes of the data behind them.

DESIGN §8: "public IP + port + instant → subscriber with 20 M IP sessions loaded: p99 < 10 ms";
DESIGN §3 adds "who held an identifier at an instant" to the query shapes that must be fast.

Data, filled with SQL (`generate_series`) and grown cumulatively:
- `ruaj.ip_session` over 365 day partitions (the IP-session retention window, DESIGN §4) plus
  the 8 of today and the days ahead that `ruaj maintain` keeps (373, as in production). A
  carrier-grade NAT like ingest/traffic.py's: public addresses from 198.18.0.0/15, each split
  into 126 blocks of 512 ports from 1024. Each block is held by one session after another:
  durations exponential (mean 45 min, 10 s to 4 h), idle gaps exponential (mean 2 h, 1 s to
  12 h); a session is START, an INTERIM every 30 min (at most 4), and a STOP, except 5 % whose
  STOP is lost (they end where the next session on the block starts) and those still open at
  the end of the period. Growth adds blocks (more addresses), as a growing subscriber base
  does; every session belongs to a number of the registry below;
- `ruaj.ip_session_span`, the attribution index that ingest keeps with
  `ruaj.ip_session_span_apply`, derived from the same sessions by one INSERT … SELECT. At each
  size the bench checks that it is what ingest would have written: the spans of one block are
  deleted and rebuilt by `ip_session_span_apply` from the block's records, in event-time
  batches of 500, and must come out identical (then rolled back); and a sample of
  `ip_attribution` answers is compared with a brute-force query over `ruaj.ip_session` alone;
- `ruaj.subscriber_identity`, a quarter as many rows as ip_session: MSISDNs recycled between
  one to three holders since 2019 (90 days of quarantine between holders), each holder with
  an IMSI over the same range; the exclusion constraint is dropped for the load and added
  back, so PostgreSQL checks that no identifier has two holders at once.

Each bulk load drops the table's indexes and constraints, inserts, and rebuilds them (sorted
builds instead of millions of random index insertions); load times are reported per size.

Timed at each size, through store/registry.py as disclosure calls it, on one warm connection
after untimed warm-up calls: `ip_attribution` for probes that hit a session (a random port of
its block at a random instant of its span), and for misses: a port just below the first block
(1023) at such an instant, and an instant in the idle gap between two sessions of a block;
`holders_at` for an MSISDN at an instant it was held, during a quarantine gap, and a number
never assigned. The first call of a fresh connection (cold catalog and plan caches, as every
`ruaj order execute` is) is timed separately, on several new connections.

Sizes (ip_session rows, cumulative): 1 M, 5 M, 20 M by default; `--events N` sets the largest
(the others N/20 and N/4); `--quick` 20 k, 100 k, 400 k.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import LiteralString

from bench.support import Env, Report, load_average, percentile
from ingest import traffic
from ruaj import progress
from store import db, partitions, registry

DAYS = 365
AHEAD = 8  # today and the 7 days ahead that `ruaj maintain` creates
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=DAYS)
REGISTRY_START = datetime(2019, 1, 1, tzinfo=UTC)
REGISTRY_SPAN = timedelta(days=2922)  # 8 years, to 2027: every holder's range ends in it
BLOCKS = traffic.BLOCKS_PER_ADDRESS
IDENTITY_SHARE = 4  # ip_session rows per identity row
ROWS_PER_NUMBER = 4  # identity rows per MSISDN: two holders on average, MSISDN and IMSI each
SPAN_BATCH = 500  # records per ip_session_span_apply call in the equivalence check
WARMUP = 20
SEED = 20261101

# Sessions of blocks [$1, $2) of the pool, $5 candidate sessions per block, numbered from $6.
# Times are chained per block: each session starts where the previous one's idle gap ends.
_SESSIONS: LiteralString = """
INSERT INTO bench_session (sid, slot, session_start, stop, last_seen, next_start, interims, n)
SELECT $6 + row_number() OVER (ORDER BY slot, session_start), slot, session_start, stop,
       CASE WHEN stop IS NOT NULL THEN stop
            ELSE session_start + interims * interval '30 minutes' END,
       next_start, interims, n
FROM (
    SELECT slot, session_start, stop, n,
           CASE WHEN next_start < $4 THEN next_start END AS next_start,
           least(4, greatest(0, ceil(extract(epoch FROM coalesce(stop, least($4,
               session_start + interval '2 hours', next_start)) - session_start) / 1800)::int
               - 1)) AS interims
    FROM (
        SELECT slot, n, session_start, session_start + dur + gap AS next_start,
               CASE WHEN NOT lost AND session_start + dur < $4 THEN session_start + dur
               END AS stop
        FROM (
            SELECT slot, dur, gap, lost, n,
                   $3::timestamptz + ((slot::bigint * 7919) % 10800) * interval '1 second'
                      + sum(dur + gap) OVER w - (dur + gap) AS session_start
            FROM (
                SELECT slot, j,
                       least(interval '4 hours', greatest(interval '10 seconds',
                           -ln(1 - random()) * interval '45 minutes')) AS dur,
                       least(interval '12 hours', greatest(interval '1 second',
                           -ln(1 - random()) * interval '2 hours')) AS gap,
                       random() < 0.05 AS lost,
                       (random() * ($7 - 1))::bigint AS n
                FROM generate_series($1::int, $2::int - 1) slot, generate_series(0, $5 - 1) j
            ) d
            WINDOW w AS (PARTITION BY slot ORDER BY j)
        ) c
    ) b
    WHERE session_start < $4
) a
"""
# The records of sessions numbered above $1: START, INTERIMs, and the STOP if there is one.
_RECORDS: LiteralString = """
INSERT INTO ruaj.ip_session
SELECT gen_random_uuid(), 'pgw-1:' || lpad(to_hex(s.sid), 10, '0'),
       CASE WHEN k = 0 THEN 'START' WHEN k <= s.interims THEN 'INTERIM' ELSE 'STOP' END,
       CASE WHEN k <= s.interims THEN s.session_start + k * interval '30 minutes'
            ELSE s.stop END,
       s.session_start, CASE WHEN k > s.interims THEN s.stop END,
       '3834' || lpad(s.n::text, 8, '0'),
       '29501' || lpad((s.n * 4 + s.n % 3)::text, 10, '0'),
       '35693803' || lpad((s.n % 10000000)::text, 7, '0'),
       'internet', '100.64.0.1'::inet + s.slot, '198.18.0.1'::inet + s.slot / 126,
       1024 + (s.slot % 126) * 512, 1024 + (s.slot % 126) * 512 + 511,
       '295-01-' || (1000 + s.slot % 500) || '-' || (1 + s.n % 3),
       CASE WHEN k > 0 THEN k * 7340033 END, CASE WHEN k > 0 THEN k * 52428817 END
FROM bench_session s
CROSS JOIN LATERAL generate_series(0, s.interims + (s.stop IS NOT NULL)::int) k
WHERE s.sid > $1
"""
# The spans ingest derives from those records (0005/0015 ruaj.ip_session_span_apply): closed
# at the STOP, else ended by the next session on the block, else open.
_SPANS: LiteralString = """
INSERT INTO ruaj.ip_session_span
    (session_id, session_start, public_ip, ports, session_end, last_seen, active)
SELECT 'pgw-1:' || lpad(to_hex(s.sid), 10, '0'), s.session_start,
       '198.18.0.1'::inet + s.slot / 126,
       int4range(1024 + (s.slot % 126) * 512, 1024 + (s.slot % 126) * 512 + 511, '[]'),
       s.stop, s.last_seen, tstzrange(s.session_start, coalesce(s.stop, s.next_start), '[)')
FROM bench_session s
WHERE s.sid > $1
"""
# Numbers [$1, $2): one to three holders each, with an IMSI per holder over the same range.
_IDENTITIES: LiteralString = """
INSERT INTO ruaj.subscriber_identity (subscriber_id, kind, value, held)
SELECT 'sub-' || (x.n * 4 + x.j), k.kind,
       CASE k.kind WHEN 'MSISDN' THEN '3834' || lpad(x.n::text, 8, '0')
                   ELSE '29501' || lpad((x.n * 4 + x.j)::text, 10, '0') END,
       tstzrange(x.lo, x.hi, '[)')
FROM (
    SELECT n, j,
           $3::timestamptz + ($4::interval / h) * j
               + ((n * 7919 + j * 104729) % 2592000) * interval '1 second' AS lo,
           CASE WHEN j < h - 1
               THEN $3::timestamptz + ($4::interval / h) * (j + 1) - interval '90 days' END AS hi
    FROM generate_series($1::bigint, $2::bigint - 1) n,
         LATERAL (SELECT 1 + (n % 3)::int AS h) hh,
         LATERAL generate_series(0, hh.h - 1) j
) x
CROSS JOIN (VALUES ('MSISDN'), ('IMSI')) k(kind)
ORDER BY 2, 3, 4
"""
_BENCH_TABLE: LiteralString = """
CREATE UNLOGGED TABLE bench_session (
    sid bigint PRIMARY KEY, slot integer NOT NULL, session_start timestamptz NOT NULL,
    stop timestamptz, last_seen timestamptz NOT NULL, next_start timestamptz,
    interims integer NOT NULL, n bigint NOT NULL)
"""
_INDEXES: LiteralString = """
SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""
_INVALID: LiteralString = """
SELECT count(*) FROM pg_index x
WHERE NOT x.indisvalid
  AND (x.indrelid = $1::regclass
       OR x.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass))
"""
_CONSTRAINTS: LiteralString = """
SELECT conname AS name, pg_get_constraintdef(oid) AS definition
FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x')
"""
# Probes: sessions drawn at random, a port of the block and an instant inside the span.
_HIT_PROBES: LiteralString = """
SELECT 'pgw-1:' || lpad(to_hex(s.sid), 10, '0') AS session_id,
       '198.18.0.1'::inet + s.slot / 126 AS ip,
       1024 + (s.slot % 126) * 512 + (random() * 511)::int AS port,
       s.session_start + random() * (coalesce(s.stop, s.next_start, $2) - s.session_start) AS at
FROM bench_session s TABLESAMPLE BERNOULLI (least(100, 100.0 * $1::int * 4 / $3::bigint))
    REPEATABLE ($4)
ORDER BY random() LIMIT $1::int
"""
# Instants in the idle gap after a session that ended with a STOP.
_GAP_PROBES: LiteralString = """
SELECT '198.18.0.1'::inet + s.slot / 126 AS ip,
       1024 + (s.slot % 126) * 512 + (random() * 511)::int AS port,
       s.stop + random() * (s.next_start - s.stop) AS at
FROM bench_session s TABLESAMPLE BERNOULLI (least(100, 100.0 * $1::int * 4 / $2::bigint))
    REPEATABLE ($3)
WHERE s.stop IS NOT NULL AND s.next_start > s.stop
ORDER BY random() LIMIT $1::int
"""
_HELD_PROBES: LiteralString = """
SELECT value, lower(held) + random() * (coalesce(upper(held), $2) - lower(held)) AS at
FROM ruaj.subscriber_identity TABLESAMPLE BERNOULLI (least(100, 100.0 * $1::int * 4 / $3::bigint))
    REPEATABLE ($4)
WHERE kind = 'MSISDN' ORDER BY random() LIMIT $1::int
"""
_QUARANTINE_PROBES: LiteralString = """
SELECT value, upper(held) + interval '45 days' AS at
FROM ruaj.subscriber_identity TABLESAMPLE BERNOULLI (least(100, 100.0 * $1::int * 8 / $2::bigint))
    REPEATABLE ($3)
WHERE kind = 'MSISDN' AND upper(held) IS NOT NULL ORDER BY random() LIMIT $1::int
"""
# The same question as ip_attribution, from the records alone: a session holds its block from
# its start to its STOP, or without a STOP until the next session on the block starts. No
# session of this data spans more than 16 h (4 h + a 12 h gap), so a day either side is enough.
_BRUTE: LiteralString = """
WITH r AS (
    SELECT * FROM ruaj.ip_session
    WHERE public_ip = $1::inet AND event_time >= $3::timestamptz - interval '1 day'
      AND event_time <= $3::timestamptz + interval '1 day'
), s AS (
    SELECT session_id, session_start, min(public_port_first) AS pf,
           max(public_port_last) AS pl, max(session_end) AS se
    FROM r GROUP BY session_id, session_start
), e AS (
    SELECT s.*, coalesce(s.se, (SELECT min(z.session_start) FROM s z
                                WHERE z.pf <= s.pl AND z.pl >= s.pf
                                  AND z.session_start > s.session_start)) AS until
    FROM s
)
SELECT session_id FROM e
WHERE $2::int BETWEEN pf AND pl AND session_start <= $3
  AND (until IS NULL OR $3 < until)
ORDER BY session_start DESC, session_id
"""
_SLOT_SPANS: LiteralString = """
SELECT session_id, session_start, public_ip, ports, session_end, last_seen, active
FROM ruaj.ip_session_span WHERE public_ip = $1 AND ports && int4range($2, $3, '[]')
"""
_SLOT_RECORDS: LiteralString = """
SELECT session_id, event_time, session_start, session_end, public_ip, public_port_first,
       public_port_last
FROM ruaj.ip_session WHERE public_ip = $1 AND public_port_first = $2
ORDER BY event_time, session_id
"""
_APPLY: LiteralString = """
SELECT ruaj.ip_session_span_apply($1::text[], $2::timestamptz[], $3::inet[], $4::integer[],
    $5::integer[], $6::timestamptz[], $7::timestamptz[])
"""
# ip_attribution's two statements (0017), for EXPLAIN: the span lookup, then the first record.
_SPAN_LOOKUP: LiteralString = """
SELECT z.session_id, z.session_start, z.last_seen FROM ruaj.ip_session_span z
WHERE z.public_ip = $1::inet AND z.ports @> $2::int AND z.active @> $3::timestamptz
ORDER BY z.session_start DESC, z.session_id
"""
_FIRST_RECORD: LiteralString = """
SELECT x.msisdn, x.imsi, x.imei, x.private_ip FROM ruaj.ip_session x
WHERE x.session_id = $1 AND x.event_time >= $2 AND x.event_time <= $3
ORDER BY x.event_time LIMIT 1
"""
_SIZES: LiteralString = """
SELECT pg_total_relation_size('ruaj.ip_session_span') AS span,
       (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
        WHERE inhparent = 'ruaj.ip_session'::regclass) AS sessions,
       pg_total_relation_size('ruaj.subscriber_identity') AS identity
"""

Probe = tuple[str, int, datetime]
Held = tuple[str, datetime]


def _sizes(env: Env) -> list[int]:
    if env.quick:
        return [20_000, 100_000, 400_000]
    largest = env.events or 20_000_000
    return [largest // 20, largest // 4, largest]


def _status_rows(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class _Rebuilt:
    """Drops a table's indexes and constraints on entry, rebuilds them on exit."""

    def __init__(self, conn: db.Connection, table: str) -> None:
        self.conn = conn
        self.table = table
        self.indexes: list[str] = []
        self.constraints: list[tuple[str, str]] = []
        self.rebuild_s = 0.0

    async def __aenter__(self) -> _Rebuilt:
        self.indexes = [r["definition"] for r in await self.conn.fetch(_INDEXES, self.table)]
        self.constraints = [(r["name"], r["definition"])
                            for r in await self.conn.fetch(_CONSTRAINTS, self.table)]  # fmt: skip
        for name, _ in self.constraints:
            await self.conn.execute(
                f"ALTER TABLE {self.table} DROP CONSTRAINT {db.quote_ident(name)}"
            )
        for row in await self.conn.fetch(_INDEXES, self.table):
            await self.conn.execute(f"DROP INDEX ruaj.{db.quote_ident(row['name'])}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        started = time.perf_counter()
        for name, definition in self.constraints:
            await self.conn.execute(
                f"ALTER TABLE {self.table} ADD CONSTRAINT {db.quote_ident(name)} {definition}"
            )
        for definition in self.indexes:
            # A partitioned table's index is defined `ON ONLY` the parent: built that way it
            # would stay invalid, with no index on any partition. Built `ON` the parent, it is
            # made on every partition too.
            await self.conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
        self.rebuild_s = time.perf_counter() - started
        invalid = await self.conn.fetchval(_INVALID, self.table)
        assert invalid == 0, f"{invalid} invalid indexes on {self.table} or its partitions"


async def _timed(call: Callable[[], Awaitable[int]], count: int) -> tuple[list[float], int]:
    """Milliseconds per call, and how many of the calls found something."""
    times, found = [], 0
    for _ in range(count):
        started = time.perf_counter()
        rows = await call()
        times.append((time.perf_counter() - started) * 1000)
        found += rows > 0
    return times, found


async def _attributions(conn: db.Connection, probes: list[Probe]) -> tuple[list[float], int]:
    it = iter(probes)

    async def one() -> int:
        ip, port, at = next(it)
        return len(await registry.ip_attribution(conn, ip, port, at))

    for ip, port, at in probes[:WARMUP]:
        await registry.ip_attribution(conn, ip, port, at)
    return await _timed(one, len(probes))


async def _holdings(conn: db.Connection, probes: list[Held]) -> tuple[list[float], int]:
    it = iter(probes)

    async def one() -> int:
        value, at = next(it)
        return len(await registry.holders_at(conn, "MSISDN", value, at))

    for value, at in probes[:WARMUP]:
        await registry.holders_at(conn, "MSISDN", value, at)
    return await _timed(one, len(probes))


async def _cold(
    url: str, probes: list[Probe], holds: list[Held]
) -> tuple[list[float], list[float]]:
    """The first ip_attribution and holders_at call of fresh connections, in milliseconds."""
    attribution: list[float] = []
    held: list[float] = []
    for (ip, port, at), (value, when) in zip(probes, holds, strict=False):
        for kind in ("attribution", "held"):
            conn = await db.connect(url)
            try:
                started = time.perf_counter()
                if kind == "attribution":
                    await registry.ip_attribution(conn, ip, port, at)
                else:
                    await registry.holders_at(conn, "MSISDN", value, when)
                elapsed = (time.perf_counter() - started) * 1000
            finally:
                await conn.close()
            (attribution if kind == "attribution" else held).append(elapsed)
    return attribution, held


async def _check_against_records(conn: db.Connection, probes: list[Probe]) -> int:
    """Compare ip_attribution with the brute-force query; returns the probes checked."""
    for ip, port, at in probes:
        got = [a.session_id for a in await registry.ip_attribution(conn, ip, port, at)]
        want = [r["session_id"] for r in await conn.fetch(_BRUTE, ip, port, at)]
        assert got == want, (ip, port, at, got, want)
    return len(probes)


async def _check_spans_as_ingest(conn: db.Connection, slot: int) -> int:
    """Rebuild one block's spans through ip_session_span_apply from its records, as ingest
    does, and compare with the bulk-loaded ones (rolled back); returns the spans compared."""
    ip = ipaddress.ip_address("198.18.0.1") + slot // BLOCKS
    first = traffic.FIRST_PORT + (slot % BLOCKS) * traffic.PORT_BLOCK
    block = (first, first + traffic.PORT_BLOCK - 1)
    transaction = conn.transaction()
    await transaction.start()
    try:
        bulk = {tuple(r) for r in await conn.fetch(_SLOT_SPANS, ip, *block)}
        await conn.execute("DELETE FROM ruaj.ip_session_span WHERE public_ip = $1 "
                           "AND ports && int4range($2, $3, '[]')", ip, *block)  # fmt: skip
        records = await conn.fetch(_SLOT_RECORDS, ip, first)
        for i in range(0, len(records), SPAN_BATCH):
            batch = records[i : i + SPAN_BATCH]
            await conn.fetchval(
                _APPLY, [r["session_id"] for r in batch], [r["session_start"] for r in batch],
                [r["public_ip"] for r in batch], [r["public_port_first"] for r in batch],
                [r["public_port_last"] for r in batch], [r["session_end"] for r in batch],
                [r["event_time"] for r in batch],
            )  # fmt: skip
        applied = {tuple(r) for r in await conn.fetch(_SLOT_SPANS, ip, *block)}
    finally:
        await transaction.rollback()
    assert bulk == applied, (slot, len(bulk ^ applied))
    return len(bulk)


async def _explained(conn: db.Connection, probe: Probe) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) figures of ip_attribution's two statements for one probe."""
    parts = []
    span = await conn.fetchrow(_SPAN_LOOKUP, *probe)
    assert span is not None
    for label, query, args in (("span lookup", _SPAN_LOOKUP, probe),
                               ("first record", _FIRST_RECORD, tuple(span))):  # fmt: skip
        plan = (await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, *args))[0]
        top = plan["Plan"]
        parts.append(
            f"{label}: planning {plan['Planning Time']:.2f} ms, execution "
            f"{plan['Execution Time']:.2f} ms, buffers hit {top.get('Shared Hit Blocks', 0)} "
            f"read {top.get('Shared Read Blocks', 0)}, top node {top['Node Type']}"
        )
    return "; ".join(parts)


def _row(size: int, query: str, probe: str, times: list[float], found: int) -> dict[str, object]:
    return {
        "ip_session_rows": size, "query": query, "probe": probe, "calls": len(times),
        "found": found, "p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99),
        "max_ms": max(times),
    }  # fmt: skip


async def _probe_sets(
    conn: db.Connection, sessions: int, calls: int, seed: int
) -> dict[str, list[Probe]]:
    hits = await conn.fetch(_HIT_PROBES, calls, END, sessions, seed)
    gaps = await conn.fetch(_GAP_PROBES, calls // 4, sessions, seed + 1)
    rng = random.Random(seed)
    return {
        "hit": [(str(r["ip"]), r["port"], r["at"]) for r in hits],
        "miss: port outside the blocks": [
            (str(r["ip"]), traffic.FIRST_PORT - 1, r["at"]) for r in hits[: calls // 4]
        ],
        "miss: between sessions": [(str(r["ip"]), r["port"], r["at"]) for r in gaps],
        "_ids": [(r["session_id"], 0, r["at"]) for r in hits],
        "_shuffled": rng.sample(
            [(str(r["ip"]), r["port"], r["at"]) for r in hits], min(len(hits), 8)
        ),
    }


async def run(env: Env) -> Report:
    """Load, check, then time ip_attribution and holders_at at each size."""
    report = Report("registry")
    url = await env.fresh_database("registry")
    conn = await db.connect(url)
    calls = 300 if env.quick else 2000
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SELECT setseed(0.2026)")
        for day in range(DAYS + AHEAD):
            await partitions.ensure(conn, "ip_session", (START + timedelta(days=day)).date())
        await conn.execute(_BENCH_TABLE)
        sizes = _sizes(env)
        rows_per_slot = 9300.0  # first estimate; measured after the first load
        slots = sessions = rows = numbers = identities = spans = 0
        shown = progress.Progress("loading ip_session rows", sizes[-1])
        try:
            for step, size in enumerate(sizes):
                load_row: dict[str, object] = {"ip_session_rows": size}
                started = time.perf_counter()
                want_numbers = max(size // (IDENTITY_SHARE * ROWS_PER_NUMBER), 1000)
                async with _Rebuilt(conn, "ruaj.subscriber_identity") as rebuilt:
                    status = await conn.execute(_IDENTITIES, numbers, want_numbers,
                                                REGISTRY_START, REGISTRY_SPAN)  # fmt: skip
                identities += _status_rows(status)
                numbers = want_numbers
                load_row["identity_load_s"] = round(time.perf_counter() - started, 1)
                load_row["identity_index_s"] = round(rebuilt.rebuild_s, 1)

                started = time.perf_counter()
                new_slots = max(1, round((size - rows) / rows_per_slot))
                per_slot = int(DAYS * 86400 / (165 * 60) * 1.3) + 50
                first_sid = sessions
                status = await conn.execute(_SESSIONS, slots, slots + new_slots, START, END,
                                            per_slot, first_sid, numbers)  # fmt: skip
                sessions += _status_rows(status)
                async with _Rebuilt(conn, "ruaj.ip_session") as rebuilt:
                    status = await conn.execute(_RECORDS, first_sid)
                added = _status_rows(status)
                load_row["session_load_s"] = round(time.perf_counter() - started, 1)
                load_row["session_index_s"] = round(rebuilt.rebuild_s, 1)
                rows += added
                rows_per_slot = added / new_slots
                check_slot = slots + new_slots // 2
                slots += new_slots
                shown.set(rows)

                started = time.perf_counter()
                async with _Rebuilt(conn, "ruaj.ip_session_span") as rebuilt:
                    status = await conn.execute(_SPANS, first_sid)
                spans += _status_rows(status)
                load_row["span_load_s"] = round(time.perf_counter() - started, 1)
                load_row["span_index_s"] = round(rebuilt.rebuild_s, 1)
                started = time.perf_counter()
                await conn.execute("ANALYZE bench_session")
                await conn.execute("ANALYZE ruaj.ip_session")
                await conn.execute("ANALYZE ruaj.ip_session_span")
                await conn.execute("ANALYZE ruaj.subscriber_identity")
                load_row["analyze_s"] = round(time.perf_counter() - started, 1)

                # Is the span index what ingest would have written, and are the answers right?
                compared = await _check_spans_as_ingest(conn, check_slot)
                probes = await _probe_sets(conn, sessions, calls, SEED + step)
                hits = probes["hit"]
                checked = await _check_against_records(
                    conn, hits[:100] + probes["miss: between sessions"][:50]
                    + probes["miss: port outside the blocks"][:20])  # fmt: skip
                for (ip, port, at), (sid, _, _) in zip(hits[:100], probes["_ids"], strict=False):
                    answer = await registry.ip_attribution(conn, ip, port, at)
                    assert [a.session_id for a in answer] == [sid], (ip, port, at, sid)
                    assert answer[0].subscriber_id is not None, (ip, port, at)

                measured: dict[str, tuple[list[float], int]] = {}
                for kind in ("hit", "miss: port outside the blocks", "miss: between sessions"):
                    measured[kind] = await _attributions(conn, probes[kind])
                    report.rows.append(_row(rows, "ip_attribution", kind, *measured[kind]))
                held = [(r["value"], r["at"]) for r in await conn.fetch(
                    _HELD_PROBES, calls, END, identities, SEED + step)]  # fmt: skip
                quarantine = [(r["value"], r["at"]) for r in await conn.fetch(
                    _QUARANTINE_PROBES, calls // 4, identities, SEED + step)]  # fmt: skip
                never = [("3834" + str(90_000_000 + i).zfill(8), at)
                         for i, (_, at) in enumerate(held[: calls // 4])]  # fmt: skip
                for kind, probe_list in (("held", held), ("miss: quarantine", quarantine),
                                         ("miss: never assigned", never)):  # fmt: skip
                    times, found = await _holdings(conn, probe_list)
                    report.rows.append(_row(rows, "holders_at", kind, times, found))
                    report.rows[-1]["identity_rows"] = identities
                cold_a, cold_h = await _cold(url, probes["_shuffled"], held[:8])
                report.rows.append(_row(rows, "ip_attribution", "cold: 1st call of a "
                                        "connection", cold_a, len(cold_a)))  # fmt: skip
                report.rows.append(_row(rows, "holders_at", "cold: 1st call of a "
                                        "connection", cold_h, len(cold_h)))  # fmt: skip
                sizes_now = await conn.fetchrow(_SIZES)
                assert sizes_now is not None
                load_row.update({
                    "ip_session_rows": rows, "sessions": sessions, "spans": spans,
                    "public_ips": (slots + BLOCKS - 1) // BLOCKS, "blocks": slots,
                    "identity_rows": identities, "msisdns": numbers,
                    "ip_session_mb": round(sizes_now["sessions"] / 2**20),
                    "span_mb": round(sizes_now["span"] / 2**20),
                    "identity_mb": round(sizes_now["identity"] / 2**20),
                    "explain": await _explained(conn, hits[0]),
                    "checked": f"{compared} spans = ingest path, {checked} answers = brute force",
                    "load_average": load_average(),
                })  # fmt: skip
                report.notes.append("load " + ", ".join(f"{k}={v}" for k, v in load_row.items()))
        finally:
            shown.close()
        _growth_notes(report)
    finally:
        await conn.close()
        await env.drop_database(url)
    return report


def _ratio(big: dict[str, object], small: dict[str, object], key: str) -> float:
    return float(str(big[key])) / float(str(small[key]))


def _growth_notes(report: Report) -> None:
    """The target, and how p50/p99 grow from one size to the next."""
    sizes = sorted({int(str(r["ip_session_rows"])) for r in report.rows})
    largest = sizes[-1]
    hit = {int(str(r["ip_session_rows"])): r for r in report.rows
           if r["query"] == "ip_attribution" and r["probe"] == "hit"}  # fmt: skip
    p99 = float(str(hit[largest]["p99_ms"]))
    worst = max(float(str(r["p99_ms"])) for r in report.rows
                if r["query"] == "ip_attribution" and r["ip_session_rows"] == largest
                and not str(r["probe"]).startswith("cold"))  # fmt: skip
    report.notes.insert(0, (
        f"target p99 < 10 ms at {largest:,} ip_session rows: hits p99 {p99:.2f} ms, worst "
        f"warm probe kind p99 {worst:.2f} ms ({'met' if worst < 10 else 'NOT met'})"
    ))  # fmt: skip
    for query in ("ip_attribution", "holders_at"):
        for probe in sorted({str(r["probe"]) for r in report.rows if r["query"] == query}):
            by = {int(str(r["ip_session_rows"])): r for r in report.rows
                  if r["query"] == query and r["probe"] == probe}  # fmt: skip
            steps = []
            for small, big in itertools.pairwise(sizes):
                p50 = _ratio(by[big], by[small], "p50_ms")
                p99 = _ratio(by[big], by[small], "p99_ms")
                steps.append(f"{big / small:.1f}x the rows: p50 {p50:.2f}x, p99 {p99:.2f}x")
            report.notes.append(f"growth {query} [{probe}]: " + "; ".join(steps))
    report.notes.append(
        f"{DAYS} day partitions of data plus {AHEAD} ahead; warm calls follow {WARMUP} untimed "
        "ones on one connection; the machine has 2 cores and another benchmark may run "
        "concurrently (see load_average), so compare sizes within this run"
    )
