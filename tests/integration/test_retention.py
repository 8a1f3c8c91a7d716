"""Retention against a real PostgreSQL: windows kept exactly while the clock moves over 400
days, partitions ahead, holds keeping exactly their rows, dry runs, failing drops retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from store import audit, db, errors, holds, partitions, registry, retention, tables
from store.settings import StoreSettings
from tests import registry_support, support
from tests import retention_support as rs

pytestmark = pytest.mark.integration

# Tomorrow 09:30 UTC: holds must expire after the real clock, whatever day the suite runs.
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=30, second=0, microsecond=0)
WINDOWS = {
    "retention_traffic_days": 365,
    "retention_sms_days": 180,
    "retention_imei_days": 90,
    "retention_ip_session_days": 30,
}


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    """A small pool on this test's database."""
    made = await db.create_pool(rs.settings(database_url, pool_max_size=4))
    try:
        yield made
    finally:
        await made.close()


def _metric(name: str, **labels: str) -> float:
    value = support.sample(name, **labels)
    return 0.0 if value is None else value


async def _check_after_pass(
    conn: db.Connection,
    store_settings: StoreSettings,
    now: datetime,
    events: list[rs.Event],
) -> None:
    today = partitions.day_of(now)
    for table in tables.EVENT_TABLES:
        limit = retention.cutoff(store_settings, table.name, now)
        oldest_kept_day = partitions.day_of(limit)  # the day holding the cutoff is kept whole
        stored = await rs.stored_ids(conn, table.name)
        inside = {
            e.event_id for e in events if e.table == table.name and e.at.date() >= oldest_kept_day
        }
        assert stored == inside, f"{table.name} at {now}: rows inside the window lost or kept"
        oldest = await conn.fetchval(f"SELECT min({table.time_column}) FROM ruaj.{table.name}")
        assert oldest is None or oldest.date() >= oldest_kept_day
        days = {p.day for p in await partitions.list_days(conn, table.name)}
        assert {today + timedelta(days=n) for n in range(8)} <= days
        assert min(days) >= oldest_kept_day


