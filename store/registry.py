"""The subscriber registry: applying changes, resolving identities, attributing IP sessions.

Writes go through SECURITY DEFINER functions of migration 0005, so the ingest role needs no
privilege on the registry tables:
- `apply_changes` applies SubscriberChange rows (codec order `COLUMNS["subscriber_change"]`)
  in event-time order, idempotently, each in its own subtransaction; an assignment that would
  give an identifier two holders at one instant is refused (`identity_overlap`), never forced;
- `apply_session_spans` keeps `ruaj.ip_session_span`, the index of which NAT port block each
  data session held when (RFC 6302), from ip_session rows (codec order `COLUMNS["ip_session"]`).

Reads are the resolution functions disclosure builds on (DESIGN §3 query shapes): who held an
identifier (`identity_holders`, `holders_at`), a subscriber's identities over a range, the IMSIs
seen with an IMEI, and the session and subscriber behind a public IP and port at an instant.
Retention (the `subscribers` step of `ruaj maintain`, store/maintenance.py): `erasure_due` finds
subscribers whose contract ended at or before a horizon, `erase` removes one with its identity
history and change log, auditing the erasure by digest; `prune_session_spans` removes the spans
of sessions whose records are gone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from store import audit, db

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The results `apply_changes` gives per row besides a dead-letter reason.
STORED = "stored"
DUPLICATE = "duplicate"
#: Dead-letter reason of an assignment that overlaps another holder.
IDENTITY_OVERLAP = "identity_overlap"

_APPLY: LiteralString = """
SELECT ruaj.subscriber_apply($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
    $12::timestamptz[], $13::timestamptz[], $14::text[], $15::text[])
"""
_SPANS: LiteralString = """
SELECT ruaj.ip_session_span_apply($1::text[], $2::timestamptz[], $3::inet[], $4::integer[],
    $5::integer[], $6::timestamptz[], $7::timestamptz[])
