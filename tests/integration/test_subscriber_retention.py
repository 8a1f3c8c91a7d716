"""Subscriber-data retention in `ruaj maintain` against a real PostgreSQL: the `subscribers`
step erases a subscriber exactly when their contract ended a window ago, with their identity
history and change log, audited by digest, in bounded batches; a replay does not bring them
back; and the `session_spans` step prunes the IP-attribution index only behind retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from store import audit, db, maintenance, registry, retention
from store.settings import StoreSettings
from tests import retention_support as rs
from tests import support
from tests.registry_support import US, assign, change, release, session, store_sessions

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
WINDOW = timedelta(days=1095)  # the default of RUAJ_RETENTION_SUBSCRIBER_DAYS
START = datetime(2022, 3, 1, 9, 0, tzinfo=UTC)
END = datetime(2023, 6, 30, 16, 45, tzinfo=UTC)  # A's contract end
MSISDN, IMSI, ICCID = "38344123456", "221020000000001", "8938302000000000018"
KYC = {"given_name": "Arta", "family_name": "Krasniqi", "personal_number": "1234567890",
       "address": "Rr. UÇK 7", "city": "Prishtina", "email": "arta@example.net",
       "contact_number": "38344999000"}  # fmt: skip


def a_history() -> list[tuple[object, ...]]:
    """A's whole history as the CRM and HLR send it, some of it after the contract's end: the
    TERMINATE reported a day late with the real end, the SIM released two days later, an
    address corrected a week later."""
    return [
        change("A", "UPSERT", START, contract_start=START, **KYC),
        assign("A", "MSISDN", MSISDN, START),
        assign("A", "IMSI", IMSI, START),
        assign("A", "ICCID", ICCID, START),
        release("A", "MSISDN", MSISDN, END),
        release("A", "IMSI", IMSI, END),
        change("A", "TERMINATE", END + DAY, contract_end=END),
        release("A", "ICCID", ICCID, END + 2 * DAY),
        change("A", "UPSERT", END + 7 * DAY, address="Rr. Garibaldi 3"),
    ]


def others() -> list[tuple[object, ...]]:
    """N takes A's recycled MSISDN (still a customer); B's contract ended a day after A's; C
    never ended; D's contract ended before A's but D came back with a new one (an UPSERT is a
    patch: the old end stays beside the new start)."""
    return [
        change("N", "UPSERT", END + 3 * DAY, contract_start=END + 3 * DAY, given_name="Nora"),
        assign("N", "MSISDN", MSISDN, END + 3 * DAY),
        change("B", "UPSERT", START, contract_start=START, given_name="Blerim"),
        assign("B", "MSISDN", "38344123457", START),
        change("B", "TERMINATE", END + DAY),
        change("C", "UPSERT", START, contract_start=START, given_name="Drita"),
        change("D", "UPSERT", START, contract_start=START, contract_end=END - DAY),
        change("D", "UPSERT", END + 30 * DAY, contract_start=END + 30 * DAY),
    ]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    """A small pool on this test's database."""
    made = await db.create_pool(rs.settings(database_url, pool_max_size=2))
    try:
        yield made
    finally:
        await made.close()


async def _step(pool: db.Pool, settings: StoreSettings, step: maintenance.Step, now: datetime,
                *, dry_run: bool = False) -> list[str]:  # fmt: skip
    lines: list[str] = []
    ctx = maintenance.Context(now=now, dry_run=dry_run, settings=settings, pool=pool,
                              report=lines.append)  # fmt: skip
    await step(ctx)
    return lines


async def _subscribers(conn: db.Connection) -> list[str]:
    rows = await conn.fetch("SELECT subscriber_id FROM ruaj.subscriber ORDER BY 1")
    return [row["subscriber_id"] for row in rows]


async def _spans(conn: db.Connection) -> list[str]:
    rows = await conn.fetch("SELECT session_id FROM ruaj.ip_session_span ORDER BY 1")
    return [row["session_id"] for row in rows]


async def _registry(conn: db.Connection) -> tuple[list[tuple[object, ...]], ...]:
    """Everything the registry holds, for before/after comparisons."""
    tables = ("subscriber", "subscriber_identity", "subscriber_change", "subscriber_erasure")
    found = []
    for table in tables:
        rows = await conn.fetch(f"SELECT * FROM ruaj.{table}")
        found.append(sorted((tuple(r) for r in rows), key=repr))
    return tuple(found)


def _counter(name: str) -> float:
    return support.sample(name) or 0.0


