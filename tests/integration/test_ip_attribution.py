"""IP attribution behind carrier-grade NAT (RFC 6302): public IP + port + instant → session."""

from __future__ import annotations

import ipaddress
import random
from datetime import datetime, timedelta
from typing import NamedTuple

import pytest

from store import db, registry
from tests.registry_support import T0, US, assign, release, session, store_sessions

pytestmark = pytest.mark.integration

IP = "198.18.0.1"
MIN = timedelta(minutes=1)


async def _who(conn: db.Connection, port: int, at_minutes: float, ip: str = IP) -> list[str]:
    found = await registry.ip_attribution(conn, ip, port, T0 + at_minutes * MIN)
    return [a.session_id for a in found]


async def test_ports_at_each_edge_of_the_block_and_just_outside(conn: db.Connection) -> None:
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0, first=1024, last=1535),
        session("s1", "STOP", T0 + 60 * MIN, start=T0, end=T0 + 60 * MIN, first=1024, last=1535),
        session("n1", "START", T0, start=T0, first=1536, last=2047, msisdn="38344000002"),
    ])  # fmt: skip
    assert await _who(conn, 1024, 10) == ["s1"]
    assert await _who(conn, 1535, 10) == ["s1"]
    assert await _who(conn, 1300, 10) == ["s1"]
    assert await _who(conn, 1023, 10) == []
    assert await _who(conn, 1536, 10) == ["n1"]  # the neighbouring block's session
    assert await _who(conn, 1024, 10, ip="198.18.0.2") == []  # same port, other address
    found = await registry.ip_attribution(conn, ipaddress.ip_address(IP), 1535, T0 + 10 * MIN)
    assert len(found) == 1
    only = found[0]
    assert (only.public_port_first, only.public_port_last) == (1024, 1535)
    assert only.msisdn == "38344123456" and only.imsi == "221021234567890"
    assert only.imei == "490154203237518"
    assert only.private_ip == ipaddress.ip_address("100.64.0.2")
    assert only.public_ip == ipaddress.ip_address(IP)
    assert (only.session_start, only.session_end) == (T0, T0 + 60 * MIN)


async def test_a_session_closed_by_stop_holds_its_block_until_the_stop(
    conn: db.Connection,
) -> None:
    end = T0 + 60 * MIN
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0),
        session("s1", "INTERIM", T0 + 30 * MIN, start=T0),
        session("s1", "STOP", end, start=T0, end=end),
    ])  # fmt: skip
    assert await registry.ip_attribution(conn, IP, 1100, T0 - US) == []
    assert [a.session_id for a in await registry.ip_attribution(conn, IP, 1100, T0)] == ["s1"]
    last = await registry.ip_attribution(conn, IP, 1100, end - US)
    assert [a.session_end for a in last] == [end]
    assert await registry.ip_attribution(conn, IP, 1100, end) == []


async def test_a_session_with_no_stop_yet_is_open(conn: db.Connection) -> None:
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0),
        session("s1", "INTERIM", T0 + 30 * MIN, start=T0),
    ])  # fmt: skip
    found = await registry.ip_attribution(conn, IP, 1100, T0 + 3 * 24 * 60 * MIN)
    assert [(a.session_id, a.session_end) for a in found] == [("s1", None)]


async def test_an_instant_between_two_sessions_of_one_ip_finds_none(
    conn: db.Connection,
) -> None:
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0),
        session("s1", "STOP", T0 + 20 * MIN, start=T0, end=T0 + 20 * MIN),
        session("s2", "START", T0 + 40 * MIN, start=T0 + 40 * MIN, msisdn="38344000002",
                private_ip="100.64.0.9"),
    ])  # fmt: skip
    assert await _who(conn, 1100, 10) == ["s1"]
    assert await _who(conn, 1100, 30) == []
    assert await _who(conn, 1100, 40) == ["s2"]
    later = await registry.ip_attribution(conn, IP, 1100, T0 + 50 * MIN)
    assert [a.msisdn for a in later] == ["38344000002"]


