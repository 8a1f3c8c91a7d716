"""An authority's trust material: its trust-anchor file and its CRLs, checked before they count.

**The trust-anchor file** (`ruaj authority add --trust-anchor CA.pem`) holds one or more PEM
CA certificates, currently valid. Its self-signed certificates are the *anchors*: an order's
signer must chain to one of them. Its other certificates are the authority's issuing CAs: each
must be issued by another certificate of the file, up to an anchor. They help build paths and
check CRL signatures, are themselves checked for revocation, and **pin** the authority: when the
file holds any, the signer's chain must pass through one of them. So a court whose judges are
certified by a national root that also certifies others is registered with that root and the
court's own issuing CA, and a certificate issued elsewhere under the same root does not sign as
the court. (Anchors must be self-signed: pyhanko-certvalidator cannot check a CRL signed by a
trust anchor that is not, so an issuing CA registered alone could never be revocation-checked.)

**The CRLs** (`--crl`, repeatable; a file is one DER CRL, several concatenated DER CRLs, or PEM
`X509 CRL` blocks) must each be issued and signed by a CA certificate of the trust-anchor file
(with `cRLSign` when the certificate has a key usage), carry a nextUpdate, and be current:
thisUpdate not in the future, nextUpdate not passed. At most one CRL per issuer. Revocation is
checked in `require` mode, so every certificate of a signer's path but the anchor needs a CRL
of its issuer: for root → issuing CA → judge, the root's CRL and the issuing CA's CRL.

Stored as the concatenation of the CRLs' DER in `ruaj.authority.crl`; `crl_this_update` is the
newest thisUpdate of the set and `crl_next_update` the earliest nextUpdate (when the set goes
stale). A new CRL replaces the registered one of the same issuer, never with an older one
(`crl_older`); the registered CRLs of other issuers are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from disclosure import errors

_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----\s*", re.DOTALL)
# Key types a CRL can be signed with here.
_CRL_KEYS = (
    rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey,
)  # fmt: skip
# A CRL's thisUpdate may be this far in the future (clocks differ).
CLOCK_SKEW = timedelta(minutes=5)


def _refused(reason: str, message: str) -> errors.InvalidTrustMaterial:
    return errors.InvalidTrustMaterial(reason, message)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def describe(name: x509.Name) -> str:
    """A distinguished name as RFC 4514 text."""
    return name.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


def _may_sign_crls(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.crl_sign


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchors:
    """The certificates of a trust-anchor file: self-signed anchors, and the authority's issuing
    CAs under them (`intermediates`), which pin its signers when there are any."""

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Every certificate of the file."""
        return self.anchors + self.intermediates

    def issuer_of(self, crl: x509.CertificateRevocationList) -> x509.Certificate | None:
        """The certificate of the file that issued and signed `crl`, if any."""
        for cert in self.certificates:
            key = cert.public_key()
            if cert.subject == crl.issuer and isinstance(key, _CRL_KEYS):
                if crl.is_signature_valid(key):
                    return cert
        return None


def _self_signed(cert: x509.Certificate) -> bool:
    return _issued_by(cert, cert)


def _check_chains(anchors: list[x509.Certificate], others: list[x509.Certificate]) -> None:
    """Every non-anchor is issued by a certificate of the file, up to an anchor."""
    everything = anchors + others
    for cert in others:
        current, seen = cert, {cert.fingerprint(hashes.SHA256())}
        while not any(current is anchor for anchor in anchors):
            issuer = next(
                (c for c in everything if c is not current and _issued_by(current, c)), None
            )
            if issuer is None:
                raise _refused(
                    "trust_anchor",
                    f"{describe(current.subject)} is neither self-signed nor issued by another "
                    f"certificate of the file (add its issuer, {describe(current.issuer)}, up "
                    "to the self-signed root)",
                )
            fingerprint = issuer.fingerprint(hashes.SHA256())
            if fingerprint in seen:
                raise _refused("trust_anchor", "the certificates of the file issue each other")
            seen.add(fingerprint)
            current = issuer


def load_anchors(pem: bytes, *, now: datetime | None = None) -> Anchors:
    """Parse and check a trust-anchor file (see the module's docstring).

    Raises `InvalidTrustMaterial` (reason `trust_anchor`) saying what is wrong.
    """
    now = now or datetime.now(UTC)
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise _refused(
            "trust_anchor", f"the trust-anchor file holds no PEM certificate ({exc})"
        ) from None
    unique = list({cert.fingerprint(hashes.SHA256()): cert for cert in certs}.values())
    for cert in unique:
        subject = describe(cert.subject)
        if not _is_ca(cert):
            raise _refused(
                "trust_anchor", f"{subject} is not a CA certificate (basicConstraints, keyCertSign)"
            )
        if _utc(cert.not_valid_after_utc) <= now or _utc(cert.not_valid_before_utc) > now:
            raise _refused(
                "trust_anchor",
                f"{subject} is not valid now (valid {cert.not_valid_before_utc.isoformat()} to "
                f"{cert.not_valid_after_utc.isoformat()})",
            )
    anchors = [cert for cert in unique if _self_signed(cert)]
    others = [cert for cert in unique if not _self_signed(cert)]
    if not anchors:
        raise _refused(
            "trust_anchor",
            "the file holds no self-signed (root) CA certificate: include the root the "
            "authority's certificates chain to",
        )
    _check_chains(anchors, others)
    return Anchors(anchors=tuple(anchors), intermediates=tuple(others))