"""
_HOLDERS: LiteralString = "SELECT * FROM ruaj.identity_holders($1, $2, $3, $4)"
_IDENTITIES: LiteralString = "SELECT * FROM ruaj.subscriber_identities($1, $2, $3)"
_IMEI_IMSIS: LiteralString = "SELECT * FROM ruaj.imei_imsis($1, $2, $3)"
_ATTRIBUTION: LiteralString = "SELECT * FROM ruaj.ip_attribution($1::inet, $2, $3)"
_ERASURE_DUE: LiteralString = "SELECT * FROM ruaj.subscriber_erasure_due($1, $2)"
# LIMIT NULL is no limit: the count is made in the database, no id leaves it.
_ERASURE_DUE_COUNT: LiteralString = "SELECT count(*) FROM ruaj.subscriber_erasure_due($1, NULL)"
_ERASE: LiteralString = "SELECT * FROM ruaj.subscriber_erase($1, $2)"
_PRUNE: LiteralString = "SELECT ruaj.ip_session_span_prune($1)"

# Positions of the ip_session columns the span index needs (codec COLUMNS["ip_session"]).
_SESSION_ID, _EVENT_TIME, _SESSION_START, _SESSION_END = 1, 3, 4, 5
_PUBLIC_IP, _PORT_FIRST, _PORT_LAST = 11, 12, 13
_CHANGE_COLUMNS = 15


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """One subscriber's holding of an identifier over `[held_from, held_to)`."""

    subscriber_id: str
    held_from: datetime
    held_to: datetime | None  # None: still held

    @classmethod
    def from_row(cls, row: db.Record) -> Holding:
        """Build from a row of `ruaj.identity_holders`."""
        return cls(subscriber_id=row["subscriber_id"], held_from=row["held_from"],
                   held_to=row["held_to"])  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """An identity (MSISDN, IMSI or ICCID) a subscriber held over `[held_from, held_to)`."""

    kind: str
    value: str
    held_from: datetime
    held_to: datetime | None  # None: still held

    @classmethod
    def from_row(cls, row: db.Record) -> Identity:
        """Build from a row of `ruaj.subscriber_identities`."""
        return cls(kind=row["kind"], value=row["value"], held_from=row["held_from"],
                   held_to=row["held_to"])  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ImsiSighting:
    """An IMSI seen with an IMEI, first and last time in the range asked."""

    imsi: str
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def from_row(cls, row: db.Record) -> ImsiSighting:
        """Build from a row of `ruaj.imei_imsis`."""
        return cls(imsi=row["imsi"], first_seen=row["first_seen"], last_seen=row["last_seen"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    """The data session behind a public IP and port at an instant, and its subscriber."""

    session_id: str
    msisdn: str
    imsi: str
    imei: str | None
    private_ip: IpAddress
    public_ip: IpAddress
    public_port_first: int
    public_port_last: int
    session_start: datetime
    session_end: datetime | None  # None: no STOP known (open, or ended by the next session)
    subscriber_id: str | None  # None: nobody in the registry held its MSISDN or IMSI then

    @classmethod
    def from_row(cls, row: db.Record) -> Attribution:
        """Build from a row of `ruaj.ip_attribution`."""
        return cls(
            session_id=row["session_id"],
            msisdn=row["msisdn"],
            imsi=row["imsi"],
            imei=row["imei"],
            private_ip=row["private_ip"],
            public_ip=row["public_ip"],
            public_port_first=row["public_port_first"],
            public_port_last=row["public_port_last"],
            session_start=row["session_start"],
            session_end=row["session_end"],
            subscriber_id=row["subscriber_id"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Erasure:
    """One subscriber erased by retention (the id stays in memory, never in logs)."""

    digest: str  # store.audit.identifier_digest("subscriber", id)
    contract_end: datetime
    identities: int
    changes: int


async def apply_changes(conn: db.Connection, rows: Sequence[tuple[object, ...]]) -> list[str]:
    """Apply SubscriberChange rows in the order given; one result per row.

    A result is `STORED`, `DUPLICATE` (already applied, or the subscriber was erased after
    it) or a dead-letter reason (`IDENTITY_OVERLAP`). Sort rows by event time first: the state
    reached does not depend on the order, but which of two conflicting assignments is refused
    does. Runs in the caller's transaction.
    """
    if not rows:
        return []
    columns = [list(column) for column in zip(*rows, strict=True)]
    if len(columns) != _CHANGE_COLUMNS:
        raise ValueError(f"a subscriber change row has {_CHANGE_COLUMNS} values")
    async with db.translated():
        results: list[str] = await conn.fetchval(_APPLY, *columns)
    return results


class SessionSpans:
    """The port-block spans of ip_session rows, folded per session as the rows come.

    A session (session id and start) has about three records in a batch (START, INTERIM,
    STOP); each becomes one span here, as the SQL function would fold them: address and port
    block of its earliest record, its latest end and latest event time. Folding as rows are
    added lets `ingest` do it while the previous batch is being written, and sends PostgreSQL a
    third of the array elements. Rows are the codec's, with the connection's representation of
    times and addresses (datetimes and packed addresses, or the wire forms of `store.wire`).
    """

    __slots__ = ("_spans",)

    def __init__(self) -> None:
        # (session_id, session_start) → [public_ip, port_first, port_last, earliest event time,
        # latest session_end, latest event time]
        self._spans: dict[tuple[Any, Any], list[Any]] = {}

    def add(self, row: Sequence[Any]) -> None:
        """Fold one ip_session row in."""
        key = (row[_SESSION_ID], row[_SESSION_START])
        at, end = row[_EVENT_TIME], row[_SESSION_END]
        span = self._spans.get(key)
        if span is None:
            self._spans[key] = [row[_PUBLIC_IP], row[_PORT_FIRST], row[_PORT_LAST], at, end, at]
            return
        if at < span[3]:
            span[0], span[1], span[2], span[3] = (row[_PUBLIC_IP], row[_PORT_FIRST],
                                                  row[_PORT_LAST], at)  # fmt: skip
        if end is not None and (span[4] is None or end > span[4]):
            span[4] = end
        if at > span[5]:
            span[5] = at

    def __len__(self) -> int:
        return len(self._spans)

    def columns(self) -> tuple[list[Any], ...]:
        """The spans as the SQL function's arrays: session ids, starts, addresses, first and
        last ports, ends, latest event times."""
        arrays: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        session_ids, starts, addresses, firsts, lasts, ends, seen = arrays
        for (session_id, start), (address, first, last, _, end, latest) in self._spans.items():
            session_ids.append(session_id)
            starts.append(start)
            addresses.append(address)
            firsts.append(first)
            lasts.append(last)
            ends.append(end)
            seen.append(latest)
        return arrays

    async def apply(self, conn: db.Connection) -> int:
        """Record the spans (`ruaj.ip_session_span`); returns those inserted or updated.

        Idempotent and independent of arrival order (START, INTERIM and STOP of one session
        may come in any order, in any batches). Runs in the caller's transaction.
        """
        if not self._spans:
            return 0
        arrays = self.columns()
        async with db.translated():
            count: int = await conn.fetchval(_SPANS, *arrays)
        return count


async def apply_session_spans(conn: db.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Record the port-block spans of ip_session rows (folded per session, `SessionSpans`);
    returns the spans inserted or updated. Runs in the caller's transaction."""
    spans = SessionSpans()
    for row in rows:
        spans.add(row)
    return await spans.apply(conn)


async def identity_holders(conn: db.Connection, kind: str, value: str, start: datetime,
                           end: datetime) -> list[Holding]:  # fmt: skip
    """Everyone who held `kind`:`value` at any instant of `[start, end)`, oldest first.

    `start == end` asks about that instant. `kind` is MSISDN, IMSI or ICCID (any case).
    """
    async with db.translated():
        rows = await conn.fetch(_HOLDERS, kind, value, start, end)
    return [Holding.from_row(row) for row in rows]


async def holders_at(conn: db.Connection, kind: str, value: str, at: datetime) -> list[Holding]:
    """Who held `kind`:`value` at the instant `at` (at most one: the exclusion constraint)."""
    return await identity_holders(conn, kind, value, at, at)


async def subscriber_identities(conn: db.Connection, subscriber_id: str, start: datetime,
                                end: datetime) -> list[Identity]:  # fmt: skip
    """Every identity `subscriber_id` held at any instant of `[start, end)`."""
    async with db.translated():
        rows = await conn.fetch(_IDENTITIES, subscriber_id, start, end)
    return [Identity.from_row(row) for row in rows]


async def imei_imsis(conn: db.Connection, imei: str, start: datetime,
                     end: datetime) -> list[ImsiSighting]:  # fmt: skip
    """The IMSIs seen with handset `imei` in `[start, end)` (observations and traffic)."""
    async with db.translated():
        rows = await conn.fetch(_IMEI_IMSIS, imei, start, end)
    return [ImsiSighting.from_row(row) for row in rows]


async def ip_attribution(conn: db.Connection, public_ip: str | IpAddress, port: int,
                         at: datetime) -> list[Attribution]:  # fmt: skip
    """The session(s) whose NAT port block on `public_ip` held `port` at `at`, newest first."""
    address = ipaddress.ip_address(public_ip) if isinstance(public_ip, str) else public_ip
    async with db.translated():
        rows = await conn.fetch(_ATTRIBUTION, address, port, at)
    return [Attribution.from_row(row) for row in rows]


async def erasure_due(conn: db.Connection, horizon: datetime,
                      limit: int) -> list[tuple[str, datetime]]:  # fmt: skip
    """Up to `limit` (subscriber id, contract end) due for erasure at `horizon`: the contract
    ended at or before it and was not reopened since (migration 0012), oldest end first."""
    async with db.translated():
        rows = await conn.fetch(_ERASURE_DUE, horizon, limit)
    return [(row["subscriber_id"], row["contract_end"]) for row in rows]


async def erasure_due_count(conn: db.Connection, horizon: datetime) -> int:
    """How many subscribers are due for erasure at `horizon` (as `erasure_due` finds them)."""
    async with db.translated():
        count: int = await conn.fetchval(_ERASURE_DUE_COUNT, horizon)
    return count


async def erase(conn: db.Connection, subscriber_id: str, horizon: datetime) -> Erasure | None:
    """Erase one subscriber due at `horizon` and audit it, in the caller's transaction.

    None when the subscriber is not due (any more). The audit entry names the subscriber by
    digest only.
    """
    async with db.translated():
        row = await conn.fetchrow(_ERASE, subscriber_id, horizon)
    if row is None:
        return None
    erasure = Erasure(digest=audit.identifier_digest("subscriber", subscriber_id),
                      contract_end=row["contract_end"], identities=row["identities"],
                      changes=row["changes"])  # fmt: skip
    await audit.append(
        conn,
        "registry.subscriber_erased",
        {
            "subscriber": erasure.digest,
            "contract_end": erasure.contract_end.isoformat(),
            "horizon": horizon.isoformat(),
            "identities": erasure.identities,
            "changes": erasure.changes,
        },
    )
    return erasure


async def prune_session_spans(conn: db.Connection, before: datetime) -> int:
    """Delete spans whose last record is older than `before`; returns how many."""
    async with db.translated():
        count: int = await conn.fetchval(_PRUNE, before)
    return count