async def test_a_session_whose_stop_was_lost_ends_where_the_next_one_on_its_block_begins(
    conn: db.Connection,
) -> None:
    # s1 never sent a STOP; s2 got an overlapping block of the same address at minute 90.
    await store_sessions(conn, [
        session("s2", "START", T0 + 90 * MIN, start=T0 + 90 * MIN, first=1280, last=1791),
    ])  # fmt: skip
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0),
        session("s1", "INTERIM", T0 + 30 * MIN, start=T0),
    ])  # fmt: skip
    assert await _who(conn, 1100, 89) == ["s1"]
    assert await _who(conn, 1300, 89) == ["s1"]
    assert await _who(conn, 1300, 90) == ["s2"]
    assert await _who(conn, 1100, 90) == []  # s1 is over; s2's block starts at 1280
    # A third session between them, arriving last, cuts s1 short again and ends at s2.
    await store_sessions(conn, [session("s3", "START", T0 + 60 * MIN, start=T0 + 60 * MIN)])
    assert await _who(conn, 1100, 59) == ["s1"]
    assert await _who(conn, 1100, 60) == ["s3"]
    assert await _who(conn, 1300, 89) == ["s3"]
    assert await _who(conn, 1300, 95) == ["s2"]


async def test_records_in_any_order_and_replayed_give_the_same_spans(
    conn: db.Connection,
) -> None:
    end = T0 + 45 * MIN
    rows = [
        session("s1", "STOP", end, start=T0, end=end),
        session("s1", "INTERIM", T0 + 30 * MIN, start=T0),
        session("s1", "START", T0, start=T0),
    ]
    await store_sessions(conn, rows[:1])
    assert await _who(conn, 1100, 10) == ["s1"]  # a STOP alone already attributes
    await store_sessions(conn, rows[1:])
    await registry.apply_session_spans(conn, rows)  # replayed
    spans = await conn.fetch("SELECT session_id, active::text, last_seen FROM ruaj.ip_session_span")
    assert [tuple(s) for s in spans] == [
        ("s1", '["2026-10-03 18:00:00+00","2026-10-03 18:45:00+00")', end)
    ]
    # The details come from the session's first record, whichever arrived first.
    assert [a.session_end for a in await registry.ip_attribution(conn, IP, 1100, T0)] == [end]


async def test_the_subscriber_is_whoever_held_the_msisdn_at_that_instant(
    conn: db.Connection,
) -> None:
    await registry.apply_changes(conn, [
        assign("A", "MSISDN", "38344123456", T0 - 100 * MIN),
        release("A", "MSISDN", "38344123456", T0 + 30 * MIN),
        assign("B", "MSISDN", "38344123456", T0 + 30 * MIN),
    ])  # fmt: skip
    await store_sessions(conn, [session("s1", "START", T0, start=T0)])
    at_10 = await registry.ip_attribution(conn, IP, 1100, T0 + 10 * MIN)
    at_40 = await registry.ip_attribution(conn, IP, 1100, T0 + 40 * MIN)
    assert [a.subscriber_id for a in at_10] == ["A"]
    assert [a.subscriber_id for a in at_40] == ["B"]


async def test_the_imsi_names_the_subscriber_when_the_msisdn_is_not_registered(
    conn: db.Connection,
) -> None:
    await registry.apply_changes(conn, [assign("C", "IMSI", "221021234567890", T0 - MIN)])
    await store_sessions(conn, [session("s1", "START", T0, start=T0)])
    assert [a.subscriber_id for a in await registry.ip_attribution(conn, IP, 1100, T0)] == ["C"]


async def test_once_retention_drops_the_records_the_session_is_no_longer_attributed(
    conn: db.Connection,
) -> None:
    await store_sessions(conn, [session("s1", "START", T0, start=T0)])
    assert await _who(conn, 1100, 10) == ["s1"]
    await conn.execute("DROP TABLE ruaj.ip_session_p20261003")
    assert await _who(conn, 1100, 10) == []
    pruned = await registry.prune_session_spans(conn, T0 + MIN)
    assert pruned == 1
    assert await conn.fetchval("SELECT count(*) FROM ruaj.ip_session_span") == 0


