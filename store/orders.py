"""Authorities, orders, tasks and approvals (migration 0006): the store side of disclosure.

Every state change calls one SECURITY DEFINER function of the database, which enforces the
lifecycle and the four-eyes rule with `session_user` as the acting officer and appends the
audit entry in the same transaction. This module only passes arguments and reads rows back;
it decides nothing that the database does not decide again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import LiteralString

from store import db

STATES: tuple[str, ...] = (
    "received",
    "verified",
    "rejected",
    "approved",
    "disclosed",
    "expired",
    "cancelled",
)

_AUTHORITY_ADD: LiteralString = "SELECT ruaj.authority_add($1, $2, $3, $4, $5, $6)"
_AUTHORITY_CRL: LiteralString = "SELECT ruaj.authority_set_crl($1, $2, $3, $4)"
_AUTHORITY_BY_NAME: LiteralString = """
SELECT authority_id, name, kind, trust_anchor, crl, crl_this_update, crl_next_update,
       registered_by, registered_at
FROM ruaj.authority WHERE name = $1
"""
_AUTHORITY_BY_ID: LiteralString = """
SELECT authority_id, name, kind, trust_anchor, crl, crl_this_update, crl_next_update,
       registered_by, registered_at
FROM ruaj.authority WHERE authority_id = $1
"""
_AUTHORITIES: LiteralString = """
SELECT authority_id, name, kind, trust_anchor, crl, crl_this_update, crl_next_update,
       registered_by, registered_at
FROM ruaj.authority ORDER BY name
"""
_RECEIVE: LiteralString = "SELECT order_id, duplicate FROM ruaj.order_receive($1, $2, $3)"
_VERIFIED: LiteralString = "SELECT ruaj.order_verified($1, $2, $3, $4)"
_REJECT: LiteralString = "SELECT ruaj.order_reject($1, $2, $3)"
_APPROVE: LiteralString = "SELECT state, approvals, refused FROM ruaj.order_approve($1)"
_CANCEL: LiteralString = "SELECT ruaj.order_cancel($1, $2)"
_EXPIRE: LiteralString = "SELECT order_id FROM ruaj.order_expire() AS order_id ORDER BY 1"
_EXPIRE_DUE: LiteralString = """
SELECT count(*) FROM ruaj.disclosure_order
WHERE state IN ('received', 'verified', 'approved') AND valid_until <= now()
"""
_STATE_COUNTS: LiteralString = (
    "SELECT state, count(*) AS n FROM ruaj.disclosure_order GROUP BY state"
)
# Releases (per task of an `order.disclosed` entry) and refusals (`order.refused`, and
# `order.rejected` unless an officer decided it) among the audit entries from index $1 on, and
# the index after the last one read. One statement, one snapshot; appenders commit in index
# order (they queue on ruaj.audit_head), so what is visible is always a prefix of the log.
_OUTCOMES: LiteralString = """
WITH e AS (
    SELECT a.kind, a.details FROM ruaj.audit_log a
    WHERE a.idx >= $1 AND a.kind IN ('order.disclosed', 'order.refused', 'order.rejected')
)
SELECT 'release' AS outcome, t.value ->> 'task_type' AS label, count(*) AS n
FROM e CROSS JOIN LATERAL jsonb_array_elements(e.details -> 'tasks') AS t(value)
WHERE e.kind = 'order.disclosed'
GROUP BY 2
UNION ALL
SELECT 'refusal', e.details ->> 'reason_code', count(*)
FROM e
WHERE e.kind = 'order.refused'
   OR (e.kind = 'order.rejected' AND e.details ->> 'reason_code' IS DISTINCT FROM 'officer')
