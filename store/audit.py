"""The append-only audit log: append in the caller's transaction, and read it back.

`append` is how every module records what it did (retention drops, holds, registry erasure,
orders, releases). It runs inside the caller's transaction, so the entry exists exactly when the
action does. Details hold no subscriber identifier in clear where a hash will do
(`identifier_digest`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from store import db

_APPEND: LiteralString = "SELECT ruaj.audit_append($1, $2)"
_SIZE: LiteralString = "SELECT next_idx FROM ruaj.audit_head"
_RANGE: LiteralString = """
SELECT idx, at, actor, kind, details, entry, leaf_hash
FROM ruaj.audit_log WHERE idx >= $1 AND idx < $2 ORDER BY idx
"""


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("audit details hold no floats: canonical JSON needs exact numbers")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("audit detail keys are strings")
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def canonical_json(value: Mapping[str, Any]) -> str:
    """RFC 8785 (JCS) canonical JSON of `value` (strings, integers, booleans, null, lists, maps).

    Keys are sorted by code point, which equals JCS's UTF-16 order for the ASCII keys used here.
    """
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def identifier_digest(kind: str, value: str) -> str:
    """A stable SHA-256 digest that names an identifier in audit details without revealing it."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One entry of the log as stored."""

    index: int
    at: datetime
    actor: str
    kind: str
    details: dict[str, Any]
    entry: bytes
    leaf_hash: bytes

    @classmethod
    def from_row(cls, row: db.Record) -> AuditEntry:
        """Build from a row of `ruaj.audit_log`."""
        return cls(
            index=row["idx"],
            at=row["at"],
            actor=row["actor"],
            kind=row["kind"],
            details=row["details"],
            entry=bytes(row["entry"]),
            leaf_hash=bytes(row["leaf_hash"]),
        )


async def append(conn: db.Connection, kind: str, details: Mapping[str, Any]) -> int:
    """Append one entry in the caller's transaction; returns its index.

    Appenders queue on one row lock until they commit, so call this last in a transaction.
    """
    async with db.translated():
        index: int = await conn.fetchval(_APPEND, kind, canonical_json(details))
    return index


async def size(conn: db.Connection) -> int:
    """How many entries the log holds (committed, as this transaction sees it)."""
    async with db.translated():
        value: int = await conn.fetchval(_SIZE)
    return value


async def entries(conn: db.Connection, start: int, stop: int) -> list[AuditEntry]:
    """Entries with `start <= index < stop`, in index order."""
    async with db.translated():
        rows = await conn.fetch(_RANGE, start, stop)
    return [AuditEntry.from_row(row) for row in rows]


# Reads for the Merkle tree, checkpoints and the verifier. They need only SELECT on
# ruaj.audit_log (ruaj_auditor has it), never ruaj.audit_head, and run inside `snapshot`, so
# that several reads see one state of the log.

