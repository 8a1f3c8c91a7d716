"""Helpers for the intake tests: authorities registered with the test PKI, signed orders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509

from disclosure import authorities, trust
from store import audit, db, orders
from tests import pki as test_pki
from tests.orders_support import COURT, encode, order_document


async def register(
    admin: db.Connection,
    pki: test_pki.Pki,
    *,
    name: str = COURT,
    kind: str = "court",
    crls: Sequence[bytes] | None = None,
) -> authorities.Summary:
    """Register an authority with the PKI's trust-anchor file and CRLs (checked, audited)."""
    return await authorities.add(
        admin, name=name, kind=kind, trust_anchor=pki.anchor_pem,
        crls=pki.crls() if crls is None else crls,
    )  # fmt: skip


async def register_unchecked(
    admin: db.Connection, pki: test_pki.Pki, crls: Sequence[bytes], *, name: str = COURT
) -> int:
    """Register an authority straight in the store, CRLs unchecked: how the registered material
    looks once time has passed (a stale CRL) or after someone wrote the table by hand."""
    loaded = [x509.load_der_x509_crl(der) for der in crls]
    crl_set = trust.crl_set(loaded)
    return await orders.add_authority(
        admin, name=name, kind="court", trust_anchor=pki.anchor_pem, crl=crl_set.der,
        crl_this_update=crl_set.this_update, crl_next_update=crl_set.next_update,
    )  # fmt: skip


def signed(
    pki: test_pki.Pki,
    identity: test_pki.Identity | None = None,
    *,
    edit: Callable[[dict[str, Any]], object] | None = None,
    **document: Any,
) -> tuple[bytes, bytes]:
    """An order document's bytes (see `order_document`, then `edit`) and their detached
    signature by `identity` (the good judge by default)."""
    value = order_document(**document)
    if edit is not None:
        edit(value)
    data = encode(value)
    return data, pki.sign(data, identity)


async def kinds_since(conn: db.Connection, since: int) -> list[tuple[str, dict[str, Any]]]:
    """(kind, details) of the audit entries from index `since` on."""
    return [(e.kind, e.details) for e in await audit.entries(conn, since, 1 << 62)]
