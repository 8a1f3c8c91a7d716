"""The order lifecycle and four eyes, enforced by the database (migration 0006): officers are
real login roles, and each refusal leaves its audit entry."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store import audit, db, errors, orders
from tests.audit_support import login_role
from tests.orders_support import COURT, encode, order_document

pytestmark = pytest.mark.integration


@pytest.fixture
async def officers(conn: db.Connection, database_url: str) -> AsyncIterator[list[db.Connection]]:
    """Three connections, each logged in as a distinct member of ruaj_officer."""
    async with AsyncExitStack() as stack:
        connections = []
        for _ in range(3):
            url = await stack.enter_async_context(login_role(conn, database_url, "ruaj_officer"))
            officer = await db.connect(url)
            stack.push_async_callback(officer.close)
            connections.append(officer)
        yield connections


async def _authority(conn: db.Connection) -> int:
    now = datetime.now(UTC)
    return await orders.add_authority(
        conn, name=COURT, kind="court", trust_anchor=b"-----BEGIN CERTIFICATE-----\n",
        crl=b"\x30\x00", crl_this_update=now, crl_next_update=now + timedelta(days=1),
    )  # fmt: skip


async def _kinds(conn: db.Connection, since: int) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.details) for e in await audit.entries(conn, since, 1 << 62)]


async def _verified(conn: db.Connection, importer: db.Connection, **kw: Any) -> int:
    await _authority(conn)
    received = await orders.receive(importer, encode(order_document(**kw)), b"sig",
                                    well_formed=True)  # fmt: skip
    assert not received.duplicate
    state = await orders.mark_verified(
        importer, received.order_id, signer_subject="CN=Judge",
        signer_certificate=b"cert", signed_at=datetime.now(UTC),
    )  # fmt: skip
    assert state == "verified"
    return received.order_id


async def test_receive_reads_columns_and_tasks_from_the_document(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    authority_id = await _authority(conn)
    document = encode(order_document())
    received = await orders.receive(officers[0], document, b"sig", well_formed=True)
    order = await orders.get(officers[0], received.order_id)
    assert order is not None
    assert order.state == "received"
    assert order.order_hash == hashlib.sha256(document).digest()
    assert (order.order_reference, order.authority_id) == ("PPS-2026-0451", authority_id)
    assert order.imported_by == (await officers[0].fetchval("SELECT session_user"))
    tasks = await orders.tasks(officers[0], received.order_id)
    assert [(t.task_id, t.task_type, t.identifier_kind) for t in tasks] == [
        ("t1", "traffic_data", "msisdn"),
        ("t2", "ip_attribution", "public_ip"),
    ]
    assert tasks[1].port == 40211 and tasks[1].range_from is None
    assert tasks[0].range_to == datetime(2026, 11, 1, tzinfo=UTC)
    entry = (await audit.entries(conn, 0, 100))[-1]
    assert entry.kind == "order.received"
    assert entry.details["order_hash"] == hashlib.sha256(document).hexdigest()
    assert entry.details["tasks"] == 2
    # The database's canonical JSON is the one store/audit.py makes (the verifier relies on it).
    assert (
        b',"details":' + audit.canonical_json(entry.details).encode() + b',"index"' in entry.entry
    )
    # No identifier in clear in the log.
    assert b"38344123456" not in entry.entry and b"203.0.113.7" not in entry.entry


async def test_the_same_document_twice_is_refused_and_audited(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    await _authority(conn)
    document = encode(order_document())
    first = await orders.receive(officers[0], document, b"sig", well_formed=True)
    size = await audit.size(conn)
    again = await orders.receive(officers[1], document, b"other", well_formed=True)
    assert again == orders.Received(order_id=first.order_id, duplicate=True)
    assert await conn.fetchval("SELECT count(*) FROM ruaj.disclosure_order") == 1
    [(kind, details)] = await _kinds(conn, size)
    assert kind == "order.refused"
    assert (details["action"], details["reason_code"]) == ("import", "duplicate")


async def test_four_eyes_two_distinct_officers_neither_the_importer(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    importer, first, second = officers
    order_id = await _verified(conn, importer)
    size = await audit.size(conn)

    refused = await orders.approve(importer, order_id)
    assert refused == orders.ApprovalOutcome(state="verified", approvals=0,
                                             refused="importer_approval")  # fmt: skip
    one = await orders.approve(first, order_id)
    assert one == orders.ApprovalOutcome(state="verified", approvals=1, refused=None)
    twice = await orders.approve(first, order_id)
    assert twice.refused == "repeat_approval" and twice.state == "verified"
    two = await orders.approve(second, order_id)
    assert two == orders.ApprovalOutcome(state="approved", approvals=2, refused=None)
    late = await orders.approve(importer, order_id)
    assert late.refused == "wrong_state"

    entries = await _kinds(conn, size)
    assert [(k, d.get("reason_code"), d.get("approvals")) for k, d in entries] == [
        ("order.refused", "importer_approval", None),
        ("order.approval", None, 1),
        ("order.refused", "repeat_approval", None),
        ("order.approval", None, 2),
        ("order.refused", "wrong_state", None),
    ]
    assert entries[3][1]["state"] == "approved"
    names = [await o.fetchval("SELECT session_user") for o in officers]
    assert [d["officer"] for _, d in entries] == [names[0], names[1], names[1], names[2], names[0]]
    approvals = await orders.approvals(importer, order_id)
    assert [a.officer for a in approvals] == names[1:]


async def test_officers_cannot_change_orders_except_through_the_functions(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    importer, first, _ = officers
    order_id = await _verified(conn, importer)
    for statement in (
        "UPDATE ruaj.disclosure_order SET state = 'approved'",
        "INSERT INTO ruaj.order_approval (order_id, officer) VALUES (1, 'x')",
        "DELETE FROM ruaj.order_task",
        "SELECT * FROM ruaj.cdr",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            async with db.translated():
                await first.execute(statement)
    # Only the importer marks its own import verified, and only from `received`.
    with pytest.raises(errors.InsufficientPrivilege):
        await orders.mark_verified(first, order_id, signer_subject="x", signer_certificate=b"x",
                                   signed_at=datetime.now(UTC))  # fmt: skip
    with pytest.raises(errors.InsufficientPrivilege):
        async with db.translated():
            await first.execute("SELECT ruaj.authority_add('x', 'court', '', NULL, NULL, NULL)")


async def test_reject_cancel_and_their_wrong_states(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    importer, first, _ = officers
    order_id = await _verified(conn, importer)
    size = await audit.size(conn)
    assert await orders.reject(first, order_id, "officer", "scope too wide") == "rejected"
    assert await orders.cancel(first, order_id, "late") is None
    assert await orders.approve(first, order_id) == orders.ApprovalOutcome(
        state="rejected", approvals=0, refused="wrong_state"
    )
    order = await orders.get(first, order_id)
    assert order is not None
    assert (order.state, order.reason_code, order.reason) == (
        "rejected",
        "officer",
        "scope too wide",
    )
    kinds = [(k, d.get("reason_code"), d.get("action")) for k, d in await _kinds(conn, size)]
    assert kinds == [
        ("order.rejected", "officer", None),
        ("order.refused", "wrong_state", "cancel"),
        ("order.refused", "wrong_state", "approve"),
    ]
    rejected = (await _kinds(conn, size))[0][1]
    assert rejected["reason_sha256"] == hashlib.sha256(b"scope too wide").hexdigest()

    other = await orders.receive(importer, encode(order_document(reference="PPS-2")), b"s",
                                 well_formed=True)  # fmt: skip
    assert await orders.cancel(first, other.order_id, None) == "cancelled"


async def test_expire_marks_open_orders_past_validity(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    importer = officers[0]
    order_id = await _verified(conn, importer)
    # Moving the clock is not possible; move the order's end instead (as the owner).
    await conn.execute(
        "UPDATE ruaj.disclosure_order SET valid_until = now() - interval '1 second' "
        "WHERE order_id = $1", order_id,
    )  # fmt: skip
    refused = await orders.approve(officers[1], order_id)
    assert refused.refused == "outside_validity"
    size = await audit.size(conn)
    assert await orders.expire(importer) == [order_id]
    assert await orders.expire(importer) == []
    order = await orders.get(importer, order_id)
    assert order is not None and order.state == "expired"
    assert [k for k, _ in await _kinds(conn, size)] == ["order.expired"]


async def test_malformed_document_is_kept_and_can_only_be_rejected(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    importer = officers[0]
    received = await orders.receive(importer, b"\xff not json", b"sig", well_formed=False)
    with pytest.raises(errors.InsufficientPrivilege):
        await orders.mark_verified(
            importer, received.order_id, signer_subject="x", signer_certificate=b"x",
            signed_at=datetime.now(UTC),
        )  # fmt: skip
    assert await orders.reject(importer, received.order_id, "schema", "not JSON") == "rejected"