def _split_der(data: bytes) -> list[bytes]:
    """Split concatenated DER values (each a complete TLV)."""
    parts = []
    offset = 0
    while offset < len(data):
        try:
            _, _, _, header, content, trailer = asn1_parser.parse(data[offset:], strict=False)
        except ValueError as exc:
            raise _refused("crl_invalid", f"the CRL data is not DER: {exc}") from None
        length = len(header) + len(content) + len(trailer)
        parts.append(data[offset : offset + length])
        offset += length
    return parts


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """The CRLs of a file or of the stored column: DER, concatenated DER, or PEM blocks."""
    if b"-----BEGIN" in data:
        blocks = _PEM_CRL.findall(data)
        if not blocks:
            raise _refused("crl_invalid", "the file holds no PEM X509 CRL block")
        loaded = []
        for block in blocks:
            try:
                loaded.append(x509.load_pem_x509_crl(block))
            except ValueError as exc:
                raise _refused("crl_invalid", f"a PEM CRL does not parse: {exc}") from None
        return loaded
    crls = []
    for der in _split_der(data):
        try:
            crls.append(x509.load_der_x509_crl(der))
        except ValueError as exc:
            raise _refused("crl_invalid", f"a CRL does not parse: {exc}") from None
    if not crls:
        raise _refused("crl_invalid", "no CRL given")
    return crls


def encode_crls(crls: Iterable[x509.CertificateRevocationList]) -> bytes:
    """The stored form: the CRLs' DER, concatenated."""
    return b"".join(crl.public_bytes(serialization.Encoding.DER) for crl in crls)


def this_update(crl: x509.CertificateRevocationList) -> datetime:
    """The CRL's thisUpdate (UTC)."""
    return _utc(crl.last_update_utc)


def next_update(crl: x509.CertificateRevocationList) -> datetime | None:
    """The CRL's nextUpdate (UTC), if it has one."""
    value = crl.next_update_utc
    return None if value is None else _utc(value)


def check_issuers(anchors: Anchors, crls: Sequence[x509.CertificateRevocationList]) -> None:
    """Every CRL is issued and signed by a CA of the trust-anchor file, one per issuer.

    Raises `InvalidTrustMaterial` with reason `crl_issuer`.
    """
    seen: set[str] = set()
    for crl in crls:
        issuer = anchors.issuer_of(crl)
        name = describe(crl.issuer)
        if issuer is None:
            raise _refused(
                "crl_issuer",
                f"the CRL of {name} is not signed by a certificate of the authority's "
                "trust-anchor file (add the issuing CA's certificate to it, or use that CA's CRL)",
            )
        if not _may_sign_crls(issuer):
            raise _refused("crl_issuer", f"{name} may not sign CRLs (its key usage lacks cRLSign)")
        if name in seen:
            raise _refused("crl_issuer", f"two CRLs of {name}: give only the newest")
        seen.add(name)


def check_current(
    crls: Sequence[x509.CertificateRevocationList], *, now: datetime | None = None
) -> None:
    """Every CRL has a nextUpdate still ahead and a thisUpdate not in the future.

    Raises `InvalidTrustMaterial` with reason `stale_crl`.
    """
    now = now or datetime.now(UTC)
    for crl in crls:
        name = describe(crl.issuer)
        upcoming = next_update(crl)
        if upcoming is None:
            raise _refused("stale_crl", f"the CRL of {name} has no nextUpdate")
        if upcoming <= now:
            raise _refused(
                "stale_crl",
                f"the CRL of {name} is stale: its nextUpdate {upcoming.isoformat()} has passed "
                "(register a newer one with `ruaj authority crl`)",
            )
        if this_update(crl) > now + CLOCK_SKEW:
            raise _refused(
                "stale_crl",
                f"the CRL of {name} is issued in the future ({this_update(crl).isoformat()})",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class CrlSet:
    """CRLs as stored for an authority, with the bounds the database keeps beside them."""

    crls: tuple[x509.CertificateRevocationList, ...]
    der: bytes
    this_update: datetime
    next_update: datetime


def crl_set(crls: Sequence[x509.CertificateRevocationList]) -> CrlSet:
    """The stored form of checked CRLs: newest thisUpdate, earliest nextUpdate."""
    nexts = [next_update(crl) for crl in crls]
    return CrlSet(
        crls=tuple(crls),
        der=encode_crls(crls),
        this_update=max(this_update(crl) for crl in crls),
        next_update=min(n for n in nexts if n is not None),
    )


def merge(
    registered: Sequence[x509.CertificateRevocationList],
    new: Sequence[x509.CertificateRevocationList],
) -> list[x509.CertificateRevocationList]:
    """`new` replacing the registered CRLs of the same issuers; the others kept.

    Raises `InvalidTrustMaterial` (`crl_older`) when a new CRL is older than the registered one
    of its issuer: revocations are never rolled back.
    """
    replaced = {crl.issuer for crl in new}
    for old in registered:
        for crl in new:
            if crl.issuer == old.issuer and this_update(crl) < this_update(old):
                raise _refused(
                    "crl_older",
                    f"the CRL of {describe(crl.issuer)} (thisUpdate "
                    f"{this_update(crl).isoformat()}) is older than the registered one "
                    f"({this_update(old).isoformat()})",
                )
    return [crl for crl in registered if crl.issuer not in replaced] + list(new)