async def test_windows_hold_as_the_clock_moves_over_400_days(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    store_settings = rs.settings(database_url, **WINDOWS)
    first = T0.date() - timedelta(days=400)
    days = [first + timedelta(days=n) for n in range(0, 401, 3)]
    events = await rs.insert(conn, days, [rs.A])
    before = _metric("ruaj_retention_partitions_dropped_total", table="ip_session")
    for step in (0, 1, 29, 60, 200, 365):
        now = T0 + timedelta(days=step, hours=step % 7)
        outcome, _ = await rs.run_pass(pool, store_settings, now)
        assert outcome.ok, outcome.failed
        await _check_after_pass(conn, store_settings, now, events)
    # Every drop was audited with its table, day and row count.
    entries = await audit.entries(conn, 0, await audit.next_index(conn))
    drops = [e.details for e in entries if e.kind == "retention.partition_dropped"]
    final_cutoff = retention.cutoff(store_settings, "ip_session", now)
    ip_days = [
        d for d in days if partitions.Partition(table="ip_session", day=d).end <= final_cutoff
    ]
    ip_drops = [d for d in drops if d["table"] == "ip_session"]
    assert len([d for d in ip_drops if d["rows"] == 1]) == len(ip_days)
    assert all(d["held_rows"] == 0 for d in drops)
    assert _metric("ruaj_retention_partitions_dropped_total", table="ip_session") - before == len(
        ip_drops
    )
    assert _metric("ruaj_store_partitions", table="cdr") == len(
        await partitions.list_days(conn, "cdr")
    )


async def test_dry_run_changes_nothing(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    store_settings = rs.settings(database_url, **WINDOWS)
    await rs.insert(conn, [T0.date() - timedelta(days=100)], [rs.A])
    await holds.add(
        conn, reference="R-1", identifiers=[holds.Identifier(kind="msisdn", value=rs.A)],
        range_from=T0 - timedelta(days=200), range_to=T0, expires=T0 + timedelta(days=2),
    )  # fmt: skip
    # Two subscribers whose contract ended more than the subscriber window (1095 days) ago,
    # one who is a day short of it; an IP session whose day retention drops.
    now = T0 + timedelta(days=10)
    horizon = now - timedelta(days=1095)
    ended = [horizon - timedelta(days=40), horizon, horizon + timedelta(days=1)]
    await registry.apply_changes(conn, [
        change for n, end in enumerate(ended) for change in (
            registry_support.assign(f"S{n}", "MSISDN", f"3834400010{n}", end - timedelta(days=9)),
            registry_support.change(f"S{n}", "TERMINATE", end))
    ])  # fmt: skip
    old_session = T0 - timedelta(days=100)
    await registry_support.store_sessions(
        conn, [registry_support.session("s1", "START", old_session, start=old_session)]
    )
    registry_before = [
        await conn.fetch(f"SELECT * FROM ruaj.{table} ORDER BY 1")
        for table in ("subscriber", "subscriber_identity", "subscriber_change",
                      "subscriber_erasure", "ip_session_span")
    ]  # fmt: skip
    before_parts = await retention.present(conn)
    before_audit = await audit.next_index(conn)
    outcome, lines = await rs.run_pass(pool, store_settings, now, dry_run=True)
    assert outcome.ok
    assert await retention.present(conn) == before_parts
    assert await audit.next_index(conn) == before_audit
    assert [h.state for h in await holds.list_holds(conn, include_ended=True)] == ["active"]
    registry_after = [
        await conn.fetch(f"SELECT * FROM ruaj.{table} ORDER BY 1")
        for table in ("subscriber", "subscriber_identity", "subscriber_change",
                      "subscriber_erasure", "ip_session_span")
    ]  # fmt: skip
    assert registry_after == registry_before
    assert len(registry_before[0]) == 3 and len(registry_before[4]) == 1
    assert (
        f"would erase 2 subscribers whose contract ended on or before {horizon.isoformat()}"
        in lines
    )
    assert any(line.startswith("would prune IP session spans last seen before") for line in lines)
    assert (
        "would drop ip_session_p" + f"{T0.date() - timedelta(days=100):%Y%m%d} (attached)" in lines
    )
    assert "would expire hold 1 (R-1)" in lines
    assert any(line.startswith("would create cdr_p") for line in lines)
    # The same pass for real does what the dry run said.
    outcome, lines = await rs.run_pass(pool, store_settings, now)
    assert outcome.ok and await retention.present(conn) != before_parts
    assert "expired hold 1" in lines
    assert "erased 2 subscribers of 2 due" in lines
    rows = await conn.fetch("SELECT subscriber_id FROM ruaj.subscriber")
    assert [row["subscriber_id"] for row in rows] == ["S2"]
    assert await conn.fetchval("SELECT count(*) FROM ruaj.ip_session_span") == 0


async def test_hold_keeps_exactly_its_rows_until_released(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    store_settings = rs.settings(database_url, **WINDOWS)
    old = [T0.date() - timedelta(days=n) for n in (400, 390, 380, 370)]
    events = await rs.insert(conn, old, [rs.A, rs.B], per_day=3)
    held_range = (  # covers the days 390 and 380 before T0, not 400 and 370
        datetime.combine(old[1] - timedelta(days=2), datetime.min.time(), UTC),
        datetime.combine(old[2] + timedelta(days=3), datetime.min.time(), UTC),
    )
    assert held_range[0].date() < old[1] < old[2] < held_range[1].date() < old[3]
    first = await holds.add(
        conn, reference="PPS-1", identifiers=[holds.Identifier(kind="msisdn", value=rs.A)],
        range_from=held_range[0], range_to=held_range[1], categories=["traffic", "sms"],
        expires=T0 + timedelta(days=90),
    )  # fmt: skip
    # A second, narrower hold overlapping the first: one day only, traffic only.
    second = await holds.add(
        conn, reference="PPS-2", identifiers=[holds.Identifier(kind="msisdn", value=rs.A)],
        range_from=datetime.combine(old[2], datetime.min.time(), UTC),
        range_to=datetime.combine(old[2] + timedelta(days=1), datetime.min.time(), UTC),
        categories=["traffic"], expires=T0 + timedelta(days=200),
    )  # fmt: skip
    outcome, _ = await rs.run_pass(pool, store_settings, T0)
    assert outcome.ok, outcome.failed
    for table in tables.EVENT_TABLES:
        assert await rs.stored_ids(conn, table.name) == set()  # all partitions were dropped

    def wanted(table: str, first_day: date, last_day: date) -> set[object]:
        return {
            e.event_id for e in events
            if e.table == table and e.msisdn == rs.A and first_day <= e.at.date() <= last_day
        }  # fmt: skip

    assert await rs.stored_ids(conn, "cdr", held=True) == wanted("cdr", old[1], old[2])
    assert await rs.stored_ids(conn, "sms", held=True) == wanted("sms", old[1], old[2])
    assert await rs.stored_ids(conn, "imei_observation", held=True) == set()
    assert await rs.stored_ids(conn, "ip_session", held=True) == set()
    assert len(await rs.stored_ids(conn, "cdr", held=True)) == 6  # 2 days x 3 rows
    # Every column came along.
    row = await conn.fetchrow("SELECT * FROM ruaj.held_cdr LIMIT 1")
    assert row is not None and row["network_element"] == "msc-1" and row["held_at"] is not None
    assert await holds.held_rows(conn) == {"cdr": 6, "sms": 6, "imei_observation": 0,
                                           "ip_session": 0}  # fmt: skip

    # Releasing the first hold keeps what the second still covers, and nothing else.
    erased = await holds.release(conn, first)
    assert erased == {"cdr": 3, "sms": 6, "imei_observation": 0, "ip_session": 0}
    assert await rs.stored_ids(conn, "cdr", held=True) == wanted("cdr", old[2], old[2])
    assert await rs.stored_ids(conn, "sms", held=True) == set()
    # The second expires at a later pass: its copies go too.
    outcome, lines = await rs.run_pass(pool, store_settings, T0 + timedelta(days=201))
    assert outcome.ok and f"expired hold {second}" in lines
    assert await holds.held_rows(conn) == dict.fromkeys(("cdr", "sms", "imei_observation",
                                                         "ip_session"), 0)  # fmt: skip

    # The audit log tells the story without the MSISDN in clear.
    entries = await audit.entries(conn, 0, await audit.next_index(conn))
    kinds = [e.kind for e in entries if e.kind.startswith("hold.")]
    assert kinds == ["hold.added", "hold.added", "hold.released", "hold.expired"]
    added = next(e for e in entries if e.kind == "hold.added")
    digest = audit.identifier_digest("msisdn", rs.A)
    assert added.details["identifiers"] == [{"kind": "msisdn", "digest": digest}]
    assert all(rs.A.encode() not in e.entry for e in entries)
    held_drops = [e.details for e in entries if e.kind == "retention.partition_dropped"]
    assert sum(d["held_rows"] for d in held_drops) == 12
    # The SQL functions wrote canonical entries, as store/audit.py would.
    for entry in entries:
        assert entry.entry == audit.canonical_json(
            {"actor": entry.actor, "at": entry.entry.decode().split('"at":"')[1].split('"')[0],
             "details": entry.details, "index": entry.index, "kind": entry.kind}
        ).encode()  # fmt: skip


async def test_hold_requests_are_checked(conn: db.Connection) -> None:
    ident = [holds.Identifier(kind="msisdn", value=rs.A)]
    cases: list[tuple[list[holds.Identifier], list[str]]] = [
        ([holds.Identifier(kind="msisdn", value="+38344")], []),
        ([holds.Identifier(kind="public_ip", value="not-an-ip")], []),
        ([], []),
        (ident, ["email"]),
    ]
    for identifiers, categories in cases:
        with pytest.raises(errors.InvalidRequest):
            await holds.add(
                conn, reference="R", identifiers=identifiers, range_from=T0 - timedelta(days=1),
                range_to=T0, expires=T0 + timedelta(days=1), categories=categories,
            )  # fmt: skip
    with pytest.raises(errors.InvalidRequest, match="no hold 99"):
        await holds.release(conn, 99)
    assert await audit.next_index(conn) == 0  # nothing refused was audited


async def test_the_rows_copied_to_hold_storage_are_those_hold_covers_names(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    """Holds by every identifier kind: the rows found through the partitions' indexes at the
    drop are exactly those the definition (`ruaj.hold_covers`, row by row) covers."""
    store_settings = rs.settings(database_url, **WINDOWS)
    old = [T0.date() - timedelta(days=n) for n in (400, 399)]
    events = await rs.insert(conn, old, [rs.A, rs.B, rs.STRANGER], per_day=4)
    day = datetime.combine(old[0], datetime.min.time(), UTC)
    wide = (day - timedelta(days=1), day + timedelta(days=3))
    for kind, value, categories, span in (
        ("imsi", rs.IMSI_OF[rs.A], ["traffic", "ip_session"], wide),
        ("imei", rs.IMEI_OF[rs.B], ["sms", "imei"], wide),
        ("public_ip", rs.PUBLIC_IP_OF[rs.B], ["ip_session", "traffic"], wide),
        ("msisdn", rs.STRANGER, ["traffic"], (day, day + timedelta(days=1))),
    ):
        await holds.add(
            conn, reference=f"PPS-{kind}", identifiers=[holds.Identifier(kind=kind, value=value)],
            range_from=span[0], range_to=span[1], categories=categories,
            expires=T0 + timedelta(days=90),
        )  # fmt: skip
    expected: dict[str, set[object]] = {}
    for table in tables.EVENT_TABLES:
        covers = await conn.fetchval("SELECT ruaj.hold_covers_sql($1)", table.name)
        rows = await conn.fetch(f"SELECT e.event_id FROM ruaj.{table.name} e WHERE {covers}")
        expected[table.name] = {row["event_id"] for row in rows}
    assert all(expected.values()), expected  # every table has held rows, and
    assert sum(len(ids) for ids in expected.values()) < len(events)  # not all of them

    outcome, _ = await rs.run_pass(pool, store_settings, T0)
    assert outcome.ok, outcome.failed
    for table in tables.EVENT_TABLES:
        assert await rs.stored_ids(conn, table.name) == set()
        assert await rs.stored_ids(conn, table.name, held=True) == expected[table.name]
    drops = [e.details for e in await audit.entries(conn, 0, 1 << 62)
             if e.kind == "retention.partition_dropped"]  # fmt: skip
    assert sum(d["held_rows"] for d in drops) == sum(len(ids) for ids in expected.values())
