"""The append-only audit log: append in the caller's transaction, and read it back.

`append` is how every module records what it did (retention drops, holds, registry erasure,
orders, releases). It runs inside the caller's transaction, so the entry exists exactly when the
action does. Details hold no subscriber identifier in clear where a hash will do
(`identifier_digest`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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
