"""Officers' decisions through disclosure/lifecycle.py: four eyes refused and explained, reject
and cancel, on orders verified by the real intake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from disclosure import errors, intake, lifecycle
from disclosure.settings import DisclosureSettings
from store import audit, db, orders
from tests import pki as test_pki
from tests.intake_support import kinds_since, register, signed
from tests.release_support import officer_connections

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki() -> test_pki.Pki:
    return test_pki.Pki()


@pytest.fixture
async def officers(
    conn: db.Connection, database_url: str, pki: test_pki.Pki
) -> AsyncIterator[list[db.Connection]]:
    async with officer_connections(conn, database_url, count=3) as connections:
        await register(conn, pki)
        yield connections


async def _verified(importer: db.Connection, pki: test_pki.Pki, reference: str) -> int:
    data, signature = signed(pki, reference=reference)
    return (await intake.import_order(importer, DisclosureSettings(), data, signature)).order_id


async def _refusal(conn: db.Connection, order_id: int) -> str:
    with pytest.raises(errors.OrderRefused) as refused:
        await lifecycle.approve(conn, order_id)
    return refused.value.reason


async def test_four_eyes(
    conn: db.Connection, officers: list[db.Connection], pki: test_pki.Pki
) -> None:
    importer, first, second = officers
    order_id = await _verified(importer, pki, "FOUR-EYES")
    since = await audit.size(conn)

    assert await _refusal(importer, order_id) == "importer_approval"
    outcome = await lifecycle.approve(first, order_id)
    assert (outcome.state, outcome.approvals) == ("verified", 1)
    assert await _refusal(first, order_id) == "repeat_approval"
    outcome = await lifecycle.approve(second, order_id)
    assert (outcome.state, outcome.approvals) == ("approved", 2)
    assert await _refusal(importer, order_id) == "wrong_state"

    refused = [d["reason_code"] for k, d in await kinds_since(conn, since) if k == "order.refused"]
    assert refused == ["importer_approval", "repeat_approval", "wrong_state"]
    details = await lifecycle.details(first, order_id)
    names = [await c.fetchval("SELECT session_user") for c in (first, second)]
    assert [a.officer for a in details.approvals] == names
    assert [t.task_id for t in details.tasks] == ["t1", "t2"]
    assert details.order.state == "approved"


async def test_reject_and_cancel(
    conn: db.Connection, officers: list[db.Connection], pki: test_pki.Pki
) -> None:
    importer, first, _ = officers
    rejected = await _verified(importer, pki, "TO-REJECT")
    assert await lifecycle.reject(first, rejected, "the court withdrew it by phone") == "rejected"
    order = await orders.get(conn, rejected)
    assert order is not None
    assert (order.reason_code, order.reason) == ("officer", "the court withdrew it by phone")
    assert order.closed_by == await first.fetchval("SELECT session_user")
    with pytest.raises(errors.OrderRefused) as again:
        await lifecycle.reject(first, rejected, "twice")
    assert (again.value.reason, "(state rejected)" in str(again.value)) == ("wrong_state", True)
    assert await _refusal(first, rejected) == "wrong_state"

    cancelled = await _verified(importer, pki, "TO-CANCEL")
    assert await lifecycle.cancel(first, cancelled, None) == "cancelled"
    with pytest.raises(errors.OrderRefused) as closed:
        await lifecycle.cancel(first, cancelled, None)
    assert closed.value.reason == "wrong_state"
    with pytest.raises(errors.InvalidInput):
        await lifecycle.reject(first, cancelled, "   ")
    with pytest.raises(errors.OrderRefused) as missing:
        await lifecycle.approve(first, 999_999)
    assert missing.value.reason == "no_order"
