"""The guarded reads of order execution: calls of the SECURITY DEFINER functions of 0009.

This module is the only road from an officer's connection to event, hold and subscriber data,
and it is a narrow one: each task type has one `ruaj.disclose_<type>` function that checks, in
the database, the order's state and validity and that the request lies inside the task's
identifier and range. A request outside scope raises `ReleaseRefused` with the database's reason
code; nothing here can widen what the database allows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

import asyncpg

from store import db, errors

TASK_FUNCTIONS: dict[str, LiteralString] = {
    "subscriber_data": "SELECT * FROM ruaj.disclose_subscriber_data($1, $2, $3, $4, $5)",
    "traffic_data": "SELECT * FROM ruaj.disclose_traffic_data($1, $2, $3, $4, $5)",
    "sms_data": "SELECT * FROM ruaj.disclose_sms_data($1, $2, $3, $4, $5)",
    "equipment_data": "SELECT * FROM ruaj.disclose_equipment_data($1, $2, $3, $4, $5)",
    "ip_attribution": "SELECT * FROM ruaj.disclose_ip_attribution($1, $2, $3, $4, $5)",
    "cell_dump": "SELECT * FROM ruaj.disclose_cell_dump($1, $2, $3, $4, $5)",
    "preservation": "SELECT * FROM ruaj.disclose_preservation($1, $2, $3, $4, $5)",
}
_CHECK: LiteralString = "SELECT ruaj.release_check($1, $2, $3, $4, $5, $6)"
_MARK: LiteralString = "SELECT ruaj.order_mark_disclosed($1, $2)"
_REASON = re.compile(r"refused \(([a-z_]+)\)")


class ReleaseRefused(errors.InsufficientPrivilege):
    """The database refused a guarded read or the release; `reason` is its reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Rows:
    """A guarded read's result: column names and rows in the database's order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _refused(exc: asyncpg.InsufficientPrivilegeError) -> ReleaseRefused:
    message = str(exc)
    found = _REASON.search(message)
    return ReleaseRefused(found.group(1) if found else "not_permitted", message)


async def check(
    conn: db.Connection,
    order_id: int,
    task_id: str,
    task_type: str,
    identifier: str,
    start: datetime,
    end: datetime,
) -> str | None:
    """None if the database would serve this read; else its reason code (refusal audited)."""
    async with db.translated():
        reason: str | None = await conn.fetchval(
            _CHECK, order_id, task_id, task_type, identifier, start, end
        )
    return reason


async def read(
    conn: db.Connection,
    order_id: int,
    task_id: str,
    task_type: str,
    identifier: str,
    start: datetime,
    end: datetime,
) -> Rows:
    """One guarded read; `ReleaseRefused` when the database finds it outside scope."""
    try:
        query = TASK_FUNCTIONS[task_type]
    except KeyError:
        raise ValueError(f"unknown task type {task_type!r}") from None
    try:
        async with db.translated():
            statement = await conn.prepare(query)
            records = await statement.fetch(order_id, task_id, identifier, start, end)
    except errors.InsufficientPrivilege as exc:
        cause = exc.__cause__
        if isinstance(cause, asyncpg.InsufficientPrivilegeError):
            raise _refused(cause) from cause
        raise
    columns = tuple(attribute.name for attribute in statement.get_attributes())
    return Rows(columns=columns, rows=[tuple(r) for r in records])


async def mark_disclosed(conn: db.Connection, order_id: int, package_sha256: str) -> int:
    """Mark the order disclosed, in the caller's transaction; returns the release entry's index.

    The database refuses (`ReleaseRefused`) unless every task was read in this transaction.
    """
    try:
        async with db.translated():
            index: int = await conn.fetchval(_MARK, order_id, package_sha256)
    except errors.InsufficientPrivilege as exc:
        cause = exc.__cause__
        if isinstance(cause, asyncpg.InsufficientPrivilegeError):
            raise _refused(cause) from cause
        raise
    return index


def task_types() -> Sequence[str]:
    """The task types that have a guarded function."""
    return tuple(TASK_FUNCTIONS)
