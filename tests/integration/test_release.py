"""Execution enforced in the database (migration 0009): guarded functions, the release, refusals.

Officers are real login roles; every read goes through `ruaj.disclose_<type>`; what the database
refuses is refused whatever the client does.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from disclosure import errors, execute, keys, package
from disclosure.settings import DisclosureSettings
from ingest import codec
from store import audit, db, orders, release
from store import errors as store_errors
from tests.audit_support import make_settings
from tests.release_support import (
    add_court,
    approved_order,
    cdr,
    officer_connections,
    task,
    verified_order,
    write_rows,
)

pytestmark = pytest.mark.integration

TARGET = "38344123456"
OTHER = "38344999999"
T0 = datetime(2026, 9, 1, tzinfo=UTC)
FROM, TO = T0, T0 + timedelta(days=30)


@pytest.fixture
async def officers(conn: db.Connection, database_url: str) -> AsyncIterator[list[db.Connection]]:
    async with officer_connections(conn, database_url) as connections:
        await add_court(conn)
        yield connections


@pytest.fixture
def settings(tmp_path: Path) -> DisclosureSettings:
    return make_settings(tmp_path)


@pytest.fixture
def agency() -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.generate()


def _id(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


async def _traffic(conn: db.Connection) -> set[uuid.UUID]:
    """CDRs around TARGET; returns the ids of those a traffic_data task over [FROM, TO) must
    release: TARGET as calling, called, forwarded-to or (third party) served number."""
    rows = [
        cdr(_id(1), T0 + timedelta(hours=1), TARGET, OTHER),
        cdr(_id(2), T0 + timedelta(days=3), OTHER, TARGET, served=TARGET),
        cdr(_id(3), T0 + timedelta(days=5), OTHER, "38344000001", forwarded_to=TARGET),
        cdr(_id(4), T0 + timedelta(days=7), OTHER, "38344000001", served=TARGET),
        cdr(_id(5), TO - timedelta(microseconds=1), TARGET, OTHER),
        # outside: before, at the exclusive end, after, other parties
        cdr(_id(10), FROM - timedelta(microseconds=1), TARGET, OTHER),
        cdr(_id(11), TO, TARGET, OTHER),
        cdr(_id(12), TO + timedelta(days=2), OTHER, TARGET),
        cdr(_id(13), T0 + timedelta(days=4), OTHER, "38344000001"),
        cdr(_id(14), T0 + timedelta(days=4), "38344000002", OTHER, served="38344000002"),
    ]
    await write_rows(conn, "cdr", rows)
    return {_id(n) for n in (1, 2, 3, 4, 5)}


async def _entries(conn: db.Connection, since: int = 0) -> list[audit.AuditEntry]:
    return await audit.entries(conn, since, 1 << 62)


async def test_execute_releases_exactly_the_tasks_rows_and_the_agency_opens_them(
    conn: db.Connection,
    officers: list[db.Connection],
    settings: DisclosureSettings,
    agency: x25519.X25519PrivateKey,
    tmp_path: Path,
) -> None:
    expected = await _traffic(conn)
    tasks = [task("t1", "traffic_data", "msisdn", TARGET, FROM, TO)]
    order_id = await approved_order(officers, tasks, agency)
    executor = officers[1]

    outcome = await execute.execute(executor, settings, order_id, tmp_path / "out")

    assert outcome.path == tmp_path / "out" / f"order-{order_id}.ruajpkg"
    assert [(t.task_id, t.rows) for t in outcome.tasks] == [("t1", len(expected))]
    opened = package.open_package(
        outcome.path.read_bytes(),
        agency_key=agency,
        operator=keys.load_operator_key(settings).public_key(),
    )
    rows = list(csv.DictReader(io.StringIO(opened.files["data/task-01-traffic_data.csv"].decode())))
    assert {uuid.UUID(r["event_id"]) for r in rows} == expected
    assert len(rows) == len(expected)
    as_json = json.loads(opened.files["data/task-01-traffic_data.json"])
    assert [r["event_id"] for r in as_json["rows"]] == [r["event_id"] for r in rows]
    assert as_json["rows"][0]["start_time"] == "2026-09-01T01:00:00.000000Z"

    order = await orders.get(conn, order_id)
    assert order is not None and order.state == "disclosed"
    entries = await _entries(conn)
    released = [e for e in entries if e.kind == "order.disclosed"]
    assert len(released) == 1
    assert released[0].index == outcome.audit_index == opened.receipt.index
    assert released[0].details["package_sha256"] == outcome.package_sha256
    assert released[0].details["tasks"] == [
        {"task_id": "t1", "task_type": "traffic_data", "rows": len(expected)}
    ]
    reads = [e for e in entries if e.kind == "order.task_read"]
    assert [(e.details["task_id"], e.details["rows"]) for e in reads] == [("t1", len(expected))]
    # No identifier in clear anywhere in the log.
    assert not any(TARGET.encode() in e.entry for e in entries)

    # Once disclosed, the order serves nothing more.
    with pytest.raises(errors.Refused, match="not approved"):
        await execute.execute(executor, settings, order_id, tmp_path / "again")


async def test_execution_with_one_approval_is_refused_and_audited(
    conn: db.Connection,
    officers: list[db.Connection],
    settings: DisclosureSettings,
    agency: x25519.X25519PrivateKey,
    tmp_path: Path,
) -> None:
    await _traffic(conn)
    tasks = [task("t1", "traffic_data", "msisdn", TARGET, FROM, TO)]
    order_id = await verified_order(officers[0], tasks, agency)
    assert (await orders.approve(officers[1], order_id)).state == "verified"
    size = await audit.size(conn)

    with pytest.raises(errors.Refused, match=r"not approved.*\[not_approved\]"):
        await execute.execute(officers[1], settings, order_id, tmp_path / "out")

    assert not list((tmp_path / "out").iterdir())
    order = await orders.get(conn, order_id)
    assert order is not None and order.state == "verified"
    refused = [(e.kind, e.details) for e in await _entries(conn, size)]
    assert [(k, d["action"], d["reason_code"]) for k, d in refused] == [
        ("order.refused", "execute", "not_approved")
    ]
    # And directly: the guarded function itself refuses.
    with pytest.raises(release.ReleaseRefused) as caught:
        await release.read(officers[1], order_id, "t1", "traffic_data", TARGET, FROM, TO)
    assert caught.value.reason == "not_approved"


async def test_execution_of_a_rejected_order_is_refused(
    conn: db.Connection,
    officers: list[db.Connection],
    settings: DisclosureSettings,
    agency: x25519.X25519PrivateKey,
    tmp_path: Path,
) -> None:
    tasks = [task("t1", "traffic_data", "msisdn", TARGET, FROM, TO)]
    order_id = await verified_order(officers[0], tasks, agency)
    assert await orders.reject(officers[1], order_id, "officer", "not proportionate") == "rejected"
    with pytest.raises(errors.Refused, match=r"\[not_approved\]"):
        await execute.execute(officers[2], settings, order_id, tmp_path / "out")
    with pytest.raises(release.ReleaseRefused):
        await release.read(officers[2], order_id, "t1", "traffic_data", TARGET, FROM, TO)
    order = await orders.get(conn, order_id)
    assert order is not None and order.state == "rejected"


async def test_direct_calls_outside_the_task_are_refused(
    conn: db.Connection, officers: list[db.Connection], agency: x25519.X25519PrivateKey
) -> None:
    await _traffic(conn)
    tasks = [
        task("t1", "traffic_data", "msisdn", TARGET, FROM, TO),
        task("t2", "cell_dump", "cell", "295-01-1001-1", T0, T0 + timedelta(hours=6)),
    ]
    order_id = await approved_order(officers, tasks, agency)
    officer = officers[2]
    inside = await release.read(officer, order_id, "t1", "traffic_data", TARGET, FROM, TO)
    assert len(inside.rows) == 5
    narrower = await release.read(
        officer, order_id, "t1", "traffic_data", TARGET, FROM, FROM + timedelta(days=4)
    )
    assert {r[0] for r in narrower.rows} == {_id(1), _id(2)}

    refusals = {
        "wrong_identifier": ("t1", "traffic_data", OTHER, FROM, TO),
        "outside_range": ("t1", "traffic_data", TARGET, FROM - timedelta(seconds=1), TO),
        "wrong_task_type": ("t1", "sms_data", TARGET, FROM, TO),
        "no_task": ("t9", "traffic_data", TARGET, FROM, TO),
        "window_too_long": ("t2", "cell_dump", "295-01-1001-1", T0, T0 + timedelta(hours=3)),
    }
    for reason, (task_id, task_type, identifier, start, end) in refusals.items():
        with pytest.raises(release.ReleaseRefused) as caught:
            await release.read(officer, order_id, task_id, task_type, identifier, start, end)
        assert caught.value.reason == reason
    later = await release.read(
        officer, order_id, "t2", "cell_dump", "295-01-1001-1", T0, T0 + timedelta(hours=2)
    )
    assert [r[1] for r in later.rows] == [_id(1)]
    assert later.columns[:3] == ("source", "event_id", "event_time")

    # Raw SQL with a wider range, as a client that skips `ruaj` would send it.
    with pytest.raises(store_errors.InsufficientPrivilege):
        async with db.translated():
            await officer.fetch(
                "SELECT * FROM ruaj.disclose_traffic_data($1, 't1', $2, $3, $4)",
                order_id, TARGET, FROM, TO + timedelta(days=365),
            )  # fmt: skip


async def test_officers_cannot_read_event_hold_or_subscriber_tables(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    await _traffic(conn)
    for table in (
        "ruaj.cdr", "ruaj.cdr_p20260901", "ruaj.sms", "ruaj.imei_observation", "ruaj.ip_session",
        "ruaj.held_cdr", "ruaj.subscriber", "ruaj.subscriber_identity", "ruaj.release_read",
    ):  # fmt: skip
        with pytest.raises(store_errors.InsufficientPrivilege, match="permission denied"):
            async with db.translated():
                await officers[0].fetch(f"SELECT * FROM {table} LIMIT 1")
    # Nor call the helpers behind the guarded functions, nor the resolution functions.
    for call in (
        "SELECT ruaj.release_scope(1, 't1', 'traffic_data', 'x', now(), now())",
        "SELECT * FROM ruaj.identity_holders('msisdn', 'x', now(), now())",
    ):
        with pytest.raises(store_errors.InsufficientPrivilege):
            async with db.translated():
                await officers[0].fetch(call)


async def test_release_needs_every_task_read_in_the_same_transaction(
    conn: db.Connection, officers: list[db.Connection], agency: x25519.X25519PrivateKey
) -> None:
    await _traffic(conn)
    tasks = [
        task("t1", "traffic_data", "msisdn", TARGET, FROM, TO),
        task("t2", "sms_data", "msisdn", TARGET, FROM, TO),
    ]
    order_id = await approved_order(officers, tasks, agency)
    officer = officers[1]
    await release.read(officer, order_id, "t1", "traffic_data", TARGET, FROM, TO)
    with pytest.raises(release.ReleaseRefused) as caught:
        async with officer.transaction():
            await release.read(officer, order_id, "t2", "sms_data", TARGET, FROM, TO)
            await release.mark_disclosed(officer, order_id, "ab" * 32)
    assert caught.value.reason == "task_not_read"
    order = await orders.get(conn, order_id)
    assert order is not None and order.state == "approved"


async def test_held_rows_are_released_once_beside_live_ones(
    conn: db.Connection,
    officers: list[db.Connection],
    settings: DisclosureSettings,
    agency: x25519.X25519PrivateKey,
    tmp_path: Path,
) -> None:
    expected = await _traffic(conn)
    columns = ", ".join(codec.COLUMNS["cdr"])
    # One row only in hold storage (its partition dropped), one in both places.
    held_only = cdr(_id(20), T0 + timedelta(days=9), TARGET, OTHER)
    await conn.execute(
        f"INSERT INTO ruaj.held_cdr ({columns}) VALUES "
        f"({', '.join(f'${i + 1}' for i in range(len(held_only)))})",
        *held_only,
    )
    await conn.execute(
        f"INSERT INTO ruaj.held_cdr ({columns}) SELECT {columns} FROM ruaj.cdr WHERE event_id = $1",
        _id(1),
    )
    tasks = [task("t1", "traffic_data", "msisdn", TARGET, FROM, TO)]
    order_id = await approved_order(officers, tasks, agency)
    outcome = await execute.execute(officers[1], settings, order_id, tmp_path)
    opened = package.open_package(
        outcome.path.read_bytes(),
        agency_key=agency,
        operator=keys.load_operator_key(settings).public_key(),
    )
    ids = [
        r["event_id"] for r in json.loads(opened.files["data/task-01-traffic_data.json"])["rows"]
    ]
    assert sorted(ids) == sorted(str(i) for i in expected | {_id(20)})


async def test_preservation_creates_a_hold_and_releases_no_data(
    conn: db.Connection,
    officers: list[db.Connection],
    settings: DisclosureSettings,
    agency: x25519.X25519PrivateKey,
    tmp_path: Path,
) -> None:
    tasks = [task("p1", "preservation", "msisdn", TARGET, FROM, TO)]
    order_id = await approved_order(officers, tasks, agency, reference="PRES-1")
    outcome = await execute.execute(officers[2], settings, order_id, tmp_path)
    assert [(t.task_type, t.rows) for t in outcome.tasks] == [("preservation", 1)]
    hold = await conn.fetchrow("SELECT reference, range_from, range_to FROM ruaj.legal_hold")
    assert hold is not None
    assert (hold["reference"], hold["range_from"], hold["range_to"]) == ("PRES-1/p1", FROM, TO)
    kinds = [e.kind for e in await _entries(conn)]
    assert "hold.added" in kinds and kinds[-1] == "order.disclosed"
