"""Order intake: `ruaj order import ORDER.json --signature ORDER.p7s [--document FILE]`.

As the connected officer (the database user; the importer of record):

1. the document is read (disclosure/document.py: UTF-8 JSON, the order JSON Schema, the rules
   beyond it) — else `malformed`;
2. the authority it names is looked up (`unknown_authority`) and must be of the kind it says
   (`authority_mismatch`);
3. the detached CMS signature over the exact bytes is verified against that authority's
   registered trust anchor and CRLs (disclosure/verify.py, reasons listed there);
4. the policy allows the authority's kind every task type of the order (`policy`);
5. the order is inside its validity, `valid_from ≤ now < valid_until` (`outside_validity`), and
   not issued in the future beyond `RUAJ_ORDER_CLOCK_SKEW_SECONDS` (`issued_in_future`).

The checks run first; then one transaction records the outcome: `ruaj.order_receive` (the
database reads the columns and tasks from the same bytes and refuses a document it already
holds: `duplicate`, audited, the existing order untouched), the accompanying document if any,
and `ruaj.order_verified` — or `ruaj.order_reject` with the reason code and message. So every
refused order is kept, `rejected`, with its reason and its audit entries, and no order is left
`received` by a crash half-way. A refusal then raises `OrderRefused` (exit 3).

`--document FILE` (decision): the human-readable file the signed order carries out — the court's
reasoned decision or the prosecutor's request, usually a PDF. It is not signed by the order's
signature and is not verified; it is kept with the order (migration 0011, up to
`RUAJ_ORDER_DOCUMENT_MAX_BYTES`), and its SHA-256 and size go into the audit log in the import's
transaction, so the file the approving officers read cannot be swapped afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from disclosure import document, errors, policy, verify
from disclosure.settings import DisclosureSettings
from store import db, orders

logger = logging.getLogger(__name__)

# What each reason code means, for `ruaj order show` and the README.
REASONS: dict[str, str] = {
    "malformed": "the document is not a valid order (JSON Schema or rules)",
    "duplicate": "the same document (same bytes) is already registered",
    "unknown_authority": "no authority of that name is registered",
    "authority_mismatch": "the registered authority is of another kind",
    "bad_signature": "the signature file is not one valid detached CMS signature",
    "document_changed": "the signature does not match the document's bytes",
    "untrusted_chain": "the signer does not chain to the authority's registered trust anchor",
    "expired_signer": "a certificate of the signer's chain has expired",
    "signer_not_yet_valid": "a certificate of the signer's chain is not valid yet",
    "revoked": "a certificate of the signer's chain is revoked per the registered CRL",
    "missing_crl": "no registered CRL covers a certificate of the signer's chain",
    "stale_crl": "a registered CRL is past its nextUpdate",
    "crl_issuer": "a registered CRL is not issued by the authority's trust-anchor file",
    "crl_invalid": "a registered CRL cannot be read",
    "trust_anchor": "the authority's trust-anchor file is not usable",
    "key_usage": "the signing certificate is not for document signing (KU / EKU)",
    "signing_time": "the signing time is missing or in the future",
    "policy": "the authority's kind may not order one of the task types",
    "outside_validity": "now is outside the order's valid_from … valid_until",
    "issued_in_future": "the order's issued_at is in the future",
}

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True, slots=True, kw_only=True)
class Imported:
    """An order imported and verified."""

    order_id: int
    order_reference: str
    signer_subject: str
    attachment_sha256: bytes | None


def _refused(reason: str, message: str) -> errors.OrderRefused:
    return errors.OrderRefused(reason, message)


def media_type(content: bytes) -> str:
    """The media type recorded for an accompanying document, from its first bytes."""
    return "application/pdf" if content.startswith(PDF_MAGIC) else "application/octet-stream"


def _check_authority(order: document.OrderDocument, authority: orders.Authority | None) -> None:
    claimed = order.issuing_authority
    if authority is None:
        raise _refused(
            "unknown_authority",
            f"the order's issuing authority {claimed.name!r} is not registered "
            "(`ruaj authority add`)",
        )
    if authority.kind != claimed.kind:
        raise _refused(
            "authority_mismatch",
            f"the order says {claimed.name!r} is a {claimed.kind}; it is registered as a "
            f"{authority.kind}",
        )


def _check_policy(order: document.OrderDocument, settings: DisclosureSettings) -> None:
    kind = order.issuing_authority.kind
    forbidden = policy.Policy.from_settings(settings).forbidden(kind, order.task_types)
    if forbidden:
        variable = f"RUAJ_POLICY_{kind.upper()}_TASKS"
        raise _refused(
            "policy",
            f"a {kind} may not order {', '.join(forbidden)} (policy {variable})",
        )


def _check_validity(order: document.OrderDocument, now: datetime, skew: timedelta) -> None:
    if order.issued_at > now + skew:
        raise _refused(
            "issued_in_future", f"the order is issued in the future ({order.issued_at.isoformat()})"
        )
    if now < order.valid_from:
        raise _refused(
            "outside_validity", f"the order is valid only from {order.valid_from.isoformat()}"
        )
    if now >= order.valid_until:
        raise _refused(
            "outside_validity", f"the order's validity ended at {order.valid_until.isoformat()}"
        )


async def _verdict(
    conn: db.Connection,
    settings: DisclosureSettings,
    order: document.OrderDocument,
    data: bytes,
    signature: bytes,
) -> verify.Signer:
    """Steps 2 to 5; raises `OrderRefused` at the first that fails."""
    authority = await orders.authority(conn, order.issuing_authority.name)
    _check_authority(order, authority)
    assert authority is not None
    skew = timedelta(seconds=settings.order_clock_skew_seconds)
    signer = await verify.verify(
        data,
        signature,
        trust_anchor=authority.trust_anchor,
        crl=authority.crl,
        requirements=verify.Requirements(ekus=settings.order_signer_ekus, clock_skew=skew),
    )
    _check_policy(order, settings)
    _check_validity(order, datetime.now(UTC), skew)
    return signer


async def _refuse_duplicate(conn: db.Connection, order_id: int) -> None:
    existing = await orders.get(conn, order_id)
    state = "" if existing is None else f", {existing.state}"
    if existing is not None and existing.reason_code is not None:
        state += f" ({existing.reason_code})"
    logger.info("order refused", extra={"order_id": order_id, "reason": "duplicate"})
    raise _refused(
        "duplicate",
        f"this document is already registered, as order {order_id}{state}; the same document "
        "is never registered twice (a re-issued order has new bytes)",
    )


async def import_order(
    conn: db.Connection,
    settings: DisclosureSettings,
    data: bytes,
    signature: bytes,
    *,
    attachment: bytes | None = None,
) -> Imported:
    """Import an order as the connected officer; returns it verified, or raises `OrderRefused`
    after recording the refusal (see the module's docstring)."""
    if attachment is not None and not 0 < len(attachment) <= settings.order_document_max_bytes:
        raise errors.InvalidInput(
            f"the accompanying document must be 1 to {settings.order_document_max_bytes} bytes "
            "(RUAJ_ORDER_DOCUMENT_MAX_BYTES)"
        )
    order: document.OrderDocument | None = None
    signer: verify.Signer | None = None
    refusal: errors.OrderRefused | None = None
    try:
        order = document.parse(data)
        signer = await _verdict(conn, settings, order, data, signature)
    except errors.OrderRefused as exc:
        refusal = exc

    digest: bytes | None = None
    async with conn.transaction():
        received = await orders.receive(conn, data, signature, well_formed=order is not None)
        if not received.duplicate:
            if attachment is not None:
                digest = await orders.attach(conn, received.order_id, attachment,
                                             media_type(attachment))  # fmt: skip
            if refusal is not None:
                await orders.reject(conn, received.order_id, refusal.reason, refusal.explanation)
            else:
                assert signer is not None
                await orders.mark_verified(
                    conn, received.order_id, signer_subject=signer.subject,
                    signer_certificate=signer.certificate, signed_at=signer.signed_at,
                )  # fmt: skip
    if received.duplicate:
        await _refuse_duplicate(conn, received.order_id)
    if refusal is not None:
        logger.info(
            "order rejected", extra={"order_id": received.order_id, "reason": refusal.reason}
        )
        raise errors.OrderRefused(
            refusal.reason, f"order {received.order_id} rejected: {refusal.explanation}"
        )
    assert order is not None and signer is not None
    logger.info("order verified", extra={"order_id": received.order_id, "tasks": len(order.tasks)})
    return Imported(
        order_id=received.order_id,
        order_reference=order.order_reference,
        signer_subject=signer.subject,
        attachment_sha256=digest,
    )
