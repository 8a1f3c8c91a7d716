"""`ruaj maintain` expires orders past their validity, by the database's clock, audited; a dry
run only counts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store import audit, db, maintenance, orders
from tests import retention_support as rs
from tests.audit_support import login_role
from tests.orders_support import encode, order_document
from tests.release_support import add_court, officer_connections

pytestmark = pytest.mark.integration


async def test_maintain_expires_open_orders_past_their_validity(
    conn: db.Connection, database_url: str
) -> None:
    await add_court(conn)
    now = datetime.now(UTC)
    async with officer_connections(conn, database_url, 1) as (officer,):
        past = await orders.receive(
            officer, encode(order_document(reference="PPS-OLD", valid_from=now - timedelta(days=3),
                                           valid_for=timedelta(days=1))),
            b"sig", well_formed=True,
        )  # fmt: skip
        current = await orders.receive(
            officer, encode(order_document(reference="PPS-NOW")), b"sig", well_formed=True
        )
    async with login_role(conn, database_url, "ruaj_maintenance") as url:
        pool = await db.create_pool(rs.settings(url))
        try:
            lines: list[str] = []
            for dry_run in (True, False):
                ctx = maintenance.Context(now=now, dry_run=dry_run, settings=rs.settings(url),
                                          pool=pool, report=lines.append)  # fmt: skip
                await maintenance.expire_orders(ctx)
                if dry_run:
                    assert lines == ["would expire 1 order(s) past their validity "
                                     "(the database's clock)"]  # fmt: skip
                    old = await orders.get(conn, past.order_id)
                    assert old is not None and old.state == "received"
        finally:
            await pool.close()
    assert lines[-1] == f"expired 1 order(s) past their validity: {past.order_id}"
    states = {o.order_reference: o.state for o in await orders.list_orders(conn)}
    assert states == {"PPS-OLD": "expired", "PPS-NOW": "received"}
    expired = [e for e in await audit.entries(conn, 0, 1 << 62) if e.kind == "order.expired"]
    assert [e.details["order_id"] for e in expired] == [past.order_id]
    assert current.order_id != past.order_id
