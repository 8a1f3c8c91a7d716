"""The officers' decisions on a verified order — approve (four eyes), reject, cancel — and reading
orders back.

The database decides (migration 0006, `session_user` is the officer): this module turns its
answers into `OrderRefused` with the reason code and words an officer understands.
"""

from __future__ import annotations

from dataclasses import dataclass

from disclosure import errors
from store import db, orders

REASONS: dict[str, str] = {
    "no_order": "there is no such order",
    "not_officer": "the database user is not an officer (a member of ruaj_officer)",
    "wrong_state": "the order is not in a state that allows this",
    "outside_validity": "the order is outside its validity period",
    "importer_approval": "the officer who imported the order may not approve it (four eyes)",
    "repeat_approval": "this officer has already approved the order (two distinct officers)",
}


def _refused(order_id: int, reason: str, detail: str = "") -> errors.OrderRefused:
    return errors.OrderRefused(reason, f"order {order_id}: {REASONS[reason]}{detail}")


async def _existing(conn: db.Connection, order_id: int) -> orders.Order:
    order = await orders.get(conn, order_id)
    if order is None:
        raise _refused(order_id, "no_order")
    return order


async def approve(conn: db.Connection, order_id: int) -> orders.ApprovalOutcome:
    """The connected officer's approval; the order is `approved` at the second distinct one.

    Raises `OrderRefused` (audited by the database) for the importer, a repeated approval, an
    order not `verified` or past its validity.
    """
    await _existing(conn, order_id)
    outcome = await orders.approve(conn, order_id)
    if outcome.refused is not None:
        detail = f" (state {outcome.state})" if outcome.refused == "wrong_state" else ""
        raise _refused(order_id, outcome.refused, detail)
    return outcome


async def reject(conn: db.Connection, order_id: int, reason: str) -> str:
    """An officer's decision to reject a `received` or `verified` order (reason code `officer`)."""
    if not reason.strip():
        raise errors.InvalidInput("a rejection needs a reason (--reason TEXT)")
    order = await _existing(conn, order_id)
    state = await orders.reject(conn, order_id, "officer", reason)
    if state is None:
        raise _refused(order_id, "wrong_state", f" (state {order.state})")
    return state


async def cancel(conn: db.Connection, order_id: int, reason: str | None) -> str:
    """Cancel an order not yet disclosed (`received`, `verified` or `approved`)."""
    order = await _existing(conn, order_id)
    state = await orders.cancel(conn, order_id, reason)
    if state is None:
        raise _refused(order_id, "wrong_state", f" (state {order.state})")
    return state


@dataclass(frozen=True, slots=True, kw_only=True)
class Details:
    """Everything recorded about one order, for `ruaj order show`."""

    order: orders.Order
    tasks: tuple[orders.Task, ...]
    approvals: tuple[orders.Approval, ...]
    attachment: orders.Attachment | None


async def details(conn: db.Connection, order_id: int) -> Details:
    """One order with its tasks, approvals and accompanying document; `OrderRefused` if none."""
    order = await _existing(conn, order_id)
    return Details(
        order=order,
        tasks=tuple(await orders.tasks(conn, order_id)),
        approvals=tuple(await orders.approvals(conn, order_id)),
        attachment=await orders.attachment(conn, order_id),
    )
