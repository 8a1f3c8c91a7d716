"""The audit append: consecutive indexes, canonical entries, append-only."""

from __future__ import annotations

import asyncio
import hashlib
import json

import asyncpg
import pytest

from store import audit, db

pytestmark = pytest.mark.integration


async def test_entries_are_canonical_json_of_their_columns(conn: db.Connection) -> None:
    async with conn.transaction():
        first = await audit.append(conn, "test.one", {"b": 'ü\n"', "a": [1, True, None]})
        second = await audit.append(conn, "test.two", {})
    assert (first, second) == (0, 1)
    assert await audit.size(conn) == 2
    got = await audit.entries(conn, 0, 2)
    one = got[0]
    assert (
        one.entry
        == (
            '{"actor":"postgres","at":"'
            + one.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            + '","details":{"a":[1,true,null],"b":"ü\\n\\""},"index":0,"kind":"test.one"}'
        ).encode()
    )
    assert one.leaf_hash == hashlib.sha256(b"\x00" + one.entry).digest()
    assert json.loads(one.entry)["details"] == one.details


async def test_rolled_back_append_leaves_no_gap(conn: db.Connection) -> None:
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await audit.append(conn, "test.lost", {})
            raise RuntimeError("caller failed after appending")
    assert await audit.append(conn, "test.kept", {}) == 0


async def test_concurrent_appends_get_consecutive_indexes(database_url: str) -> None:
    async def worker(n: int) -> list[int]:
        conn = await db.connect(database_url)
        got = []
        try:
            for i in range(20):
                async with conn.transaction():
                    got.append(await audit.append(conn, "test.concurrent", {"w": n, "i": i}))
        finally:
            await conn.close()
        return got

    results = await asyncio.gather(*(worker(n) for n in range(5)))
    indexes = sorted(i for r in results for i in r)
    assert indexes == list(range(100))


async def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="floats"):
        audit.canonical_json({"x": 0.1})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ruaj.audit_log SET kind = 'forged'",
        "DELETE FROM ruaj.audit_log",
        "TRUNCATE ruaj.audit_log",
    ],
)
async def test_the_owner_cannot_change_entries(conn: db.Connection, statement: str) -> None:
    await audit.append(conn, "test.x", {})
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE ruaj_owner")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    assert await conn.fetchval("SELECT kind FROM ruaj.audit_log") == "test.x"
