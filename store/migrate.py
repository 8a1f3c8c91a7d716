"""Numbered plain-SQL migrations, applied in order and recorded with their checksums.

Files are `store/migrations/NNNN_name.sql`. Each runs in its own transaction as `ruaj_owner`, so
every object it creates belongs to that role (SECURITY DEFINER functions included). An applied
migration is never edited: a changed checksum stops `ruaj db migrate` before it touches anything.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import LiteralString

from store import db, errors

GROUP_ROLES: tuple[str, ...] = (
    "ruaj_owner",
    "ruaj_ingest",
    "ruaj_maintenance",
    "ruaj_officer",
    "ruaj_auditor",
)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7275616A  # "ruaj": one migrator per database at a time

# Cluster-wide roles and the schema are created before any migration: roles are shared by
# every database of the cluster (the test suite's template copies included), so they are
# created only when missing.
_BOOTSTRAP: LiteralString = """
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ruaj_owner', 'ruaj_ingest', 'ruaj_maintenance',
                             'ruaj_officer', 'ruaj_auditor'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migrator created it a moment ago
            END;
        END IF;
    END LOOP;
END
$$;
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;
CREATE SCHEMA IF NOT EXISTS ruaj AUTHORIZATION ruaj_owner;
CREATE TABLE IF NOT EXISTS ruaj.schema_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE ruaj.schema_migration OWNER TO ruaj_owner;
"""

_APPLIED: LiteralString = (
    "SELECT version, name, checksum FROM ruaj.schema_migration ORDER BY version"
)
_RECORD: LiteralString = (
    "INSERT INTO ruaj.schema_migration (version, name, checksum) VALUES ($1, $2, $3)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover() -> list[Migration]:
    """Every migration shipped in `store/migrations`, in version order."""
    found = []
    for entry in resources.files("store.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(
                Migration(version=int(match[1]), name=match[2], sql=entry.read_text("utf-8"))
            )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise errors.MigrationError(f"two migration files share a number: {versions}")
    return found


def _check_applied(applied: dict[int, tuple[str, str]], known: list[Migration]) -> None:
    by_version = {m.version: m for m in known}
    for version, (name, checksum) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise errors.MigrationError(
                f"the database has migration {version:04d}_{name}, which this version of ruaj "
                "does not know: it is newer than this code"
            )
        if migration.checksum != checksum:
            raise errors.MigrationError(
                f"migration {version:04d}_{name} was changed after it was applied "
                f"(database {checksum[:12]}…, file {migration.checksum[:12]}…); "
                "never edit an applied migration, add a new one"
            )


async def apply(conn: db.Connection) -> list[Migration]:
    """Bring the database to the newest schema; returns the migrations applied now."""
    known = discover()
    applied_now: list[Migration] = []
    async with db.translated():
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_BOOTSTRAP)
            rows = await conn.fetch(_APPLIED)
            applied = {row["version"]: (row["name"], row["checksum"]) for row in rows}
            _check_applied(applied, known)
            for migration in known:
                if migration.version in applied:
                    continue
                async with conn.transaction():
                    await conn.execute("SET LOCAL ROLE ruaj_owner")
                    await conn.execute(migration.sql)
                    await conn.execute(
                        _RECORD, migration.version, migration.name, migration.checksum
                    )
                applied_now.append(migration)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def pending(conn: db.Connection) -> list[Migration]:
    """Migrations not yet applied (empty when the schema is current)."""
    async with db.translated():
        exists = await conn.fetchval("SELECT to_regclass('ruaj.schema_migration') IS NOT NULL")
        applied: set[int] = set()
        if exists:
            applied = {row["version"] for row in await conn.fetch(_APPLIED)}
    return [m for m in discover() if m.version not in applied]