async def test_ipv6_sessions_are_attributed(conn: db.Connection) -> None:
    await store_sessions(conn, [
        session("v6", "START", T0, start=T0, public_ip="2001:db8::7", private_ip="fd00::12",
                first=0, last=65535),
    ])  # fmt: skip
    assert await _who(conn, 0, 5, ip="2001:db8::7") == ["v6"]
    assert await _who(conn, 65535, 5, ip="2001:db8::7") == ["v6"]
    assert await _who(conn, 0, 5, ip="2001:db8::8") == []


async def test_imei_imsis_from_observations_and_traffic(conn: db.Connection) -> None:
    imei = "490154203237518"
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0, imsi="221020000000001", imei=imei),
        session("s2", "START", T0 + 50 * MIN, start=T0 + 50 * MIN, imsi="221020000000002",
                imei=imei, first=2048, last=2559),
        session("s3", "START", T0 + 5 * MIN, start=T0 + 5 * MIN, imsi="221020000000003",
                imei="356938035643809", first=4096, last=4607),
    ])  # fmt: skip
    await conn.execute("SELECT ruaj.ensure_partition('imei_observation', $1)", T0.date())
    await conn.execute(
        "INSERT INTO ruaj.imei_observation (event_id, observed_at, imei, imsi, reason, "
        "network_element) VALUES (gen_random_uuid(), $1, $2, '221020000000001', 'ATTACH', 'm')",
        T0 + 20 * MIN,
        imei,
    )
    sightings = await registry.imei_imsis(conn, imei, T0, T0 + 60 * MIN)
    assert [(s.imsi, s.first_seen, s.last_seen) for s in sightings] == [
        ("221020000000001", T0, T0 + 20 * MIN),
        ("221020000000002", T0 + 50 * MIN, T0 + 50 * MIN),
    ]
    narrow = await registry.imei_imsis(conn, imei, T0 + 10 * MIN, T0 + 50 * MIN)
    assert [s.imsi for s in narrow] == ["221020000000001"]  # the end is exclusive
    instant = await registry.imei_imsis(conn, imei, T0 + 50 * MIN, T0 + 50 * MIN)
    assert [s.imsi for s in instant] == ["221020000000002"]


async def test_folding_a_batch_per_session_gives_the_spans_of_the_records_themselves(
    conn: db.Connection,
) -> None:
    # apply_session_spans folds each session's records into one span before sending them; the
    # SQL function given every record unfolded must have come to the same spans. Sessions of
    # three addresses share overlapping blocks; records come shuffled, in uneven batches, some
    # replayed, some with a STOP lost and some whose START comes last; half of the sessions
    # have later records naming another block (the span keeps the earliest record's).
    rng = random.Random(9162)
    records = []
    for number in range(60):
        start = T0 + rng.randrange(0, 600) * MIN
        ip = f"198.18.0.{rng.randrange(1, 4)}"
        first = rng.choice((1024, 1280, 1536))
        last = first + rng.choice((255, 511))
        later = first + 64 if rng.random() < 0.5 else first
        name = f"s{number}"
        records.append(session(name, "START", start, start=start, public_ip=ip, first=first,
                               last=last))  # fmt: skip
        for step in range(rng.randrange(0, 3)):
            records.append(session(name, "INTERIM", start + (step + 1) * 30 * MIN, start=start,
                                   public_ip=ip, first=later, last=last))  # fmt: skip
        if rng.random() < 0.7:
            end = start + rng.randrange(0, 200) * MIN
            records.append(session(name, "STOP", end, start=start, end=end, public_ip=ip,
                                   first=later, last=last))  # fmt: skip
    rng.shuffle(records)
    records += rng.sample(records, 20)  # replays
    cuts = sorted(rng.sample(range(1, len(records)), 3))
    batches = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]
    spans = "SELECT session_id, session_start, public_ip, ports, session_end, last_seen, " \
            "active FROM ruaj.ip_session_span ORDER BY session_id"  # fmt: skip

    for batch in batches:
        async with conn.transaction():
            await registry.apply_session_spans(conn, batch)
    folded = [tuple(r) for r in await conn.fetch(spans)]
    await conn.execute("TRUNCATE ruaj.ip_session_span")
    for batch in batches:
        columns = [[row[i] for row in batch] for i in (1, 4, 11, 12, 13, 5, 3)]
        await conn.fetchval(registry._SPANS, *columns)
    unfolded = [tuple(r) for r in await conn.fetch(spans)]
    assert len(folded) == 60
    assert folded == unfolded


