"""Migrations apply to an empty database, are recorded with checksums, and refuse edits."""

from __future__ import annotations

import asyncpg
import pytest

from store import db, errors, migrate, partitions

pytestmark = pytest.mark.integration


async def test_every_migration_is_recorded(conn: db.Connection) -> None:
    rows = await conn.fetch("SELECT version, checksum FROM ruaj.schema_migration ORDER BY version")
    shipped = migrate.discover()
    assert [r["version"] for r in rows] == [m.version for m in shipped]
    assert [r["checksum"] for r in rows] == [m.checksum for m in shipped]
    assert await migrate.pending(conn) == []


async def test_migrate_again_applies_nothing(conn: db.Connection) -> None:
    assert await migrate.apply(conn) == []


async def test_edited_migration_is_refused(conn: db.Connection) -> None:
    await conn.execute("UPDATE ruaj.schema_migration SET checksum = 'x' WHERE version = 1")
    with pytest.raises(errors.MigrationError, match="changed after it was applied"):
        await migrate.apply(conn)


async def test_unknown_newer_migration_is_refused(conn: db.Connection) -> None:
    await conn.execute(
        "INSERT INTO ruaj.schema_migration (version, name, checksum) VALUES (9999, 'future', 'x')"
    )
    with pytest.raises(errors.MigrationError, match="newer than this code"):
        await migrate.apply(conn)


async def test_group_roles_exist_and_cannot_log_in(conn: db.Connection) -> None:
    rows = await conn.fetch(
        "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1::text[])",
        list(migrate.GROUP_ROLES),
    )
    assert sorted(r["rolname"] for r in rows) == sorted(migrate.GROUP_ROLES)
    assert not any(r["rolcanlogin"] for r in rows)


async def test_tables_belong_to_the_owner_role(conn: db.Connection) -> None:
    owners = await conn.fetch(
        "SELECT c.relname, c.relowner::regrole::text AS owner FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'ruaj' AND c.relkind IN ('r', 'p')"
    )
    assert {r["relname"] for r in owners} >= {"cdr", "audit_log", "ingest_offset"}
    assert {r["owner"] for r in owners if r["relname"] == "audit_log"} == {"ruaj_owner"}


async def test_ensure_partition_creates_one_utc_day(conn: db.Connection) -> None:
    from datetime import date

    name = await partitions.ensure(conn, "cdr", date(2026, 3, 29))
    assert name == "cdr_p20260329"
    assert await partitions.ensure(conn, "cdr", date(2026, 3, 29)) == name
    bound = await conn.fetchval(
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = $1", name
    )
    assert bound == ("FOR VALUES FROM ('2026-03-29 00:00:00+00') TO ('2026-03-30 00:00:00+00')")
    days = await partitions.list_days(conn, "cdr")
    assert [p.day for p in days] == [date(2026, 3, 29)]
    # The partition got the parent's indexes when it was attached.
    indexes = await conn.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'ruaj' AND tablename = $1", name
    )
    parent_indexes = await conn.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'ruaj' AND tablename = 'cdr'"
    )
    assert indexes == parent_indexes == 9  # 8 of 0001, served_msisdn of 0009


async def test_ensure_partition_refuses_other_tables(conn: db.Connection) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await conn.fetchval("SELECT ruaj.ensure_partition('audit_log', current_date)")


async def test_no_default_partition(conn: db.Connection) -> None:
    with pytest.raises(errors.StoreError, match="no partition"):
        async with db.translated():
            await conn.execute(
                "INSERT INTO ruaj.imei_observation (event_id, observed_at, imei, imsi, reason, "
                "network_element) VALUES (gen_random_uuid(), '1999-01-01Z', '490154203237518', "
                "'221020000000001', 'ATTACH', 'MSC1')"
            )
