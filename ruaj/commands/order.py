"""`ruaj order import | list | show | approve | reject | cancel | document | execute`.

The officer who acts is the database user of RUAJ_DATABASE_URL; the database enforces the
lifecycle and four eyes (disclosure/lifecycle.py), and every refusal exits 3 with its reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from disclosure import errors, lifecycle
from disclosure.settings import DisclosureSettings
from ruaj import config
from ruaj.commands.authority import read_file
from ruaj.commands.execute import register_execute
from store import db, orders
from store.settings import StoreSettings

# An order document or its signature larger than this is not an order (a usage error).
MAX_INPUT_BYTES = 4 * 1024 * 1024


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj order`."""
    parser = commands.add_parser(
        "order",
        help="disclosure orders: import and verify, approve (four eyes), execute",
        description="Orders are imported with their detached CMS signature and verified, "
        "approved by two officers other than the importer, then executed. The officer who "
        "acts is the database user of RUAJ_DATABASE_URL. Refusals exit 3 with the reason.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _register_import(actions)
    listing = actions.add_parser("list", help="orders, oldest first")
    listing.add_argument("--state", choices=orders.STATES, help="only orders in this state")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one order: its tasks, approvals and document")
    show.add_argument("order_id", type=int, metavar="ID")
    show.set_defaults(handler=_show)
    approve = actions.add_parser(
        "approve",
        help="approve a verified order as the connected officer",
        description="Records the connected officer's approval; the second approval by a "
        "distinct officer, neither of them the importer, makes the order approved. Prints the "
        "state and the number of approvals. The importer, a second approval by the same "
        "officer, or an order not verified exit 3.",
    )
    approve.add_argument("order_id", type=int, metavar="ID")
    approve.set_defaults(handler=_approve)
    reject = actions.add_parser("reject", help="reject a received or verified order")
    reject.add_argument("order_id", type=int, metavar="ID")
    reject.add_argument("--reason", required=True, metavar="TEXT", help="why (kept with the order)")
    reject.set_defaults(handler=_reject)
    cancel = actions.add_parser("cancel", help="cancel an order not yet disclosed")
    cancel.add_argument("order_id", type=int, metavar="ID")
    cancel.add_argument("--reason", metavar="TEXT", help="why (kept with the order)")
    cancel.set_defaults(handler=_cancel)
    document = actions.add_parser(
        "document", help="write the document imported with an order (--document) to a file"
    )
    document.add_argument("order_id", type=int, metavar="ID")
    document.add_argument("--out", type=Path, required=True, metavar="FILE")
    document.set_defaults(handler=_document)
    register_execute(actions)


def _register_import(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = actions.add_parser(
        "import",
        help="import an order and verify its signature; prints the order's id",
        description="Validates ORDER.json against the order JSON Schema, verifies the detached "
        "CMS signature ORDER.p7s (DER) over its exact bytes against the trust anchor and CRLs "
        "registered for the authority it names, applies the policy (RUAJ_POLICY_*_TASKS) and "
        "the order's validity. Prints the order's id when it is verified; otherwise the order "
        "is recorded as rejected and the command exits 3 with the reason. --document FILE "
        "keeps the human-readable decision (e.g. the court's PDF) with the order and writes "
        "its SHA-256 to the audit log; it is not covered by the signature.",
    )
    parser.add_argument("order", type=Path, metavar="ORDER.json", help="the order document")
    parser.add_argument(
        "--signature", type=Path, required=True, metavar="ORDER.p7s",
        help="its detached CMS signature (DER)",
    )  # fmt: skip
    parser.add_argument(
        "--document", type=Path, metavar="FILE",
        help="the accompanying decision (PDF or other), kept with the order",
    )  # fmt: skip
    parser.set_defaults(handler=_import)


@asynccontextmanager
async def _connection() -> AsyncIterator[db.Connection]:
    settings = config.load(StoreSettings)
    conn = await db.connect(settings.database_url.get_secret_value())
    try:
        yield conn
    finally:
        await conn.close()


def _small(path: Path, what: str) -> bytes:
    data = read_file(path, what)
    if len(data) > MAX_INPUT_BYTES:
        raise config.UsageError(f"{what} {path} is larger than {MAX_INPUT_BYTES} bytes")
    return data


async def _import(args: argparse.Namespace) -> int:
    # Imported here: pyHanko takes about a second to import, and only this action needs it.
    from disclosure import intake

    settings = config.load(DisclosureSettings)
    data = _small(args.order, "order document")
    signature = _small(args.signature, "signature")
    attachment = None if args.document is None else read_file(args.document, "document")
    async with _connection() as conn:
        try:
            imported = await intake.import_order(
                conn, settings, data, signature, attachment=attachment
            )
        except errors.InvalidInput as exc:
            raise config.UsageError(str(exc)) from exc
    note = ""
    if imported.attachment_sha256 is not None:
        note = f"; document sha256 {imported.attachment_sha256.hex()}"
    print(
        f"order {imported.order_id} ({imported.order_reference}) verified: signed by "
        f"{imported.signer_subject}{note}",
        file=sys.stderr,
    )
    print(imported.order_id)
    return 0


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


async def _list(args: argparse.Namespace) -> int:
    async with _connection() as conn:
        found = await orders.list_orders(conn, args.state)
    rows = [("id", "reference", "authority", "state", "approvals", "valid_until", "reason")]
    for order in found:
        rows.append(
            (str(order.order_id), order.order_reference or "-", order.authority_name or "-",
             order.state, str(order.approvals), _time(order.valid_until),
             order.reason_code or "")
        )  # fmt: skip
    _table(rows)
    return 0


def _print_details(details: lifecycle.Details) -> None:
    order = details.order
    lines = [
        ("order", f"{order.order_id} ({order.order_reference or 'unreadable document'})"),
        ("state", order.state + (f" ({order.reason_code}: {order.reason})"
                                 if order.reason else "")),
        ("sha256", order.order_hash.hex()),
        ("authority", f"{order.authority_name or '-'} ({order.authority_kind or '-'})"),
        ("legal basis", order.legal_basis or "-"),
        ("valid", f"{_time(order.valid_from)} to {_time(order.valid_until)}"),
        ("recipient", order.recipient_agency or "-"),
        ("imported", f"by {order.imported_by} at {_time(order.imported_at)}"),
        ("signed", f"by {order.signer_subject} at {_time(order.signed_at)}"
         if order.signer_subject else "-"),
    ]  # fmt: skip
    if details.attachment is not None:
        attached = details.attachment
        lines.append(
            ("document", f"{attached.media_type}, {attached.size} bytes, sha256 "
                         f"{attached.sha256.hex()}")
        )  # fmt: skip
    approvals = ", ".join(f"{a.officer} at {_time(a.approved_at)}" for a in details.approvals)
    lines.append(("approvals", approvals or "none"))
    for label, value in lines:
        print(f"{label + ':':<13}{value}")
    for task in details.tasks:
        identifier = f"{task.identifier_kind}:{task.identifier_value}"
        if task.port is not None:
            identifier += f" port {task.port} at {_time(task.observed_at)}"
        else:
            identifier += f" from {_time(task.range_from)} to {_time(task.range_to)}"
        print(f"task {task.task_id}: {task.task_type} {identifier}")


async def _show(args: argparse.Namespace) -> int:
    async with _connection() as conn:
        details = await lifecycle.details(conn, args.order_id)
    _print_details(details)
    return 0


async def _approve(args: argparse.Namespace) -> int:
    async with _connection() as conn:
        outcome = await lifecycle.approve(conn, args.order_id)
    print(f"order {args.order_id}: {outcome.state}, approvals {outcome.approvals}")
    return 0


async def _reject(args: argparse.Namespace) -> int:
    async with _connection() as conn:
        try:
            state = await lifecycle.reject(conn, args.order_id, args.reason)
        except errors.InvalidInput as exc:
            raise config.UsageError(str(exc)) from exc
    print(f"order {args.order_id}: {state}")
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    async with _connection() as conn:
        state = await lifecycle.cancel(conn, args.order_id, args.reason)
    print(f"order {args.order_id}: {state}")
    return 0


async def _document(args: argparse.Namespace) -> int:
    async with _connection() as conn:
        await lifecycle.details(conn, args.order_id)
        content = await orders.attachment_content(conn, args.order_id)
    if content is None:
        raise errors.OrderRefused(
            "no_document", f"order {args.order_id} was imported without a document"
        )
    try:
        args.out.write_bytes(content)
    except OSError as exc:
        raise config.UsageError(f"cannot write {args.out}: {exc.strerror}") from exc
    print(args.out)
    return 0
