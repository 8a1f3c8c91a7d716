"""`store.officers`: officers are login roles in ruaj_officer, made by an administrator, audited;
a password goes to the server only as a SCRAM verifier."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import pytest

from store import audit, db, errors, officers
from tests.intake_support import kinds_since
from tests.release_support import officer_connections
from tests.support import with_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def name(conn: db.Connection) -> AsyncIterator[str]:
    """A fresh role name; the role (cluster-wide) is dropped after the test."""
    fresh = f"officer_{uuid.uuid4().hex[:10]}"
    yield fresh
    await conn.execute(f"DROP ROLE IF EXISTS {db.quote_ident(fresh)}")


def _as(url: str, user: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}@{rest.split('@', 1)[1]}"


async def test_an_officer_is_a_login_role_in_ruaj_officer(
    conn: db.Connection, database_url: str, name: str
) -> None:
    since = await audit.size(conn)
    await officers.add(conn, name, password="correct horse battery")

    row = await conn.fetchrow(
        "SELECT rolcanlogin, rolpassword, pg_has_role(oid, 'ruaj_officer', 'MEMBER') AS member,"
        " rolsuper, rolcreaterole FROM pg_authid WHERE rolname = $1",
        name,
    )
    assert row is not None
    assert (row["rolcanlogin"], row["member"], row["rolsuper"], row["rolcreaterole"]) == (
        True, True, False, False,
    )  # fmt: skip
    # Stored as sent: a verifier of this password (had the server taken the text for a
    # password in clear, these keys would not match).
    method, rest = row["rolpassword"].split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    _, stored_key, server_key = officers.scram_keys(
        "correct horse battery", base64.b64decode(salt), int(iterations)
    )
    assert (method, keys) == (
        "SCRAM-SHA-256",
        f"{base64.b64encode(stored_key).decode()}:{base64.b64encode(server_key).decode()}",
    )
    assert [(k, d) for k, d in await kinds_since(conn, since)] == [
        ("officer.added", {"officer": name, "password": True})
    ]
    assert (name, True) in await officers.list_officers(conn)

    officer = await db.connect(_as(database_url, name))
    try:
        assert await officer.fetchval("SELECT session_user") == name
        assert await officer.fetchval("SELECT count(*) FROM ruaj.disclosure_order") == 0
    finally:
        await officer.close()


async def test_without_a_password_the_role_has_none(conn: db.Connection, name: str) -> None:
    await officers.add(conn, name)
    assert await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", name) is None


async def test_a_taken_or_bad_name_is_refused(conn: db.Connection, name: str) -> None:
    await officers.add(conn, name)
    since = await audit.size(conn)
    with pytest.raises(errors.InvalidRequest, match="exists already"):
        await officers.add(conn, name)
    with pytest.raises(errors.InvalidRequest, match="reserved"):
        await officers.add(conn, "ruaj_owner")
    with pytest.raises(errors.InvalidRequest, match="lower-case"):
        await officers.add(conn, 'x" SUPERUSER --')
    assert await audit.size(conn) == since


async def test_an_officer_cannot_make_officers(
    conn: db.Connection, database_url: str, name: str
) -> None:
    async with officer_connections(conn, database_url, count=1) as (officer,):
        since = await audit.size(conn)
        with pytest.raises(errors.InsufficientPrivilege):
            await officers.add(officer, name)
    assert not await conn.fetchval("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", name)
    assert await audit.size(conn) == since


def test_urls_are_rewritten_for_another_user() -> None:
    assert _as(with_database("postgresql://postgres@127.0.0.1:5/a", "b"), "x") == (
        "postgresql://x@127.0.0.1:5/b"
    )
