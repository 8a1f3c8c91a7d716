"""Helpers for execution tests: officers, approved orders, event rows written as ingest would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import x25519

from ingest import codec
from store import db, orders, partitions
from tests.audit_support import login_role
from tests.orders_support import COURT, encode, order_document, recipient_key_pem


@asynccontextmanager
async def officer_connections(
    admin: db.Connection, database_url: str, count: int = 3
) -> AsyncIterator[list[db.Connection]]:
    """`count` connections, each logged in as a distinct member of ruaj_officer."""
    async with AsyncExitStack() as stack:
        connections = []
        for _ in range(count):
            url = await stack.enter_async_context(login_role(admin, database_url, "ruaj_officer"))
            officer = await db.connect(url)
            stack.push_async_callback(officer.close)
            connections.append(officer)
        yield connections


async def add_court(admin: db.Connection) -> int:
    """Register the test court (its anchor is never used: orders are marked verified here)."""
    now = datetime.now(UTC)
    return await orders.add_authority(
        admin, name=COURT, kind="court", trust_anchor=b"-----BEGIN CERTIFICATE-----\n",
        crl=b"\x30\x00", crl_this_update=now, crl_next_update=now + timedelta(days=1),
    )  # fmt: skip


async def verified_order(
    importer: db.Connection,
    tasks: Sequence[dict[str, Any]],
    agency: x25519.X25519PrivateKey,
    *,
    reference: str = "PPS-2026-0451",
) -> int:
    """An order for `tasks`, imported and marked verified by `importer` (signature checks are
    the orders tests' concern); returns its id."""
    document = order_document(
        reference=reference, tasks=tasks, recipient_key=recipient_key_pem(agency)
    )
    received = await orders.receive(importer, encode(document), b"sig", well_formed=True)
    state = await orders.mark_verified(
        importer, received.order_id, signer_subject="CN=Judge",
        signer_certificate=b"cert", signed_at=datetime.now(UTC),
    )  # fmt: skip
    assert state == "verified"
    return received.order_id


async def approved_order(
    officers: Sequence[db.Connection],
    tasks: Sequence[dict[str, Any]],
    agency: x25519.X25519PrivateKey,
    **kw: Any,
) -> int:
    """An order imported by officers[0] and approved by officers[1] and officers[2]."""
    order_id = await verified_order(officers[0], tasks, agency, **kw)
    for officer in officers[1:3]:
        outcome = await orders.approve(officer, order_id)
        assert outcome.refused is None
    assert outcome.state == "approved"
    return order_id


def task(
    task_id: str, task_type: str, kind: str, value: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """A task of an order document with a time range."""
    return {
        "task_id": task_id,
        "type": task_type,
        "identifier": {"kind": kind, "value": value},
        "from": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "to": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


async def write_rows(admin: db.Connection, table: str, rows: Iterable[tuple[object, ...]]) -> int:
    """COPY rows (in `codec.COLUMNS[table]` order) into an event table, partitions made first."""
    rows = list(rows)
    time_index = 1 if table != "ip_session" else 3
    for day in {partitions.day_of(row[time_index]) for row in rows}:  # type: ignore[arg-type]
        await partitions.ensure(admin, table, day)
    await admin.copy_records_to_table(
        table, schema_name="ruaj", records=rows, columns=list(codec.COLUMNS[table])
    )
    return len(rows)


def cdr(
    event_id: object,
    at: datetime,
    calling: str,
    called: str,
    *,
    served: str | None = None,
    forwarded_to: str | None = None,
    cell: str = "295-01-1001-1",
) -> tuple[object, ...]:
    """A CDR row in COLUMNS order."""
    return (
        event_id, at, at + timedelta(minutes=2), "VOICE", "ORIGINATING", calling, called,
        forwarded_to, served or calling, "295010000000001", "356938035643809", cell, cell,
        "NORMAL_CLEARING", "msc-1",
    )  # fmt: skip
