"""Legal holds (preservation orders, DESIGN §4 and §10): add, renew, release, expire, list.

A hold names identifiers (MSISDN, IMSI, IMEI, public IP), a time range, categories and an
expiry. While it is active, the rows it covers are copied to hold storage (`ruaj.held_<table>`)
before their partition is dropped; when it ends, the copies no other active hold covers are
erased. Every change runs in a SECURITY DEFINER function that also appends the audit entry, in
the same transaction, naming identifiers by digest only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import LiteralString

from store import db, errors

KINDS: tuple[str, ...] = ("msisdn", "imsi", "imei", "public_ip")
CATEGORIES: tuple[str, ...] = ("traffic", "sms", "imei", "ip_session")

# SQLSTATEs the hold functions raise for a request that cannot be done as asked.
_REFUSED = frozenset({"22023", "P0002"})  # invalid_parameter_value, no_data_found

_ADD: LiteralString = "SELECT ruaj.hold_add($1, $2::jsonb, $3, $4, $5, $6)"
_RENEW: LiteralString = "SELECT ruaj.hold_renew($1, $2)"
_RELEASE: LiteralString = "SELECT ruaj.hold_release($1)"
_EXPIRE: LiteralString = "SELECT ruaj.hold_expire($1) AS hold_id"
_LIST: LiteralString = """
SELECT h.hold_id, h.reference, h.range_from, h.range_to, h.categories, h.expires_at, h.state,
       h.created_at, h.created_by, h.ended_at, h.ended_by,
       coalesce(array_agg(i.kind ORDER BY i.kind) FILTER (WHERE i.kind IS NOT NULL), '{}') AS kinds
FROM ruaj.legal_hold h LEFT JOIN ruaj.legal_hold_identifier i ON i.hold_id = h.hold_id
WHERE $1 OR h.state = 'active'
GROUP BY h.hold_id ORDER BY h.hold_id
"""
_ACTIVE: LiteralString = "SELECT count(*) FROM ruaj.legal_hold WHERE state = 'active'"
_HELD: LiteralString = "SELECT table_name, held_rows FROM ruaj.held_row_counts()"


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    """One identifier a hold names."""

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Identifier:
        """`KIND:VALUE` (e.g. `msisdn:38344123456`, `public_ip:203.0.113.7`)."""
        kind, sep, value = text.partition(":")
        if not sep or not value or kind not in KINDS:
            raise ValueError(f"an identifier is KIND:VALUE with KIND one of {', '.join(KINDS)}")
        return cls(kind=kind, value=value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """One hold as recorded (its identifiers' kinds only: values are not shown)."""

    hold_id: int
    reference: str
    range_from: datetime
    range_to: datetime
    categories: tuple[str, ...]
    expires_at: datetime
    state: str
    created_at: datetime
    created_by: str
    ended_at: datetime | None
    ended_by: str | None
    identifier_kinds: tuple[str, ...]

    @classmethod
    def from_row(cls, row: db.Record) -> Hold:
        """Build from a row of `_LIST`."""
        return cls(
            hold_id=row["hold_id"],
            reference=row["reference"],
            range_from=row["range_from"],
            range_to=row["range_to"],
            categories=tuple(row["categories"]),
            expires_at=row["expires_at"],
            state=row["state"],
            created_at=row["created_at"],
            created_by=row["created_by"],
            ended_at=row["ended_at"],
            ended_by=row["ended_by"],
            identifier_kinds=tuple(row["kinds"]),
        )


@contextlib.asynccontextmanager
async def _refusals() -> AsyncIterator[None]:
    """Like `db.translated()`, with the hold functions' refusals as `InvalidRequest`."""
    try:
        async with db.translated():
            yield
    except errors.StoreError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) in _REFUSED:
            message = getattr(cause, "message", None) or str(cause)
            raise errors.InvalidRequest(message) from cause
        raise


async def add(
    conn: db.Connection,
    *,
    reference: str,
    identifiers: Sequence[Identifier],
    range_from: datetime,
    range_to: datetime,
    expires: datetime,
    categories: Sequence[str] = (),
) -> int:
    """Add a hold (all categories when none are given) and audit it; returns its id."""
    payload = [{"kind": i.kind, "value": i.value} for i in identifiers]
    async with _refusals():
        hold_id: int = await conn.fetchval(
            _ADD, reference, payload, range_from, range_to, list(categories), expires
        )
    return hold_id


async def renew(conn: db.Connection, hold_id: int, expires: datetime) -> None:
    """Move an active hold's expiry (audited)."""
    async with _refusals():
        await conn.execute(_RENEW, hold_id, expires)


async def release(conn: db.Connection, hold_id: int) -> dict[str, int]:
    """Release an active hold, erase the copies no other active hold covers (audited).

    Returns the rows erased per event table.
    """
    async with _refusals():
        erased: dict[str, int] = await conn.fetchval(_RELEASE, hold_id)
    return erased


async def expire(conn: db.Connection, now: datetime) -> list[int]:
    """Expire every active hold whose expiry is at or before `now` (each audited, its copies
    erased unless another active hold covers them); returns their ids."""
    async with _refusals():
        rows = await conn.fetch(_EXPIRE, now)
    return [row["hold_id"] for row in rows]


async def list_holds(conn: db.Connection, *, include_ended: bool = False) -> list[Hold]:
    """Active holds (and ended ones with `include_ended`), by id."""
    async with db.translated():
        rows = await conn.fetch(_LIST, include_ended)
    return [Hold.from_row(row) for row in rows]


async def active_count(conn: db.Connection) -> int:
    """How many holds are active."""
    async with db.translated():
        value: int = await conn.fetchval(_ACTIVE)
    return value


async def held_rows(conn: db.Connection) -> dict[str, int]:
    """Rows in hold storage per event table."""
    async with db.translated():
        rows = await conn.fetch(_HELD)
    return {row["table_name"]: row["held_rows"] for row in rows}
