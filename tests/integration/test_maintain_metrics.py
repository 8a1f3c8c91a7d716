"""The metrics `ruaj maintain` exports from the database: orders by state, releases and
refusals counted from the audit log (incrementally, whoever acted), the newest partition, the
retention window and the newest checkpoint's size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from disclosure import checkpoint, execute
from disclosure import metrics as disclosure_metrics
from store import db, maintenance, orders, partitions
from tests import retention_support as rs
from tests import support
from tests.audit_support import make_settings
from tests.ingest_support import metric
from tests.orders_support import encode, order_document
from tests.release_support import add_court, approved_order, officer_connections, task

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    made = await db.create_pool(rs.settings(database_url))
    try:
        yield made
    finally:
        await made.close()


def _context(pool: db.Pool, database_url: str, **windows: int) -> maintenance.Context:
    return maintenance.Context(
        now=NOW, dry_run=False, settings=rs.settings(database_url, **windows), pool=pool,
        report=lambda line: None,
    )  # fmt: skip


def _refusals(reason: str) -> float:
    return metric("ruaj_disclosure_refusals_total", reason=reason)


def _releases(task_type: str) -> float:
    return metric("ruaj_disclosure_releases_total", task_type=task_type)


async def test_orders_releases_and_refusals_come_from_the_database_and_the_audit_log(
    conn: db.Connection, database_url: str, pool: db.Pool, tmp_path: Path
) -> None:
    step = disclosure_metrics.maintenance_step()
    ctx = _context(pool, database_url)
    agency = x25519.X25519PrivateKey.generate()
    start, stop = NOW - timedelta(days=30), NOW
    tasks = [task("calls", "traffic_data", "msisdn", "38344123456", start, stop),
             task("texts", "sms_data", "msisdn", "38344123456", start, stop)]  # fmt: skip
    async with officer_connections(conn, database_url) as officers:
        await add_court(conn)
        # The first pass counts what the log held before the service started.
        approved = await approved_order(officers, tasks, agency, reference="M-1")
        refused = await orders.approve(officers[1], approved)  # already approved
        assert refused.refused == "wrong_state"
        before = {"wrong_state": _refusals("wrong_state"), "traffic": _releases("traffic_data")}
        await step(ctx)
        assert await orders.count_by_state(conn) == dict.fromkeys(orders.STATES, 0) | {
            "approved": 1
        }
        assert metric("ruaj_disclosure_orders", state="approved") == 1
        assert metric("ruaj_disclosure_orders", state="disclosed") == 0
        assert _refusals("wrong_state") == before["wrong_state"] + 1
        assert _releases("traffic_data") == before["traffic"]

        # A pass with nothing new adds nothing.
        await step(ctx)
        assert _refusals("wrong_state") == before["wrong_state"] + 1

        # Refusals of other commands and the release, in the log since the last pass.
        document = encode(order_document(reference="M-2", recipient_key=None))
        received = await orders.receive(officers[0], document, b"sig", well_formed=True)
        again = await orders.receive(officers[0], document, b"sig", well_formed=True)
        assert again.duplicate
        assert await orders.reject(officers[0], received.order_id, "revoked", "revoked") == (
            "rejected"
        )
        third = await orders.receive(
            officers[0], encode(order_document(reference="M-3")), b"sig", well_formed=True
        )
        assert await orders.reject(officers[1], third.order_id, "officer", "no") == "rejected"
        settings = make_settings(tmp_path)
        await execute.execute(officers[2], settings, approved, tmp_path / "out")
        counts = {r: _refusals(r) for r in ("duplicate", "revoked", "officer")}
        released = {t: _releases(t) for t in ("traffic_data", "sms_data", "cell_dump")}
        await step(ctx)
    assert _refusals("duplicate") == counts["duplicate"] + 1
    assert _refusals("revoked") == counts["revoked"] + 1  # refused by verification
    assert _refusals("officer") == counts["officer"]  # an officer's decision is no refusal
    assert _releases("traffic_data") == released["traffic_data"] + 1
    assert _releases("sms_data") == released["sms_data"] + 1
    assert _releases("cell_dump") == released["cell_dump"]
    assert metric("ruaj_disclosure_orders", state="disclosed") == 1
    assert metric("ruaj_disclosure_orders", state="approved") == 0
    assert metric("ruaj_disclosure_orders", state="rejected") == 2

    # A service started now (a new tally) counts the whole log from its first entry.
    whole = await orders.outcomes_since(conn, 0)
    assert whole.refusals == {"wrong_state": 1, "duplicate": 1, "revoked": 1}
    assert whole.releases == {"traffic_data": 1, "sms_data": 1}
    assert whole.next_index == await conn.fetchval("SELECT count(*) FROM ruaj.audit_log")
    tail = await orders.outcomes_since(conn, whole.next_index)
    assert (tail.releases, tail.refusals, tail.next_index) == ({}, {}, whole.next_index)


async def test_store_metrics_give_the_newest_partition_and_the_window(
    conn: db.Connection, database_url: str, pool: db.Pool
) -> None:
    days = [date(2026, 11, 1), date(2026, 11, 3), date(2026, 11, 28)]
    for day in days:
        await partitions.ensure(conn, "sms", day)
    await partitions.ensure(conn, "cdr", date(2026, 10, 5))
    ctx = _context(pool, database_url, retention_sms_days=90, retention_traffic_days=400)
    await maintenance.refresh_metrics(ctx)
    midnight = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    assert metric("ruaj_store_newest_partition_timestamp_seconds", table="sms") == midnight
    assert metric("ruaj_store_oldest_partition_timestamp_seconds", table="sms") == (
        datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    )
    assert metric("ruaj_store_newest_partition_timestamp_seconds", table="cdr") == (
        datetime(2026, 10, 5, tzinfo=UTC).timestamp()
    )
    assert metric("ruaj_store_partitions", table="sms") == 3
    assert metric("ruaj_retention_window_seconds", table="sms") == 90 * 86400
    assert metric("ruaj_retention_window_seconds", table="cdr") == 400 * 86400
    assert metric("ruaj_retention_window_seconds", table="ip_session") == 365 * 86400

    # A table left without partitions reports none, rather than the last ones it had.
    await conn.execute("DROP TABLE ruaj.cdr_p20261005")
    await maintenance.refresh_metrics(ctx)
    assert metric("ruaj_store_partitions", table="cdr") == 0
    for gauge in ("newest", "oldest"):
        name = f"ruaj_store_{gauge}_partition_timestamp_seconds"
        assert support.sample(name, table="cdr") is None


async def test_the_checkpoint_step_exports_the_newest_checkpoint_size(
    conn: db.Connection, database_url: str, pool: db.Pool, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    async with officer_connections(conn, database_url) as officers:
        await add_court(conn)
        await orders.receive(officers[0], encode(order_document()), b"sig", well_formed=True)
    size = await conn.fetchval("SELECT count(*) FROM ruaj.audit_log")
    assert size == 2  # authority.added, order.received
    maintenance.LAST_CHECKPOINT_ENTRIES.set(-1)  # whatever an earlier test left is not it
    await checkpoint.maintenance_step(settings)(_context(pool, database_url))
    assert metric("ruaj_audit_last_checkpoint_entries") == size
    assert metric("ruaj_audit_last_checkpoint_timestamp_seconds") > NOW.timestamp() - 86400 * 365
