"""`ruaj maintain` and `ruaj retention status` as subprocesses: subscriber erasure driven by
`--once --now`, a drop that cannot get its lock (the pass fails, partitions ahead are made
anyway, the next pass drops it), and the status table with real values."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from store import audit, db, holds, partitions, registry, retention, tables
from tests import retention_support as rs
from tests.registry_support import assign, change, release
from tests.support import run_ruaj

pytestmark = pytest.mark.acceptance

DAY = timedelta(days=1)
MSISDN = "38344123456"
SUBSCRIBER = "CRM-7731-A"  # distinctive, so that a leak of it would be found


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """This test's database; no broker and no operator key (those steps say they are skipped)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUAJ_")}
    return {
        **clean,
        "RUAJ_DATABASE_URL": database_url,
        "RUAJ_STACK_DIR": str(tmp_path / "stack"),
        "RUAJ_RETENTION_LOCK_TIMEOUT_MS": "50",
        "RUAJ_RETENTION_CONCURRENT_DETACH_TIMEOUT_MS": "200",
        "RUAJ_RETENTION_DROP_ATTEMPTS": "2",
        "PYTHONUNBUFFERED": "1",
    }


def _at(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


async def _subscribers(conn: db.Connection) -> list[str]:
    rows = await conn.fetch("SELECT subscriber_id FROM ruaj.subscriber ORDER BY 1")
    return [row["subscriber_id"] for row in rows]


async def test_maintain_erases_a_subscriber_when_the_window_after_their_contract_is_over(
    conn: db.Connection, env: dict[str, str]
) -> None:
    start = datetime(2022, 3, 1, 9, 0, tzinfo=UTC)
    end = datetime(2023, 6, 30, 16, 45, tzinfo=UTC)
    history = [
        change(SUBSCRIBER, "UPSERT", start, contract_start=start, given_name="Arta",
               family_name="Krasniqi", personal_number="1234567890"),
        assign(SUBSCRIBER, "MSISDN", MSISDN, start),
        release(SUBSCRIBER, "MSISDN", MSISDN, end),
        change(SUBSCRIBER, "TERMINATE", end),
    ]  # fmt: skip
    newcomer = [assign("N", "MSISDN", MSISDN, end + 3 * DAY)]  # the number, recycled
    assert await registry.apply_changes(conn, history + newcomer) == ["stored"] * 5
    due = end + timedelta(days=1095)  # the default window

    # A day early; and on time, but with a window one day longer: nothing is erased.
    early = run_ruaj("maintain", "--once", "--now", _at(due - DAY), env=env)
    longer = run_ruaj("maintain", "--once", "--now", _at(due), env={
        **env, "RUAJ_RETENTION_SUBSCRIBER_DAYS": "1096"})  # fmt: skip
    for ran, horizon in ((early, end - DAY), (longer, end - DAY)):
        assert ran.returncode == 0, ran.stderr
        assert (f"no subscriber due for erasure (contract ended on or before "
                f"{horizon.isoformat()})") in ran.stdout.splitlines()  # fmt: skip
    assert await _subscribers(conn) == [SUBSCRIBER, "N"]

    audited = await audit.next_index(conn)
    dry = run_ruaj("maintain", "--dry-run", "--now", _at(due), env=env)
    assert dry.returncode == 0, dry.stderr
    assert (f"dry run: would erase 1 subscriber whose contract ended on or before "
            f"{end.isoformat()}") in dry.stdout.splitlines()  # fmt: skip
    assert await _subscribers(conn) == [SUBSCRIBER, "N"]
    assert await audit.next_index(conn) == audited

    done = run_ruaj("maintain", "--once", "--now", _at(due), env=env)
    assert done.returncode == 0, done.stderr
    assert "erased 1 subscriber of 1 due" in done.stdout.splitlines()
    assert await _subscribers(conn) == ["N"]
    assert await registry.holders_at(conn, "MSISDN", MSISDN, end - DAY) == []
    assert [h.subscriber_id for h in await registry.holders_at(conn, "MSISDN", MSISDN, due)] == [
        "N"
    ]
    entries = await audit.entries(conn, audited, await audit.next_index(conn))
    erasures = [e for e in entries if e.kind == "registry.subscriber_erased"]
    assert [e.details["subscriber"] for e in erasures] == [
        audit.identifier_digest("subscriber", SUBSCRIBER)
    ]
    for named in (SUBSCRIBER, "Krasniqi", "1234567890", MSISDN):
        assert all(named.encode() not in e.entry for e in entries), named
        # Nor did the output or the log say who was erased.
        assert named not in done.stdout + done.stderr + dry.stdout + dry.stderr, named
    # A replay of the erased subscriber's events finds them erased.
    assert await registry.apply_changes(conn, history) == ["duplicate"] * 4
    assert await _subscribers(conn) == ["N"]


async def test_a_drop_that_cannot_get_its_lock_fails_the_pass_and_is_retried_by_the_next(
    conn: db.Connection, env: dict[str, str], database_url: str
) -> None:
    now = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    old = date(2025, 5, 1)  # more than the 365 days of every category before `now`
    events = await rs.insert(conn, [old], [rs.A])
    locked = partitions.Partition(table="ip_session", day=old)
    blocker = await db.connect(database_url)
    try:
        # A conflicting lock on the expired partition, held by another session for the pass.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(f"LOCK TABLE ruaj.{locked.name} IN ACCESS EXCLUSIVE MODE")
        failed = run_ruaj("maintain", "--once", "--now", _at(now), env=env)
        await transaction.rollback()
    finally:
        await blocker.close()
    assert failed.returncode == 1
    assert "finished with failed steps: retention " in failed.stderr
    present = {p.partition.name: p.state for p in await retention.present(conn)}
    assert present.get(locked.name) == retention.ATTACHED
    assert await rs.stored_ids(conn, "ip_session") == {
        e.event_id for e in events if e.table == "ip_session"
    }
    # The other expired partitions went; the partitions ahead were made all the same.
    for table in tables.EVENT_TABLES:
        days = {p.day for p in await partitions.list_days(conn, table.name)}
        ahead = {now.date() + n * DAY for n in range(8)}
        assert days == (ahead | {old} if table.name == "ip_session" else ahead), table.name
    assert f"dropped cdr_p{old:%Y%m%d}: 1 rows, 0 kept under hold" in failed.stdout

    retried = run_ruaj("maintain", "--once", "--now", _at(now), env=env)
    assert retried.returncode == 0, retried.stderr
    assert f"dropped {locked.name}: 1 rows, 0 kept under hold" in retried.stdout.splitlines()
    assert locked.name not in {p.partition.name for p in await retention.present(conn)}
    assert await rs.stored_ids(conn, "ip_session") == set()
    entries = await audit.entries(conn, 0, await audit.next_index(conn))
    drops = [(e.details["table"], e.details["day"]) for e in entries
             if e.kind == "retention.partition_dropped"]  # fmt: skip
    assert sorted(drops) == sorted((t.name, old.isoformat()) for t in tables.EVENT_TABLES)


def _rows(output: str) -> dict[str, list[str]]:
    """The status table by table name (columns are separated by two spaces or more)."""
    lines = output.splitlines()
    header = re.split(r"\s{2,}", lines[0])
    assert header == ["category", "table", "window", "partitions", "oldest", "newest",
                      "next drop", "due", "rows under hold"]  # fmt: skip
    found = {}
    for line in lines[1:5]:
        cells = re.split(r"\s{2,}", line)
        found[cells[1]] = cells
    return found


async def test_retention_status_shows_windows_partitions_next_drops_and_held_rows(
    conn: db.Connection, env: dict[str, str], database_url: str
) -> None:
    windows = {"traffic": 365, "sms": 180, "imei": 90, "ip_session": 30}
    env = {**env, **{f"RUAJ_RETENTION_{c.upper()}_DAYS": str(d) for c, d in windows.items()}}
    now = datetime.now(UTC)
    today = now.date()
    old, kept = today - 400 * DAY, today - 10 * DAY
    await rs.insert(conn, [old, kept], [rs.A, rs.B], per_day=2)
    await holds.add(
        conn, reference="PPS-7", identifiers=[holds.Identifier(kind="msisdn", value=rs.A)],
        range_from=datetime.combine(old, datetime.min.time(), UTC),
        range_to=datetime.combine(old + DAY, datetime.min.time(), UTC),
        categories=["traffic", "sms"], expires=now + 30 * DAY,
    )  # fmt: skip
    settings = rs.settings(database_url, **{f"retention_{c}_days": d for c, d in windows.items()})
    pool = await db.create_pool(settings)
    try:
        outcome, _ = await rs.run_pass(pool, settings, now)
    finally:
        await pool.close()
    assert outcome.ok, outcome.failed
    # An overdue partition: an IMEI day older than its 90-day window, made after the pass.
    overdue = today - 100 * DAY
    await partitions.ensure(conn, "imei_observation", overdue)

    status = run_ruaj("retention", "status", env=env)
    assert status.returncode == 0, status.stderr
    rows = _rows(status.stdout)
    newest = (today + 7 * DAY).isoformat()

    def due(table: str, day: date) -> str:
        end = datetime.combine(day + DAY, datetime.min.time(), UTC)
        category = tables.get(table).category
        return (end + timedelta(days=windows[category])).strftime("%Y-%m-%d %H:%M UTC")

    assert rows == {
        "cdr": ["traffic", "cdr", "365 d", "9", kept.isoformat(), newest,
                f"cdr_p{kept:%Y%m%d}", due("cdr", kept), "2"],
        "sms": ["sms", "sms", "180 d", "9", kept.isoformat(), newest,
                f"sms_p{kept:%Y%m%d}", due("sms", kept), "2"],
        "imei_observation": ["imei", "imei_observation", "90 d", "10", overdue.isoformat(),
                             newest, f"imei_observation_p{overdue:%Y%m%d}", "now (overdue)",
                             "0"],
        "ip_session": ["ip_session", "ip_session", "30 d", "9", kept.isoformat(), newest,
                       f"ip_session_p{kept:%Y%m%d}", due("ip_session", kept), "0"],
    }  # fmt: skip
    assert status.stdout.splitlines()[5:] == ["legal holds in force: 1"]
