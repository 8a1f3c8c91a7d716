"""Helpers for the retention and hold tests: event rows on chosen days, for chosen MSISDNs."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from store import db, maintenance, partitions, tables
from store.settings import StoreSettings

IMSI_OF = {"38344000001": "221020000000001", "38344000002": "221020000000002"}
A, B = "38344000001", "38344000002"
STRANGER = "38349999999"
IMEI_OF = {A: "490154203237518", B: "356938035643809"}
PUBLIC_IP_OF = {A: "203.0.113.7", B: "203.0.113.8"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One inserted row: its table, id, time and the MSISDN it is about."""

    table: str
    event_id: uuid.UUID
    at: datetime
    msisdn: str


def settings(url: str, **windows: int) -> StoreSettings:
    """Store settings for `url`, short lock timeouts, and the given windows."""
    values: dict[str, Any] = {
        "database_url": url,
        "retention_lock_timeout_ms": 50,
        "retention_concurrent_detach_timeout_ms": 200,
        "retention_drop_attempts": 2,
    }
    values.update(windows)
    return StoreSettings(**values)


def _row(table: str, event_id: uuid.UUID, at: datetime, msisdn: str, role: int) -> tuple[Any, ...]:
    """A row of `table` about `msisdn`; `role` varies which column names it (for CDRs: the
    calling, called or forwarded-to party) so that holds must look at all of them."""
    imsi, imei = IMSI_OF.get(msisdn, "221029999999999"), IMEI_OF.get(msisdn, "352099001761481")
    if table == "cdr":
        parties = [(msisdn, STRANGER, None), (STRANGER, msisdn, None), (STRANGER, "112", msisdn)]
        calling, called, forwarded = parties[role % 3]
        return (event_id, at, at + timedelta(seconds=30), "VOICE",
                "FORWARDED" if forwarded else "ORIGINATING", calling, called, forwarded,
                msisdn if role % 3 == 0 else STRANGER, imsi, imei, "221-02-1-1", None, None,
                "msc-1")  # fmt: skip
    if table == "sms":
        sender, recipient = (msisdn, STRANGER) if role % 2 == 0 else (STRANGER, msisdn)
        return (event_id, at, "MO", sender, recipient, msisdn, imsi, imei, None, "SMS",
                "DELIVERED", "smsc-1")  # fmt: skip
    if table == "imei_observation":
        return (event_id, at, imei, imsi, msisdn, None, "ATTACH", "mme-1")
    public_ip = ipaddress.ip_address(PUBLIC_IP_OF.get(msisdn, "198.51.100.1"))
    return (event_id, str(role), "START", at, at, None, msisdn, imsi, imei, "internet",
            ipaddress.ip_address("10.0.0.1"), public_ip, 1024, 2047, None, None, None)  # fmt: skip


async def insert(
    conn: db.Connection, days: Iterable[date], msisdns: Sequence[str], *, per_day: int = 1
) -> list[Event]:
    """For every event table, day and MSISDN: `per_day` rows at noon; returns them."""
    events: list[Event] = []
    by_table: dict[str, list[tuple[Any, ...]]] = {t.name: [] for t in tables.EVENT_TABLES}
    for day in days:
        for table in tables.EVENT_TABLES:
            await partitions.ensure(conn, table.name, day)
        for role, msisdn in enumerate(msisdns):
            for n in range(per_day):
                at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC) + timedelta(minutes=n)
                for table in tables.EVENT_TABLES:
                    event_id = uuid.uuid4()
                    by_table[table.name].append(_row(table.name, event_id, at, msisdn, role + n))
                    events.append(Event(table=table.name, event_id=event_id, at=at, msisdn=msisdn))
    for table_name, rows in by_table.items():
        await conn.copy_records_to_table(table_name, schema_name="ruaj", records=rows)
    return events


async def stored_ids(conn: db.Connection, table: str, *, held: bool = False) -> set[uuid.UUID]:
    """event_ids in an event table (or its hold storage)."""
    name = f"held_{table}" if held else table
    rows = await conn.fetch(f"SELECT event_id FROM ruaj.{db.quote_ident(name)}")
    return {row["event_id"] for row in rows}


async def run_pass(
    pool: db.Pool, store_settings: StoreSettings, now: datetime, *, dry_run: bool = False
) -> tuple[maintenance.PassOutcome, list[str]]:
    """One pass of the store's steps at `now`; returns its outcome and the lines it reported."""
    lines: list[str] = []
    ctx = maintenance.Context(
        now=now, dry_run=dry_run, settings=store_settings, pool=pool, report=lines.append
    )
    outcome = await maintenance.run_pass(ctx, maintenance.STORE_STEPS)
    return outcome, lines
