"""Execution of an approved order: guarded reads, the release, and the package.

`ruaj order execute ID --out DIR` runs `execute` as the officer of `RUAJ_DATABASE_URL`:

1. Every task is checked by the database (`ruaj.release_check`) in a transaction of its own
   that is committed, so that a refusal — order not approved, expired, a task outside scope —
   stays in the audit log; a refusal stops here with exit 3 and nothing is read.
2. In one transaction: every task is read through its guarded function (store/release.py),
   which checks scope again and records and audits the read; the package's files and hash are
   made; `ruaj.order_mark_disclosed` moves the order to `disclosed` and appends the release
   entry with each task's row count and the package hash. Either all of it commits or none.
3. After the commit: the release entry's audit receipt (a checkpoint is signed when the newest
   does not cover it), the signed manifest, HPKE encryption to the order's recipient key, and
   the package file, written atomically to DIR.

Everything that can fail for want of configuration (operator key, checkpoint directory, the
recipient's key, the output directory) is checked before step 1, so an order is never marked
disclosed without its package being made.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from disclosure import checkpoint, errors, keys, package, receipt, recipient
from disclosure.settings import DisclosureSettings
from store import db, orders, release

logger = logging.getLogger(__name__)

# What each reason code of the database means, for the officer.
REASONS = {
    "not_officer": "the database user is not an officer (a member of ruaj_officer)",
    "no_order": "there is no such order",
    "not_approved": "the order is not approved (two officers other than the importer must "
    "approve it first)",
    "outside_validity": "the order is outside its validity period",
    "no_task": "the order has no such task",
    "wrong_task_type": "the task is of another type",
    "wrong_identifier": "the identifier is not the task's",
    "outside_range": "the time range is not inside the task's",
    "window_too_long": "the window is longer than the policy allows for a cell dump",
    "task_not_read": "not every task of the order was executed",
    "too_large": "the package would exceed RUAJ_PACKAGE_MAX_BYTES",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOutcome:
    """One task as released."""

    task_id: str
    task_type: str
    rows: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """An executed order: its package file and what went into it."""

    order_id: int
    path: Path
    package_sha256: str
    audit_index: int
    tasks: tuple[TaskOutcome, ...]


def describe(reason: str) -> str:
    """The officer's explanation of a reason code."""
    return REASONS.get(reason, reason)


def _refused(reason: str, message: str) -> errors.Refused:
    return errors.Refused(f"{message} [{reason}]")


def _window(task: orders.Task) -> tuple[dt.datetime, dt.datetime]:
    if task.observed_at is not None:
        return task.observed_at, task.observed_at
    if task.range_from is None or task.range_to is None:
        raise errors.Refused(f"task {task.task_id} has neither a range nor an instant")
    return task.range_from, task.range_to


def _identifier(task: orders.Task) -> dict[str, object]:
    identifier: dict[str, object] = {"kind": task.identifier_kind, "value": task.identifier_value}
    if task.port is not None:
        identifier["port"] = task.port
    if task.observed_at is not None:
        identifier["observed_at"] = package.rfc3339(task.observed_at)
    return identifier


def _check_output(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise errors.NotConfigured(f"cannot write packages to {out_dir}")


def _write(out_dir: Path, name: str, data: bytes) -> Path:
    """Write the package atomically: a reader never sees half of it."""
    path = out_dir / name
    fd, temporary = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


async def _checked(conn: db.Connection, order_id: int, tasks: list[orders.Task]) -> None:
    """Step 1: the database's verdict on every task, refusals audited and committed."""
    refusals = []
    async with conn.transaction():
        for task in tasks:
            start, end = _window(task)
            reason = await release.check(
                conn, order_id, task.task_id, task.task_type, task.identifier_value, start, end
            )
            if reason is not None:
                refusals.append((task.task_id, reason))
    if refusals:
        task_id, reason = refusals[0]
        raise _refused(reason, f"order {order_id}, task {task_id}: {describe(reason)}")


async def execute(
    conn: db.Connection, settings: DisclosureSettings, order_id: int, out_dir: Path
) -> Outcome:
    """Execute an approved order as the connected officer; returns the package written.

    Raises `Refused` (exit 3) when the database refuses any task or the order cannot be
    released, `OperatorKeyError` / `NotConfigured` when a setting is missing.
    """
    operator_key = keys.load_operator_key(settings)
    checkpoint.directory_of(settings)
    _check_output(out_dir)
    order = await orders.get(conn, order_id)
    if order is None:
        raise _refused("no_order", f"there is no order {order_id}")
    tasks = await orders.tasks(conn, order_id)
    await _checked(conn, order_id, tasks)
    recipient_key = recipient.parse_public_key(order.recipient_public_key or "")

    order_ref = package.OrderRef(
        order_id=order_id,
        order_reference=order.order_reference or "",
        order_sha256=order.order_hash.hex(),
        recipient_agency=order.recipient_agency or "",
    )
    try:
        async with conn.transaction():
            released = []
            for task in tasks:
                start, end = _window(task)
                rows = await release.read(
                    conn, order_id, task.task_id, task.task_type, task.identifier_value, start, end
                )
                released.append(
                    package.TaskData(
                        task_id=task.task_id,
                        task_type=task.task_type,
                        identifier=_identifier(task),
                        range_from=task.range_from,
                        range_to=task.range_to,
                        columns=rows.columns,
                        rows=rows.rows,
                    )
                )
            contents = package.contents(order_ref, released)
            if contents.size > settings.package_max_bytes:
                raise _refused(
                    "too_large",
                    f"order {order_id}: the package would hold {contents.size} bytes, more than "
                    f"RUAJ_PACKAGE_MAX_BYTES ({settings.package_max_bytes}); nothing was "
                    "released — ask for narrower tasks",
                )
            index = await release.mark_disclosed(conn, order_id, contents.content_sha256)
    except release.ReleaseRefused as exc:
        raise _refused(exc.reason, f"order {order_id}: {describe(exc.reason)}") from exc

    made = await receipt.receipt(conn, settings, index)
    sealed = package.seal(
        contents,
        made,
        operator_key=operator_key,
        recipient_key=recipient_key,
        at=dt.datetime.now(dt.UTC),
    )
    path = _write(out_dir, f"order-{order_id}.ruajpkg", sealed)
    outcome = tuple(
        TaskOutcome(task_id=t.task_id, task_type=t.task_type, rows=len(t.rows)) for t in released
    )
    logger.info(
        "order executed",
        extra={"order_id": order_id, "tasks": len(outcome), "audit_index": index},
    )
    return Outcome(
        order_id=order_id,
        path=path,
        package_sha256=contents.content_sha256,
        audit_index=index,
        tasks=outcome,
    )
