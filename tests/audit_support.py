"""Helpers for the audit log's tests: an operator key, settings, entries, tampering."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from disclosure import keys
from disclosure.settings import DisclosureSettings
from store import audit, db


def make_settings(tmp_path: Path) -> DisclosureSettings:
    """Settings with a fresh operator key and an empty checkpoint directory under tmp_path."""
    key_path = tmp_path / "operator.pem"
    if not key_path.exists():
        keys.generate(key_path)
    return DisclosureSettings(operator_key=key_path, checkpoint_dir=tmp_path / "checkpoints")


def public_key(settings: DisclosureSettings) -> keys.PublicKey:
    """The operator's public key of these settings."""
    return keys.load_operator_key(settings).public_key()


async def append_entries(conn: db.Connection, count: int, kind: str = "test.entry") -> list[int]:
    """Append `count` entries, one committed transaction each; returns their indexes."""
    indexes = []
    for i in range(count):
        async with conn.transaction():
            indexes.append(await audit.append(conn, kind, {"n": i, "note": f"entry {i}"}))
    return indexes


@asynccontextmanager
async def triggers_disabled(conn: db.Connection) -> AsyncIterator[None]:
    """As superuser: the append-only triggers off, as an intruder with full access would."""
    await conn.execute("ALTER TABLE ruaj.audit_log DISABLE TRIGGER USER")
    await conn.execute("ALTER TABLE ruaj.audit_head DISABLE TRIGGER USER")
    try:
        yield
    finally:
        await conn.execute("ALTER TABLE ruaj.audit_log ENABLE TRIGGER USER")
        await conn.execute("ALTER TABLE ruaj.audit_head ENABLE TRIGGER USER")


async def rewrite_entry(conn: db.Connection, index: int, details_json: str) -> None:
    """Rewrite entry `index` thoroughly: new details, entry bytes, leaf hash, all consistent."""
    await conn.execute(
        """
        UPDATE ruaj.audit_log SET
            details = $2::jsonb,
            entry = convert_to(
                '{"actor":' || to_json(actor)::text
                || ',"at":' || to_json(to_char(at AT TIME ZONE 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
                || ',"details":' || $2 || ',"index":' || idx::text
                || ',"kind":' || to_json(kind)::text || '}', 'UTF8')
        WHERE idx = $1
        """,
        index,
        details_json,
    )
    await conn.execute(
        "UPDATE ruaj.audit_log SET leaf_hash = sha256('\\x00'::bytea || entry) WHERE idx = $1",
        index,
    )


@asynccontextmanager
async def login_role(admin: db.Connection, database_url: str, group: str) -> AsyncIterator[str]:
    """A LOGIN role in `group` for this test; yields a URL that logs in as it."""
    name = f"t_{group}_{uuid.uuid4().hex[:8]}"
    await admin.execute(
        f"CREATE ROLE {db.quote_ident(name)} LOGIN PASSWORD 'test' IN ROLE {db.quote_ident(group)}"
    )
    parts = urlsplit(database_url)
    netloc = f"{name}:test@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        await admin.execute(f"DROP OWNED BY {db.quote_ident(name)}")
        await admin.execute(f"DROP ROLE {db.quote_ident(name)}")
