"""Rows of the registry's inputs, in codec order, for tests to apply directly."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ingest import codec
from store import db, partitions, registry

T0 = datetime(2026, 10, 3, 18, 0, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def change(subscriber_id: str, operation: str, at: datetime, *, kind: str | None = None,
           value: str | None = None, event_id: str | None = None,
           **kyc: object) -> tuple[object, ...]:  # fmt: skip
    """A SubscriberChange row (codec `COLUMNS["subscriber_change"]` order)."""
    fields: dict[str, object] = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_time": at,
        "subscriber_id": subscriber_id,
        "operation": operation,
        "identity_kind": kind,
        "identity_value": value,
    }
    fields.update(kyc)
    return tuple(fields.get(column) for column in codec.COLUMNS["subscriber_change"])


def assign(subscriber_id: str, kind: str, value: str, at: datetime) -> tuple[object, ...]:
    """An ASSIGN_IDENTITY row."""
    return change(subscriber_id, "ASSIGN_IDENTITY", at, kind=kind, value=value)


def release(subscriber_id: str, kind: str, value: str, at: datetime) -> tuple[object, ...]:
    """A RELEASE_IDENTITY row."""
    return change(subscriber_id, "RELEASE_IDENTITY", at, kind=kind, value=value)


def session(session_id: str, status: str, at: datetime, *, start: datetime,
            end: datetime | None = None, public_ip: str = "198.18.0.1", first: int = 1024,
            last: int = 1535, msisdn: str = "38344123456", imsi: str = "221021234567890",
            imei: str | None = "490154203237518",
            private_ip: str = "100.64.0.2") -> tuple[object, ...]:  # fmt: skip
    """An ip_session row as the codec makes it (addresses packed)."""
    fields: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "session_id": session_id,
        "status": status,
        "event_time": at,
        "session_start": start,
        "session_end": end,
        "msisdn": msisdn,
        "imsi": imsi,
        "imei": imei,
        "apn": "internet",
        "private_ip": ipaddress.ip_address(private_ip).packed,
        "public_ip": ipaddress.ip_address(public_ip).packed,
        "public_port_first": first,
        "public_port_last": last,
        "cell": None,
        "bytes_up": None,
        "bytes_down": None,
    }
    return tuple(fields[column] for column in codec.COLUMNS["ip_session"])


async def store_sessions(conn: db.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """COPY ip_session rows into their day partitions and record their spans, as ingest does."""
    async with conn.transaction():
        for day in sorted({row[3].date() for row in rows}):  # type: ignore[attr-defined]
            await partitions.ensure(conn, "ip_session", day)
        await conn.copy_records_to_table(
            "ip_session", schema_name="ruaj", columns=codec.COLUMNS["ip_session"], records=rows
        )
        await registry.apply_session_spans(conn, rows)