_EXTENT: LiteralString = (
    "SELECT count(*) AS n, coalesce(max(idx) + 1, 0) AS next FROM ruaj.audit_log"
)
_NEXT_INDEX: LiteralString = "SELECT coalesce(max(idx) + 1, 0) FROM ruaj.audit_log"
_LEAF_HASHES: LiteralString = """
SELECT count(*) AS n, coalesce(string_agg(leaf_hash, ''::bytea ORDER BY idx), ''::bytea) AS hashes
FROM ruaj.audit_log WHERE idx >= $1 AND idx < $2
"""
_FIRST_GAP: LiteralString = """
SELECT CASE
    WHEN NOT EXISTS (SELECT FROM ruaj.audit_log WHERE idx = 0) THEN 0
    ELSE (SELECT min(a.idx) + 1 FROM ruaj.audit_log a
          WHERE a.idx + 1 < $1
            AND NOT EXISTS (SELECT FROM ruaj.audit_log b WHERE b.idx = a.idx + 1))
END
"""
_FIRST_BAD_LEAF: LiteralString = """
SELECT min(idx) FROM ruaj.audit_log
WHERE idx >= $1 AND idx < $2 AND leaf_hash IS DISTINCT FROM sha256('\\x00'::bytea || entry)
"""
_SCAN: LiteralString = """
SELECT idx, at, actor, kind, details::text AS details_json, entry, leaf_hash
FROM ruaj.audit_log WHERE idx >= $1 ORDER BY idx LIMIT $2
"""
# Leaf hashes are fetched this many at a time: one row of about 3 MB each.
_LEAF_BATCH = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Extent:
    """How many rows the log holds and the index after the highest one (equal without gaps)."""

    rows: int
    next_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRow:
    """One row as stored, details as the database's JSON text: what the verifier compares."""

    index: int
    at: datetime
    actor: str
    kind: str
    details_json: str
    entry: bytes
    leaf_hash: bytes

    @classmethod
    def from_row(cls, row: db.Record) -> StoredRow:
        """Build from a row of `_SCAN`."""
        return cls(
            index=row["idx"],
            at=row["at"],
            actor=row["actor"],
            kind=row["kind"],
            details_json=row["details_json"],
            entry=bytes(row["entry"]),
            leaf_hash=bytes(row["leaf_hash"]),
        )


def snapshot(conn: db.Connection) -> Any:
    """A read-only REPEATABLE READ transaction: every read inside sees one state of the log.

    Use as `async with audit.snapshot(conn): ...`. Appends commit in index order (they queue
    on one row lock until commit), so a snapshot always sees a prefix of the log.
    """
    return conn.transaction(isolation="repeatable_read", readonly=True)


async def extent(conn: db.Connection) -> Extent:
    """Row count and the index after the highest row."""
    async with db.translated():
        row = await conn.fetchrow(_EXTENT)
    assert row is not None
    return Extent(rows=row["n"], next_index=row["next"])


async def next_index(conn: db.Connection) -> int:
    """The index after the highest stored entry (cheap: reads the primary key's end)."""
    async with db.translated():
        value: int = await conn.fetchval(_NEXT_INDEX)
    return value


async def first_gap(conn: db.Connection, stop: int) -> int | None:
    """The lowest index below `stop` with no row, or None when 0..stop-1 are all there."""
    async with db.translated():
        value: int | None = await conn.fetchval(_FIRST_GAP, stop)
    return value if value is not None and value < stop else None


async def leaf_hashes(conn: db.Connection, start: int, stop: int) -> bytes:
    """The stored leaf hashes of `start <= index < stop`, concatenated in index order.

    Shorter than 32 * (stop - start) bytes when rows are missing (see `first_gap`).
    """
    parts = []
    async with db.translated():
        for lo in range(start, stop, _LEAF_BATCH):
            row = await conn.fetchrow(_LEAF_HASHES, lo, min(lo + _LEAF_BATCH, stop))
            assert row is not None
            parts.append(bytes(row["hashes"]))
    return b"".join(parts)


async def first_bad_leaf_hash(conn: db.Connection, start: int, stop: int) -> int | None:
    """The lowest index in [start, stop) whose leaf_hash is not SHA-256(0x00 ‖ entry)."""
    async with db.translated():
        value: int | None = await conn.fetchval(_FIRST_BAD_LEAF, start, stop)
    return value


async def scan(
    conn: db.Connection, start: int = 0, *, batch_size: int = 10_000
) -> AsyncIterator[list[StoredRow]]:
    """Every row from `start` on, in index order, `batch_size` rows at a time.

    Run it inside `snapshot` so that the batches come from one state of the log.
    """
    position = start
    while True:
        async with db.translated():
            rows = await conn.fetch(_SCAN, position, batch_size)
        if not rows:
            return
        batch = [StoredRow.from_row(row) for row in rows]
        yield batch
        position = batch[-1].index + 1
