"""Decoded rows are what the real tables take: a binary COPY of them succeeds and reads back."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ingest import avro, codec
from store import db, partitions, wire
from tests import samples

pytestmark = pytest.mark.integration

SCHEMAS = avro.load()
EVENT_TABLES = ("cdr", "sms", "imei_observation", "ip_session")


async def test_columns_are_the_tables_columns_in_order(conn: db.Connection) -> None:
    for table in EVENT_TABLES:
        names = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'ruaj' AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        assert tuple(r["column_name"] for r in names) == codec.COLUMNS[table]


def _variants() -> list[tuple[str, dict[str, Any]]]:
    """Records of every event type: all optional fields set, all null, and edge values."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name in ("cdr", "sms", "imei", "ipsession"):
        out.append((name, {}))
        optional = [
            f["name"] for f in SCHEMAS.reader(name).schema["fields"] if isinstance(f["type"], list)
        ]
        nulls: dict[str, Any] = dict.fromkeys(optional)
        if name == "ipsession":
            nulls["status"] = "START"
            nulls["event_time"] = nulls["session_start"] = samples.NOW - timedelta(hours=2)
        out.append((name, nulls))
    out.append(("cdr", {"served_imei": samples.IMEISV, "direction": "FORWARDED",
                        "forwarded_to": "38345111222", "called_number": "112"}))  # fmt: skip
    out.append(("sms", {"sender": "BANK KS", "served_imei": samples.IMEISV}))
    out.append(("imei", {"imei": samples.IMEISV, "reason": "HANDSET_CHANGE"}))
    out.append(("ipsession", {"private_ip": "fd00::12", "public_ip": "2001:db8::7",
                              "public_port_first": 0, "public_port_last": 65535,
                              "bytes_up": (1 << 63) - 1, "status": "STOP"}))  # fmt: skip
    out.append(("ipsession", {"status": "INTERIM", "session_end": None}))
    return out


def _expected(column: str, sent: Any) -> Any:
    if column == "event_id":
        return uuid.UUID(sent)
    if column in ("private_ip", "public_ip"):
        return ipaddress.ip_address(sent)
    if column in ("served_imei", "imei") and sent == samples.IMEISV:
        return samples.IMEI
    return sent


async def test_a_copy_of_decoded_rows_succeeds_and_reads_back(conn: db.Connection) -> None:
    subject = codec.Codec(SCHEMAS, now=lambda: samples.NOW, future_skew=timedelta(minutes=5))
    sent: dict[str, list[dict[str, Any]]] = {t: [] for t in EVENT_TABLES}
    rows: dict[str, list[tuple[object, ...]]] = {t: [] for t in EVENT_TABLES}
    days: set[tuple[str, Any]] = set()
    for index, (name, changes) in enumerate(_variants()):
        record = samples.BY_SCHEMA[name](**changes, event_id=str(uuid.UUID(int=index + 1)))
        decoded = subject.decode(samples.TOPIC_OF[name], SCHEMAS.encode(name, record))
        sent[decoded.table].append(record)
        rows[decoded.table].append(decoded.row)
        days.add((decoded.table, wire.day(decoded.event_time)))
    for table, day in sorted(days):
        await partitions.ensure(conn, table, day)
    await wire.use(conn)  # as the worker's connection
    for table in EVENT_TABLES:
        await conn.copy_records_to_table(
            table, schema_name="ruaj", columns=list(codec.COLUMNS[table]), records=rows[table]
        )
    await wire.unuse(conn)  # read back with asyncpg's own codecs
    for table in EVENT_TABLES:
        stored = {
            str(r["event_id"]): dict(r) for r in await conn.fetch(f"SELECT * FROM ruaj.{table}")
        }
        assert len(stored) == len(sent[table]) > 0
        for record in sent[table]:
            back = stored[record["event_id"]]
            for column in codec.COLUMNS[table]:
                want = _expected(column, record[column])
                got = back[column]
                if isinstance(want, datetime):
                    assert got == want and got.utcoffset() == timedelta(0), column
                else:
                    assert got == want, (table, column)


async def test_a_wire_connection_sends_arrays_and_refuses_values_of_other_types(
    conn: db.Connection,
) -> None:
    # The registry and the duplicate-skipping path send timestamps and addresses as arrays.
    at = datetime(2026, 10, 3, 18, 0, 0, 123_456, tzinfo=UTC)
    address = ipaddress.ip_address("2001:db8::7")
    await wire.use(conn)
    got = await conn.fetchrow(
        "SELECT ($1::timestamptz[])[1]::text AS at, ($2::inet[])[1]::text AS address",
        [wire.timestamp(at), None], [wire.address(address.packed)],
    )  # fmt: skip
    assert got is not None
    assert (got["at"], got["address"]) == ("2026-10-03 18:00:00.123456+00", "2001:db8::7/128")
    with pytest.raises(asyncpg.DataError, match="not an integer"):
        await conn.fetchval("SELECT $1::timestamptz", at)  # a datetime is not a wire timestamp
    with pytest.raises(asyncpg.DataError, match="wire bytes"):
        await conn.fetchval("SELECT $1::inet", 5)
    await wire.unuse(conn)
    assert await conn.fetchval("SELECT $1::timestamptz", at) == at