GROUP BY 2
UNION ALL
SELECT 'next', NULL, coalesce(max(a.idx) + 1, $1) FROM ruaj.audit_log a WHERE a.idx >= $1
"""
_ORDER_COLUMNS: LiteralString = """
o.order_id, o.order_hash, o.order_reference, o.authority_id, a.name AS authority_name,
a.kind AS authority_kind, o.state, o.valid_from, o.valid_until, o.recipient_agency,
o.recipient_public_key, o.legal_basis, o.issued_at, o.urgent, o.delay_subscriber_notice,
o.imported_by, o.imported_at, o.signer_subject, o.signed_at, o.verified_at, o.approved_at,
o.reason_code, o.reason, o.closed_by, o.state_changed_at,
(SELECT count(*) FROM ruaj.order_approval p WHERE p.order_id = o.order_id) AS approvals
"""
_GET: LiteralString = (
    "SELECT "
    + _ORDER_COLUMNS
    + " FROM ruaj.disclosure_order o LEFT JOIN ruaj.authority a USING (authority_id)"
    + " WHERE o.order_id = $1"
)
_LIST: LiteralString = (
    "SELECT "
    + _ORDER_COLUMNS
    + " FROM ruaj.disclosure_order o LEFT JOIN ruaj.authority a USING (authority_id)"
    + " WHERE $1::text IS NULL OR o.state = $1 ORDER BY o.order_id"
)
_DOCUMENT: LiteralString = (
    "SELECT document, signature FROM ruaj.disclosure_order WHERE order_id = $1"
)
_TASKS: LiteralString = """
SELECT order_id, task_id, task_type, identifier_kind, identifier_value, port, observed_at,
       range_from, range_to