async def test_erased_exactly_when_the_contract_ended_a_window_ago(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    settings = rs.settings(database_url)
    assert settings.retention_subscriber_days == 1095
    assert await registry.apply_changes(conn, a_history() + others()) == ["stored"] * 17
    for now in (END + WINDOW - DAY, END + WINDOW - US):
        lines = await _step(pool, settings, maintenance.erase_subscribers, now)
        assert await _subscribers(conn) == ["A", "B", "C", "D", "N"], now
        assert lines == [f"no subscriber due for erasure (contract ended on or before "
                         f"{(now - WINDOW).isoformat()})"]  # fmt: skip
    lines = await _step(pool, settings, maintenance.erase_subscribers, END + WINDOW)
    assert lines == ["erased 1 subscriber of 1 due"]
    assert await _subscribers(conn) == ["B", "C", "D", "N"]
    # B's contract ended a day later: a day later B goes; C and D (a customer again) stay.
    lines = await _step(pool, settings, maintenance.erase_subscribers, END + DAY + WINDOW)
    assert lines == ["erased 1 subscriber of 1 due"]
    assert await _subscribers(conn) == ["C", "D", "N"]
    lines = await _step(pool, settings, maintenance.erase_subscribers, END + 40 * WINDOW)
    assert await _subscribers(conn) == ["C", "D", "N"]


async def test_an_erasure_takes_the_history_and_is_audited_by_digest_only(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    settings = rs.settings(database_url)
    await registry.apply_changes(conn, a_history() + others())
    audited_before = await audit.next_index(conn)
    now = END + WINDOW + timedelta(hours=5)
    await _step(pool, settings, maintenance.erase_subscribers, now)
    for table in ("subscriber", "subscriber_identity", "subscriber_change"):
        left = await conn.fetchval(f"SELECT count(*) FROM ruaj.{table} WHERE subscriber_id = 'A'")
        assert left == 0, table
    # A's holding of the recycled MSISDN is gone; N's, from the hand-over on, is not.
    assert await registry.holders_at(conn, "MSISDN", MSISDN, END - DAY) == []
    holders = await registry.holders_at(conn, "MSISDN", MSISDN, END + 3 * DAY)
    assert [h.subscriber_id for h in holders] == ["N"]
    assert await registry.holders_at(conn, "IMSI", IMSI, START + DAY) == []

    entries = await audit.entries(conn, audited_before, await audit.next_index(conn))
    assert [e.kind for e in entries] == ["registry.subscriber_erased"]
    digest = audit.identifier_digest("subscriber", "A")
    assert entries[0].details == {
        "subscriber": digest,
        "contract_end": END.isoformat(),
        "horizon": (now - WINDOW).isoformat(),
        "identities": 3,  # MSISDN, IMSI and ICCID holdings
        "changes": 9,
    }
    # Nothing of what named A is in the entry: not the id, an identifier, nor the KYC data.
    text = entries[0].entry.decode()
    for value in (MSISDN, IMSI, ICCID, *KYC.values()):
        assert value not in text
    assert '"A"' not in text
    erasures = await conn.fetch(
        "SELECT subscriber_digest, contract_end, erased_through FROM ruaj.subscriber_erasure"
    )
    # Events of A up to the later of the horizon and A's last change are ignored from now on.
    assert [tuple(r) for r in erasures] == [(digest, END, END + 7 * DAY)]


async def test_a_replay_of_an_erased_subscriber_does_not_bring_them_back(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    settings = rs.settings(database_url)
    history = a_history()
    topic = history + others()
    await registry.apply_changes(conn, topic)
    # Erased 200 days after they were due: the horizon is then END + 200 days.
    await _step(pool, settings, maintenance.erase_subscribers, END + WINDOW + 200 * DAY)
    assert "A" not in await _subscribers(conn)
    erased = await _registry(conn)
    # The whole topic again, and A's history alone in reverse: the events after the contract
    # end (late TERMINATE, SIM release, address correction) are duplicates too, and nothing
    # in the registry changes.
    assert await registry.apply_changes(conn, topic) == ["duplicate"] * len(topic)
    assert await registry.apply_changes(conn, history[::-1]) == ["duplicate"] * len(history)
    assert await _registry(conn) == erased
    # An event of A never seen before is a duplicate too if it is older than the horizon of
    # the erasure, even when it is newer than anything A had; a newer one is a new contract's.
    late = change("A", "UPSERT", END + 100 * DAY, city="Peja")
    assert await registry.apply_changes(conn, [late]) == ["duplicate"]
    assert await _registry(conn) == erased
    fresh = change("A", "UPSERT", END + 201 * DAY, contract_start=END + 201 * DAY)
    assert await registry.apply_changes(conn, [fresh]) == ["stored"]
    row = await conn.fetchrow("SELECT * FROM ruaj.subscriber WHERE subscriber_id = 'A'")
    assert row is not None
    assert (row["given_name"], row["address"], row["contract_end"]) == (None, None, None)


async def test_erasure_goes_in_bounded_batches_and_reports_progress(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    settings = rs.settings(database_url, registry_erasure_batch_size=2)
    due = [change(f"S{n}", "TERMINATE", END - n * DAY) for n in range(5)]
    later = [change("S9", "TERMINATE", END + DAY)]
    await registry.apply_changes(conn, due + later)
    counted = _counter("ruaj_registry_subscribers_erased_total")
    audited = await audit.next_index(conn)
    lines = await _step(pool, settings, maintenance.erase_subscribers, END + WINDOW)
    assert lines == ["erased 2 subscribers of 5 due", "erased 4 subscribers of 5 due",
                     "erased 5 subscribers of 5 due"]  # fmt: skip
    assert await _subscribers(conn) == ["S9"]
    assert _counter("ruaj_registry_subscribers_erased_total") - counted == 5
    entries = await audit.entries(conn, audited, await audit.next_index(conn))
    # Oldest contract end first, each named by its digest.
    assert [e.details["subscriber"] for e in entries] == [
        audit.identifier_digest("subscriber", f"S{n}") for n in (4, 3, 2, 1, 0)
    ]


async def test_a_pass_needs_only_the_maintenance_role(
    conn: db.Connection, database_url: str
) -> None:
    await registry.apply_changes(conn, [change("A", "TERMINATE", END)])
    await store_sessions(conn, [session("s1", "START", END, start=END)])
    settings = rs.settings(database_url)

    async def as_maintenance(connection: asyncpg.pool.PoolConnectionProxy[db.Record]) -> None:
        await connection.execute("SET ROLE ruaj_maintenance")

    limited = await asyncpg.create_pool(database_url, min_size=1, max_size=1, setup=as_maintenance)
    try:
        async with limited.acquire() as probe:
            assert await probe.fetchval("SELECT current_user") == "ruaj_maintenance"
            assert not await probe.fetchval(
                "SELECT has_table_privilege('ruaj.subscriber', 'SELECT')"
            )
        outcome, lines = await rs.run_pass(limited, settings, END + WINDOW)
    finally:
        await limited.close()
    assert outcome.ok, outcome.failed
    assert "erased 1 subscriber of 1 due" in lines
    assert "dropped ip_session_p20230630: 1 rows, 0 kept under hold" in lines
    assert "pruned 1 IP session spans last seen before 2025-06-29T00:00:00+00:00" in lines
    assert await _subscribers(conn) == []
    assert await _spans(conn) == []


async def test_spans_are_pruned_once_retention_has_dropped_their_records(
    conn: db.Connection, pool: db.Pool, database_url: str
) -> None:
    settings = rs.settings(database_url, retention_ip_session_days=30)
    old = datetime(2026, 5, 10, 22, 0, tzinfo=UTC)  # its day ends 2026-05-11 00:00
    await store_sessions(conn, [
        session("old", "START", old, start=old),
        session("old", "STOP", old + timedelta(minutes=30), start=old,
                end=old + timedelta(minutes=30)),
        session("kept", "START", old + DAY, start=old + DAY, public_ip="198.18.0.2"),
    ])  # fmt: skip
    steps = [maintenance.NamedStep("retention", maintenance.drop_expired),
             maintenance.NamedStep("session_spans", maintenance.prune_session_spans)]  # fmt: skip
    # At this instant the cutoff lies inside 2026-05-11: the day of "old" is due, not the next.
    now = datetime(2026, 6, 10, 6, 0, tzinfo=UTC)
    assert retention.cutoff(settings, "ip_session", now).date().isoformat() == "2026-05-11"

    # While the drop cannot get its lock, "old" stays attributable: its records are still there.
    blocker = await db.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE ruaj.ip_session_p20260510 IN ACCESS EXCLUSIVE MODE")
            lines: list[str] = []
            ctx = maintenance.Context(now=now, dry_run=False, settings=settings, pool=pool,
                                      report=lines.append)  # fmt: skip
            outcome = await maintenance.run_pass(ctx, steps)
    finally:
        await blocker.close()
    assert outcome.failed == ["retention"]
    assert lines == ["pruned 0 IP session spans last seen before 2026-05-10T00:00:00+00:00"]
    assert await _spans(conn) == ["kept", "old"]
    assert len(await registry.ip_attribution(conn, "198.18.0.1", 1100, old + US)) == 1

    lines = await _step(pool, settings, maintenance.prune_session_spans, now, dry_run=True)
    assert lines == ["would prune IP session spans last seen before 2026-05-10T00:00:00+00:00"]
    pruned = _counter("ruaj_registry_session_spans_pruned_total")
    ctx = maintenance.Context(now=now, dry_run=False, settings=settings, pool=pool,
                              report=lines.append)  # fmt: skip
    assert (await maintenance.run_pass(ctx, steps)).ok
    assert lines[-1] == "pruned 1 IP session spans last seen before 2026-05-11T00:00:00+00:00"
    assert await _spans(conn) == ["kept"]
    assert _counter("ruaj_registry_session_spans_pruned_total") - pruned == 1
