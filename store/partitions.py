"""Day partitions of the event tables: names, creation, listing.

A partition holds one UTC day `[D 00:00Z, D+1 00:00Z)` and is named `<table>_pYYYYMMDD`.
Names are built only from the table catalogue and a date, never from input, and quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import LiteralString

from store import db, tables

_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")

_ENSURE: LiteralString = "SELECT ruaj.ensure_partition($1, $2)"
_LIST: LiteralString = """
SELECT c.relname AS name
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = 'ruaj' AND p.relname = $1
ORDER BY c.relname
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """One day partition of an event table."""

    table: str
    day: date

    @property
    def name(self) -> str:
        """`<table>_pYYYYMMDD`."""
        return name(self.table, self.day)

    @property
    def start(self) -> datetime:
        """First instant of the day (UTC)."""
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """First instant of the next day (UTC): the exclusive upper bound."""
        return self.start + timedelta(days=1)


def name(table: str, day: date) -> str:
    """The partition name for `table` on `day`."""
    tables.get(table)
    return f"{table}_p{day:%Y%m%d}"


def parse(partition_name: str) -> Partition | None:
    """The partition a name stands for, or None if it is not one of ours."""
    match = _NAME.match(partition_name)
    if match is None or match["table"] not in tables.BY_NAME:
        return None
    return Partition(table=match["table"], day=datetime.strptime(match["day"], "%Y%m%d").date())


def day_of(instant: datetime) -> date:
    """The UTC day an instant falls in."""
    return instant.astimezone(UTC).date()


async def ensure(conn: db.Connection, table: str, day: date) -> str:
    """Create the partition of `table` for `day` if it is missing; returns its name.

    Call it outside a long transaction: it briefly locks the parent table.
    """
    tables.get(table)
    async with db.translated():
        result: str = await conn.fetchval(_ENSURE, table, day)
    return result


async def list_days(conn: db.Connection, table: str) -> list[Partition]:
    """The table's day partitions, oldest first."""
    tables.get(table)
    async with db.translated():
        rows = await conn.fetch(_LIST, table)
    found = [parse(row["name"]) for row in rows]
    return sorted((p for p in found if p is not None), key=lambda p: p.day)