FROM ruaj.order_task WHERE order_id = $1 ORDER BY task_id
"""
_ATTACH: LiteralString = "SELECT ruaj.order_attach($1, $2, $3)"
_ATTACHMENT: LiteralString = """
SELECT order_id, sha256, size, media_type, attached_by, attached_at
FROM ruaj.order_attachment WHERE order_id = $1
"""
_ATTACHMENT_CONTENT: LiteralString = "SELECT content FROM ruaj.order_attachment WHERE order_id = $1"
_APPROVALS: LiteralString = (
    "SELECT officer, approved_at FROM ruaj.order_approval WHERE order_id = $1 ORDER BY approved_at"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Authority:
    """A court or prosecutor's office whose signed orders are accepted."""

    authority_id: int
    name: str
    kind: str
    trust_anchor: bytes
    crl: bytes | None
    crl_this_update: datetime | None
    crl_next_update: datetime | None
    registered_by: str
    registered_at: datetime

    @classmethod
    def from_row(cls, row: db.Record) -> Authority:
        """Build from a row of `ruaj.authority`."""
        return cls(
            authority_id=row["authority_id"],
            name=row["name"],
            kind=row["kind"],
            trust_anchor=bytes(row["trust_anchor"]),
            crl=None if row["crl"] is None else bytes(row["crl"]),
            crl_this_update=row["crl_this_update"],
            crl_next_update=row["crl_next_update"],
            registered_by=row["registered_by"],
            registered_at=row["registered_at"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order as recorded (without its document bytes: see `document`)."""

    order_id: int
    order_hash: bytes
    order_reference: str | None
    authority_id: int | None
    authority_name: str | None
    authority_kind: str | None
    state: str
    valid_from: datetime | None
    valid_until: datetime | None
    recipient_agency: str | None
    recipient_public_key: str | None
    legal_basis: str | None
    issued_at: datetime | None
    urgent: bool | None
    delay_subscriber_notice: bool | None
    imported_by: str
    imported_at: datetime
    signer_subject: str | None
    signed_at: datetime | None
    verified_at: datetime | None
    approved_at: datetime | None
    reason_code: str | None
    reason: str | None
    closed_by: str | None
    state_changed_at: datetime
    approvals: int

    @classmethod
    def from_row(cls, row: db.Record) -> Order:
        """Build from a row of `_GET` / `_LIST`."""
        values = dict(row)
        values["order_hash"] = bytes(values["order_hash"])
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One task of an order, as read from the signed document by the database."""

    order_id: int
    task_id: str
    task_type: str
    identifier_kind: str
    identifier_value: str
    port: int | None
    observed_at: datetime | None
    range_from: datetime | None
    range_to: datetime | None

    @classmethod
    def from_row(cls, row: db.Record) -> Task:
        """Build from a row of `ruaj.order_task`."""
        return cls(**dict(row))


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """One officer's approval of an order."""

    officer: str
    approved_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """The document kept with an order (migration 0011), without its bytes."""

    order_id: int
    sha256: bytes
    size: int
    media_type: str
    attached_by: str
    attached_at: datetime

    @classmethod
    def from_row(cls, row: db.Record) -> Attachment:
        """Build from a row of `ruaj.order_attachment`."""
        values = dict(row)
        values["sha256"] = bytes(values["sha256"])
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """What `receive` recorded: the order's id, or the id of the order with the same bytes."""

    order_id: int
    duplicate: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalOutcome:
    """The order's state after an approval attempt; `refused` is the audited reason code."""

    state: str
    approvals: int
    refused: str | None


async def add_authority(
    conn: db.Connection,
    *,
    name: str,
    kind: str,
    trust_anchor: bytes,
    crl: bytes | None,
    crl_this_update: datetime | None,
    crl_next_update: datetime | None,
) -> int:
    """Register an authority (audited); returns its id."""
    async with db.translated():
        authority_id: int = await conn.fetchval(
            _AUTHORITY_ADD, name, kind, trust_anchor, crl, crl_this_update, crl_next_update
        )
    return authority_id


async def set_crl(
    conn: db.Connection, name: str, crl: bytes, this_update: datetime, next_update: datetime
) -> int:
    """Replace an authority's CRL with a newer one (audited); returns the authority's id."""
    async with db.translated():
        authority_id: int = await conn.fetchval(_AUTHORITY_CRL, name, crl, this_update, next_update)
    return authority_id


async def authority(conn: db.Connection, name: str) -> Authority | None:
    """The authority registered under `name`, if any."""
    async with db.translated():
        row = await conn.fetchrow(_AUTHORITY_BY_NAME, name)
    return None if row is None else Authority.from_row(row)


async def authority_by_id(conn: db.Connection, authority_id: int) -> Authority | None:
    """The authority with this id, if any."""
    async with db.translated():
        row = await conn.fetchrow(_AUTHORITY_BY_ID, authority_id)
    return None if row is None else Authority.from_row(row)


async def list_authorities(conn: db.Connection) -> list[Authority]:
    """Every registered authority, by name."""
    async with db.translated():
        rows = await conn.fetch(_AUTHORITIES)
    return [Authority.from_row(row) for row in rows]


async def receive(
    conn: db.Connection, document: bytes, signature: bytes, *, well_formed: bool
) -> Received:
    """Record an order as `received` (or its refusal as a duplicate), audited."""
    async with db.translated():
        row = await conn.fetchrow(_RECEIVE, document, signature, well_formed)
    assert row is not None
    return Received(order_id=row["order_id"], duplicate=row["duplicate"])


async def mark_verified(
    conn: db.Connection,
    order_id: int,
    *,
    signer_subject: str,
    signer_certificate: bytes,
    signed_at: datetime,
) -> str:
    """received → verified, after the signature verified; returns the new state."""
    async with db.translated():
        state: str = await conn.fetchval(
            _VERIFIED, order_id, signer_subject, signer_certificate, signed_at
        )
    return state


async def reject(conn: db.Connection, order_id: int, reason_code: str, reason: str) -> str | None:
    """→ rejected; returns the new state, or None when refused (wrong state, audited)."""
    async with db.translated():
        state: str | None = await conn.fetchval(_REJECT, order_id, reason_code, reason)
    return state


async def approve(conn: db.Connection, order_id: int) -> ApprovalOutcome:
    """The connected officer's approval; refusals are audited and returned, not raised."""
    async with db.translated():
        row = await conn.fetchrow(_APPROVE, order_id)
    assert row is not None
    return ApprovalOutcome(state=row["state"], approvals=row["approvals"], refused=row["refused"])


async def cancel(conn: db.Connection, order_id: int, reason: str | None) -> str | None:
    """→ cancelled; returns the new state, or None when refused (wrong state, audited)."""
    async with db.translated():
        state: str | None = await conn.fetchval(_CANCEL, order_id, reason)
    return state


async def expire(conn: db.Connection) -> list[int]:
    """Mark every open order past its validity `expired`; returns their ids."""
    async with db.translated():
        rows = await conn.fetch(_EXPIRE)
    return [row["order_id"] for row in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """Releases by task type and refusals by reason code among some audit entries, and the
    index of the entry after them (where to read on from next time)."""

    releases: dict[str, int]
    refusals: dict[str, int]
    next_index: int


async def count_by_state(conn: db.Connection) -> dict[str, int]:
    """Orders in each lifecycle state (every state of `STATES`, 0 when none)."""
    async with db.translated():
        rows = await conn.fetch(_STATE_COUNTS)
    found = dict.fromkeys(STATES, 0)
    found.update({row["state"]: row["n"] for row in rows})
    return found


async def outcomes_since(conn: db.Connection, start: int) -> Outcomes:
    """Releases and refusals recorded in the audit log from entry `start` on.

    A release is one task of an `order.disclosed` entry; a refusal is an `order.refused`
    entry (import of a duplicate, approval by the importer or twice, execution outside scope…)
    or an `order.rejected` one that verification decided (an officer's rejection is a
    decision, not a refusal). Labels are task types and reason codes: fixed vocabularies.
    """
    async with db.translated():
        rows = await conn.fetch(_OUTCOMES, start)
    releases: dict[str, int] = {}
    refusals: dict[str, int] = {}
    next_index = start
    for row in rows:
        if row["outcome"] == "next":
            next_index = row["n"]
        elif row["outcome"] == "release":
            releases[row["label"]] = row["n"]
        else:
            refusals[row["label"] or "unknown"] = row["n"]
    return Outcomes(releases=releases, refusals=refusals, next_index=next_index)


async def expire_due(conn: db.Connection) -> int:
    """How many open orders are past their validity (by the database's clock)."""
    async with db.translated():
        count: int = await conn.fetchval(_EXPIRE_DUE)
    return count


async def get(conn: db.Connection, order_id: int) -> Order | None:
    """One order, if it exists."""
    async with db.translated():
        row = await conn.fetchrow(_GET, order_id)
    return None if row is None else Order.from_row(row)


async def list_orders(conn: db.Connection, state: str | None = None) -> list[Order]:
    """Every order (or those in `state`), oldest first."""
    async with db.translated():
        rows = await conn.fetch(_LIST, state)
    return [Order.from_row(row) for row in rows]


async def document(conn: db.Connection, order_id: int) -> tuple[bytes, bytes] | None:
    """The exact document bytes and the signature bytes of an order."""
    async with db.translated():
        row = await conn.fetchrow(_DOCUMENT, order_id)
    return None if row is None else (bytes(row["document"]), bytes(row["signature"]))


async def tasks(conn: db.Connection, order_id: int) -> list[Task]:
    """The tasks of an order, by task id."""
    async with db.translated():
        rows = await conn.fetch(_TASKS, order_id)
    return [Task.from_row(row) for row in rows]


async def approvals(conn: db.Connection, order_id: int) -> list[Approval]:
    """Who approved an order, and when."""
    async with db.translated():
        rows = await conn.fetch(_APPROVALS, order_id)
    return [Approval(officer=row["officer"], approved_at=row["approved_at"]) for row in rows]


async def attach(conn: db.Connection, order_id: int, content: bytes, media_type: str) -> bytes:
    """Keep the document accompanying a `received` order (audited); returns its SHA-256."""
    async with db.translated():
        digest: bytes = await conn.fetchval(_ATTACH, order_id, content, media_type)
    return bytes(digest)


async def attachment(conn: db.Connection, order_id: int) -> Attachment | None:
    """The document kept with an order, if any (without its bytes)."""
    async with db.translated():
        row = await conn.fetchrow(_ATTACHMENT, order_id)
    return None if row is None else Attachment.from_row(row)


async def attachment_content(conn: db.Connection, order_id: int) -> bytes | None:
    """The bytes of the document kept with an order, if any."""
    async with db.translated():
        content: bytes | None = await conn.fetchval(_ATTACHMENT_CONTENT, order_id)
    return None if content is None else bytes(content)
