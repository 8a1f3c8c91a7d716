"""The registry in PostgreSQL: identity history, change folding, resolution functions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store import db, errors, registry
from tests.registry_support import T0, US, assign, change, release

pytestmark = pytest.mark.integration

MSISDN = "38344123456"
HOUR = timedelta(hours=1)


async def _snapshot(conn: db.Connection) -> tuple[list[object], ...]:
    return (
        [tuple(r) for r in await conn.fetch("SELECT * FROM ruaj.subscriber ORDER BY 1")],
        [tuple(r) for r in await conn.fetch(
            "SELECT subscriber_id, kind, value, held::text FROM ruaj.subscriber_identity "
            "ORDER BY 1, 2, 3, 4")],
        [tuple(r) for r in await conn.fetch(
            "SELECT event_id FROM ruaj.subscriber_change ORDER BY 1")],
    )  # fmt: skip


async def test_recycled_msisdn_resolves_on_each_side_of_the_hand_over(
    conn: db.Connection,
) -> None:
    handover = T0 + 48 * HOUR
    results = await registry.apply_changes(conn, [
        assign("A", "MSISDN", MSISDN, T0),
        release("A", "MSISDN", MSISDN, handover),
        assign("B", "MSISDN", MSISDN, handover),
    ])  # fmt: skip
    assert results == ["stored"] * 3
    before = await registry.holders_at(conn, "msisdn", MSISDN, handover - US)
    at = await registry.holders_at(conn, "MSISDN", MSISDN, handover)
    assert [h.subscriber_id for h in before] == ["A"]
    assert before[0].held_from == T0 and before[0].held_to == handover
    assert [h.subscriber_id for h in at] == ["B"]
    assert at[0].held_to is None
    assert await registry.holders_at(conn, "MSISDN", MSISDN, T0 - US) == []
    both = await registry.identity_holders(conn, "MSISDN", MSISDN, T0, handover + HOUR)
    assert [h.subscriber_id for h in both] == ["A", "B"]
    # [from, to) ends before the hand-over: only A.
    only_a = await registry.identity_holders(conn, "MSISDN", MSISDN, T0, handover)
    assert [h.subscriber_id for h in only_a] == ["A"]


async def test_overlapping_assignment_is_refused_and_leaves_no_trace(
    conn: db.Connection,
) -> None:
    await registry.apply_changes(conn, [assign("A", "MSISDN", MSISDN, T0)])
    before = await _snapshot(conn)
    results = await registry.apply_changes(conn, [
        assign("B", "MSISDN", MSISDN, T0 + HOUR),
        assign("B", "IMSI", "221020000000001", T0 + HOUR),
    ])  # fmt: skip
    assert results == ["identity_overlap", "stored"]
    holders = await registry.holders_at(conn, "MSISDN", MSISDN, T0 + 2 * HOUR)
    assert [h.subscriber_id for h in holders] == ["A"]
    after = await _snapshot(conn)
    assert after[1] == [*before[1], ("B", "IMSI", "221020000000001", '["2026-10-03 19:00:00+00",)')]
    assert len(after[2]) == len(before[2]) + 1  # the refused event is not in the change log


async def test_an_assignment_before_the_previous_holder_released_is_refused(
    conn: db.Connection,
) -> None:
    await registry.apply_changes(conn, [
        assign("A", "MSISDN", MSISDN, T0), release("A", "MSISDN", MSISDN, T0 + 2 * HOUR),
    ])  # fmt: skip
    assert await registry.apply_changes(conn, [assign("B", "MSISDN", MSISDN, T0 + HOUR)]) == [
        "identity_overlap"
    ]
    assert await registry.apply_changes(conn, [assign("B", "MSISDN", MSISDN, T0 + 2 * HOUR)]) == [
        "stored"
    ]


async def test_replaying_everything_changes_nothing(conn: db.Connection) -> None:
    batch = [
        change("A", "UPSERT", T0, given_name="Arta", family_name="Krasniqi", city="Prishtina",
               contract_start=T0),
        assign("A", "MSISDN", MSISDN, T0),
        assign("A", "IMSI", "221020000000001", T0),
        assign("A", "ICCID", "8938302000000000018", T0),
        release("A", "IMSI", "221020000000001", T0 + HOUR),
        assign("A", "IMSI", "221020000000002", T0 + HOUR),
        change("A", "TERMINATE", T0 + 5 * HOUR),
        release("A", "MSISDN", MSISDN, T0 + 5 * HOUR),
    ]  # fmt: skip
    assert await registry.apply_changes(conn, batch) == ["stored"] * len(batch)
    first = await _snapshot(conn)
    assert await registry.apply_changes(conn, batch) == ["duplicate"] * len(batch)
    assert await registry.apply_changes(conn, list(reversed(batch))) == ["duplicate"] * len(batch)
    assert await _snapshot(conn) == first


async def test_arrival_order_does_not_change_the_outcome(
    conn: db.Connection, database_url: str
) -> None:
    batch = [
        change("A", "UPSERT", T0, given_name="Arta", city="Prishtina", contract_start=T0),
        change("A", "UPSERT", T0 + HOUR, city="Prizren"),
        assign("A", "MSISDN", MSISDN, T0),
        release("A", "MSISDN", MSISDN, T0 + 3 * HOUR),
        assign("A", "MSISDN", MSISDN, T0 + 4 * HOUR),
        change("A", "TERMINATE", T0 + 6 * HOUR, contract_end=T0 + 7 * HOUR),
    ]  # fmt: skip
    await registry.apply_changes(conn, list(reversed(batch)))
    reversed_state = await _snapshot(conn)
    await conn.execute("TRUNCATE ruaj.subscriber, ruaj.subscriber_identity, ruaj.subscriber_change")
    await registry.apply_changes(conn, batch)
    assert await _snapshot(conn) == reversed_state
    row = await conn.fetchrow("SELECT * FROM ruaj.subscriber WHERE subscriber_id = 'A'")
    assert row is not None
    assert row["given_name"] == "Arta"  # kept: the later UPSERT does not carry it
    assert row["city"] == "Prizren"  # the later value, although it arrived first
    assert row["contract_start"] == T0
    assert row["contract_end"] == T0 + 7 * HOUR
    held = await registry.identity_holders(conn, "MSISDN", MSISDN, T0, T0 + 10 * HOUR)
    assert [(h.held_from, h.held_to) for h in held] == [
        (T0, T0 + 3 * HOUR),
        (T0 + 4 * HOUR, None),
    ]


async def test_terminate_without_an_end_ends_the_contract_at_its_event_time(
    conn: db.Connection,
) -> None:
    await registry.apply_changes(conn, [
        change("A", "UPSERT", T0, contract_start=T0), change("A", "TERMINATE", T0 + HOUR),
    ])  # fmt: skip
    assert (
        await conn.fetchval("SELECT contract_end FROM ruaj.subscriber WHERE subscriber_id = 'A'")
        == T0 + HOUR
    )


async def test_subscriber_identities_over_a_range(conn: db.Connection) -> None:
    await registry.apply_changes(conn, [
        assign("A", "MSISDN", MSISDN, T0),
        assign("A", "IMSI", "221020000000001", T0),
        release("A", "IMSI", "221020000000001", T0 + 2 * HOUR),  # SIM swap
        assign("A", "IMSI", "221020000000002", T0 + 2 * HOUR),
    ])  # fmt: skip
    early = await registry.subscriber_identities(conn, "A", T0, T0 + HOUR)
    assert [(i.kind, i.value) for i in early] == [
        ("IMSI", "221020000000001"), ("MSISDN", MSISDN),
    ]  # fmt: skip
    span = await registry.subscriber_identities(conn, "A", T0, T0 + 3 * HOUR)
    assert [(i.kind, i.value, i.held_to) for i in span] == [
        ("IMSI", "221020000000001", T0 + 2 * HOUR),
        ("IMSI", "221020000000002", None),
        ("MSISDN", MSISDN, None),
    ]
    at_swap = await registry.subscriber_identities(conn, "A", T0 + 2 * HOUR, T0 + 2 * HOUR)
    assert [i.value for i in at_swap if i.kind == "IMSI"] == ["221020000000002"]
    assert await registry.subscriber_identities(conn, "nobody", T0, T0 + HOUR) == []


async def test_a_reversed_range_is_an_error(conn: db.Connection) -> None:
    with pytest.raises(errors.StoreError, match="range lower bound"):
        await registry.identity_holders(conn, "MSISDN", MSISDN, T0 + HOUR, T0)


async def test_the_resolution_functions_are_not_for_officers(conn: db.Connection) -> None:
    granted = await conn.fetch(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'ruaj' AND p.proname = ANY($1::text[]) "
        "AND (has_function_privilege('ruaj_officer', p.oid, 'EXECUTE') "
        "     OR has_function_privilege('ruaj_ingest', p.oid, 'EXECUTE'))",
        ["identity_holders", "subscriber_identities", "imei_imsis", "ip_attribution"],
    )
    assert granted == []
    owners = await conn.fetch(
        "SELECT DISTINCT p.proowner::regrole::text AS owner FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'ruaj' "
        "AND p.proname IN ('identity_holders', 'ip_attribution')"
    )
    assert [r["owner"] for r in owners] == ["ruaj_owner"]


async def test_ingest_applies_changes_without_table_privileges(conn: db.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE ruaj_ingest")
        results = await registry.apply_changes(conn, [assign("A", "MSISDN", MSISDN, T0)])
    assert results == ["stored"]
    for table in ("subscriber", "subscriber_identity", "subscriber_change", "ip_session_span"):
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert not await conn.fetchval(
                "SELECT has_table_privilege('ruaj_ingest', $1, $2)", f"ruaj.{table}", privilege
            )
    assert await registry.holders_at(conn, "MSISDN", MSISDN, T0) != []