async def test_an_open_session_between_two_later_arrivals_on_its_block_ends_at_the_next(
    conn: db.Connection,
) -> None:
    # y is on the block from minute 10 and never sent a STOP. Later one batch brings m (from
    # minute 0, older than y: a backlog) and e (from minute 20): y must end where e begins.
    await store_sessions(conn, [session("y", "START", T0 + 10 * MIN, start=T0 + 10 * MIN)])
    await store_sessions(conn, [
        session("m", "START", T0, start=T0, msisdn="38344000002"),
        session("e", "START", T0 + 20 * MIN, start=T0 + 20 * MIN, msisdn="38344000003"),
    ])  # fmt: skip
    assert await _who(conn, 1100, 5) == ["m"]
    assert await _who(conn, 1100, 15) == ["y"]
    assert await _who(conn, 1100, 25) == ["e"]


class _Session(NamedTuple):
    name: str
    start: datetime
    ip: str
    first: int
    last: int
    end: datetime | None

    def holds(self, ip: str, port: int, at: datetime, every: list[_Session]) -> bool:
        """Whether this session held `ip`:`port` at `at` (brute force over `every` session)."""
        if self.ip != ip or not self.first <= port <= self.last or at < self.start:
            return False
        if self.end is not None:
            return at < self.end
        later = [z.start for z in every if z.ip == ip and z.start > self.start
                 and z.first <= self.last and self.first <= z.last]  # fmt: skip
        return not later or at < min(later)


async def test_attributions_equal_a_brute_force_answer_whatever_the_arrival(
    conn: db.Connection,
) -> None:
    # 80 sessions on three addresses and overlapping blocks, some without a STOP; their records
    # shuffled into uneven batches. A session holds its block from its start to its STOP, or,
    # with no STOP, until the next session on an overlapping block of its address begins.
    rng = random.Random(6302)
    sessions: list[_Session] = []
    records = []
    for number in range(80):
        start = T0 + rng.randrange(0, 24 * 60) * MIN
        first = rng.choice((1024, 1280, 1536))
        end = start + rng.randrange(1, 120) * MIN if rng.random() < 0.6 else None
        s = _Session(f"s{number:02d}", start, f"198.18.0.{rng.randrange(1, 4)}", first,
                     first + rng.choice((255, 511)), end)  # fmt: skip
        sessions.append(s)
        records.append(session(s.name, "START", start, start=start, public_ip=s.ip, first=first,
                               last=s.last))  # fmt: skip
        if end is not None:
            records.append(session(s.name, "STOP", end, start=start, end=end, public_ip=s.ip,
                                   first=first, last=s.last))  # fmt: skip
    rng.shuffle(records)
    cuts = sorted(rng.sample(range(1, len(records)), 7))
    for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True):
        await store_sessions(conn, records[a:b])

    for _ in range(150):
        ip = f"198.18.0.{rng.randrange(1, 4)}"
        port = rng.randrange(1000, 2100)
        at = T0 + rng.randrange(-10, 27 * 60) * MIN
        expected = sorted((s for s in sessions if s.holds(ip, port, at, sessions)),
                          key=lambda s: (-s.start.timestamp(), s.name))  # fmt: skip
        found = await registry.ip_attribution(conn, ip, port, at)
        assert [a.session_id for a in found] == [s.name for s in expected], (ip, port, at)
