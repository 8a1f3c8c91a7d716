"""Registering authorities and their CRLs: `ruaj authority add | crl | list`.

The trust-anchor file and the CRLs are checked (disclosure/trust.py) before anything is stored;
the database functions audit the registration. Only an administrator (the owner role or a
superuser) may register: whoever registers a trust anchor decides whose signatures count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from disclosure import errors, trust
from store import db, orders
from store import errors as store_errors


@dataclass(frozen=True, slots=True, kw_only=True)
class CrlInfo:
    """One registered CRL: whose, when issued, when the next is due, how many revocations."""

    issuer: str
    this_update: datetime
    next_update: datetime | None
    revoked: int

    @classmethod
    def of(cls, crl: x509.CertificateRevocationList) -> CrlInfo:
        """Describe `crl`."""
        return cls(
            issuer=trust.describe(crl.issuer),
            this_update=trust.this_update(crl),
            next_update=trust.next_update(crl),
            revoked=len(list(crl)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """An authority as registered: its anchors, issuing CAs and CRLs."""

    authority_id: int
    name: str
    kind: str
    anchors: tuple[str, ...]
    issuing_cas: tuple[str, ...]
    crls: tuple[CrlInfo, ...]

    def stale(self, now: datetime | None = None) -> list[CrlInfo]:
        """The CRLs past their nextUpdate at `now`."""
        now = now or datetime.now(UTC)
        return [c for c in self.crls if c.next_update is None or c.next_update <= now]


def _not_admin(exc: store_errors.InsufficientPrivilege) -> errors.OrderRefused:
    return errors.OrderRefused(
        "not_admin",
        "registering authorities and CRLs needs an administrator's database login (the owner "
        f"role or a superuser): {exc}",
    )


def _parse_all(files: Sequence[bytes]) -> list[x509.CertificateRevocationList]:
    return [crl for data in files for crl in trust.parse_crls(data)]


def summary(authority: orders.Authority) -> Summary:
    """Describe a registered authority (its stored trust material parsed again)."""
    try:
        certs = x509.load_pem_x509_certificates(authority.trust_anchor)
    except ValueError:
        certs = []  # not registered through `add`; verification refuses it (trust_anchor)
    anchors = [c for c in certs if c.issuer == c.subject]
    try:
        crls = trust.parse_crls(authority.crl) if authority.crl else []
    except errors.InvalidTrustMaterial:
        crls = []
    return Summary(
        authority_id=authority.authority_id,
        name=authority.name,
        kind=authority.kind,
        anchors=tuple(trust.describe(c.subject) for c in anchors),
        issuing_cas=tuple(trust.describe(c.subject) for c in certs if c not in anchors),
        crls=tuple(CrlInfo.of(crl) for crl in crls),
    )


async def add(
    conn: db.Connection, *, name: str, kind: str, trust_anchor: bytes, crls: Sequence[bytes] = ()
) -> Summary:
    """Register an authority with its trust-anchor file and, optionally, its CRLs.

    Raises `InvalidTrustMaterial` saying what is wrong with the files, `OrderRefused` when the
    name is taken (`authority_exists`) or the login is not an administrator (`not_admin`).
    """
    anchors = trust.load_anchors(trust_anchor)
    parsed = _parse_all(crls)
    crl_set = None
    if parsed:
        trust.check_issuers(anchors, parsed)
        trust.check_current(parsed)
        crl_set = trust.crl_set(parsed)
    if await orders.authority(conn, name) is not None:
        raise errors.OrderRefused("authority_exists", f"an authority named {name!r} exists")
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in anchors.certificates)
    try:
        await orders.add_authority(
            conn, name=name, kind=kind, trust_anchor=pem,
            crl=None if crl_set is None else crl_set.der,
            crl_this_update=None if crl_set is None else crl_set.this_update,
            crl_next_update=None if crl_set is None else crl_set.next_update,
        )  # fmt: skip
    except store_errors.InsufficientPrivilege as exc:
        raise _not_admin(exc) from exc
    registered = await orders.authority(conn, name)
    assert registered is not None
    return summary(registered)


async def update_crl(conn: db.Connection, name: str, crls: Sequence[bytes]) -> Summary:
    """Register newer CRLs for an authority: each replaces the registered CRL of its issuer
    (never with an older one), the others are kept."""
    authority = await orders.authority(conn, name)
    if authority is None:
        raise errors.OrderRefused("unknown_authority", f"no authority named {name!r}")
    anchors = trust.load_anchors(authority.trust_anchor)
    new = _parse_all(crls)
    if not new:
        raise errors.InvalidTrustMaterial("crl_invalid", "no CRL given")
    trust.check_issuers(anchors, new)
    trust.check_current(new)
    registered = trust.parse_crls(authority.crl) if authority.crl else []
    merged = trust.merge(registered, new)
    crl_set = trust.crl_set(merged)
    try:
        await orders.set_crl(conn, name, crl_set.der, crl_set.this_update, crl_set.next_update)
    except store_errors.InsufficientPrivilege as exc:
        raise _not_admin(exc) from exc
    updated = await orders.authority(conn, name)
    assert updated is not None
    return summary(updated)


async def list_all(conn: db.Connection) -> list[Summary]:
    """Every registered authority, by name."""
    return [summary(authority) for authority in await orders.list_authorities(conn)]
