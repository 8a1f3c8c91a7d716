"""Verification of an order's detached CMS signature over its exact bytes (DESIGN §5).

pyHanko validates (`async_validate_detached_cms` with a pyhanko-certvalidator
`ValidationContext`): trust roots are the anchors of the authority's registered trust-anchor
file only (disclosure/trust.py; never the web PKI or the system store), the intermediates of
that file and of the signature help build the path, the registered CRLs are the only revocation
information (`allow_fetching=False`), and `revocation_mode="require"`: every certificate of the
path but the anchor must be covered by a registered CRL (in "hard-fail" mode a certificate
without a CRL distribution point is not checked at all, so a revoked signer would pass). This
module checks the registered CRLs first (present, issued by the trust-anchor file, current),
then classifies what pyHanko reports into one reason code each, and checks what pyHanko does
not: the extended key usage (on our terms, below), the signing time, and — when the trust-anchor
file names the authority's issuing CAs — that the signer's chain passes through one of them.

Decisions:

- **Document-signing usage.** The signing certificate must have a key usage with
  digitalSignature or nonRepudiation (contentCommitment), *and* an extended key usage extension
  with at least one of `RUAJ_ORDER_SIGNER_EKUS` — by default id-kp-documentSigning
  (1.3.6.1.5.5.7.3.36, RFC 9336) and id-kp-emailProtection (1.3.6.1.5.5.7.3.4, S/MIME signers,
  which is what many judiciary and government PKIs issue to people who sign documents). A
  certificate without an extended key usage, or with anyExtendedKeyUsage alone, or only for TLS
  client authentication, is refused (`key_usage`): RFC 5280 would let a certificate without the
  extension be used for anything, which is exactly what must not sign a disclosure order.
- **Time.** There is no trusted timestamp in an order's signature, so its signing time is what
  the signer claims. The chain is therefore validated *now*, at import (an expired or revoked
  certificate can no longer sign, whatever date it writes), and the claimed signing time
  (the signingTime attribute, required) must lie inside the signer certificate's validity and
  not in the future beyond `RUAJ_ORDER_CLOCK_SKEW_SECONDS`.
- **One signer, detached.** A signature with several signers, or with the content embedded, is
  refused (`bad_signature`): what is verified must be one person's signature over the bytes
  the operator stores.

Reason codes: `bad_signature`, `document_changed`, `untrusted_chain`, `expired_signer`,
`signer_not_yet_valid`, `revoked`, `missing_crl`, `stale_crl`, `crl_issuer`, `key_usage`,
`signing_time`, `trust_anchor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import StandardCMSSignatureStatus
from pyhanko_certvalidator import ValidationContext

from disclosure import errors, trust

_DER = serialization.Encoding.DER
_ANY_EKU = x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


def _refused(reason: str, message: str) -> errors.OrderRefused:
    return errors.OrderRefused(reason, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirements:
    """What a signature must meet beyond a valid chain (from disclosure settings)."""

    ekus: tuple[str, ...]
    clock_skew: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """Who signed a verified order, with which certificate (DER), and when they say they did."""

    subject: str
    certificate: bytes
    signed_at: datetime


def _signed_data(signature: bytes) -> cms.SignedData:
    """The SignedData of a DER ContentInfo: one signer, content detached."""
    try:
        info = cms.ContentInfo.load(signature, strict=True)
        if info["content_type"].native != "signed_data":
            raise _refused("bad_signature", "the signature file is not a CMS SignedData")
        signed = info["content"]
        signers = len(signed["signer_infos"])
        detached = signed["encap_content_info"]["content"].native is None
    except (ValueError, TypeError, KeyError) as exc:
        raise _refused("bad_signature", f"the signature file is not DER CMS: {exc}") from None
    if signers != 1:
        raise _refused("bad_signature", f"the signature has {signers} signers, not one")
    if not detached:
        raise _refused("bad_signature", "the signature embeds its content: expected detached")
    return signed


def _crls(anchors: trust.Anchors, crl: bytes | None) -> list[x509.CertificateRevocationList]:
    """The registered CRLs, checked: present, issued by the trust-anchor file, current."""
    if not crl:
        raise _refused(
            "missing_crl",
            "the authority has no registered CRL (register one with `ruaj authority crl`)",
        )
    crls = trust.parse_crls(crl)
    trust.check_issuers(anchors, crls)
    trust.check_current(crls)
    return crls


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(_DER))


def _pyca(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def usage_problem(cert: x509.Certificate, ekus: Sequence[str]) -> str | None:
    """Why `cert` may not sign documents (key usage and extended key usage), or None."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "it has no key usage extension"
    if not (usage.digital_signature or usage.content_commitment):
        return "its key usage allows neither digitalSignature nor nonRepudiation"
    try:
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "it has no extended key usage extension (one of " + ", ".join(ekus) + " needed)"
    present = {oid.dotted_string for oid in extended if oid != _ANY_EKU}
    if not present & set(ekus):
        shown = ", ".join(sorted(present)) or "anyExtendedKeyUsage only"
        return f"its extended key usage ({shown}) allows none of {', '.join(ekus)}"
    return None


def _time_problem(cert: x509.Certificate, at: datetime) -> tuple[str, str] | None:
    """(reason, message) when `cert` is not valid at `at`."""
    subject = trust.describe(cert.subject)
    if at >= cert.not_valid_after_utc:
        return "expired_signer", f"the certificate of {subject} expired on " + (
            cert.not_valid_after_utc.isoformat()
        )
    if at < cert.not_valid_before_utc:
        return "signer_not_yet_valid", f"the certificate of {subject} is valid only from " + (
            cert.not_valid_before_utc.isoformat()
        )
    return None


def _path(status: StandardCMSSignatureStatus) -> list[x509.Certificate]:
    """The validation path's certificates below the anchor, leaf last (empty without a path)."""
    if status.validation_path is None:
        return []
    return [_pyca(cert) for cert in status.validation_path.iter_certs(include_root=False)]


def _untrusted(
    status: StandardCMSSignatureStatus,
    signer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    requirements: Requirements,
    now: datetime,
) -> errors.OrderRefused:
    """Name what made pyHanko withhold trust from an intact, valid, unrevoked signature."""
    indication = status.trust_problem_indic
    if indication is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        return _refused(
            "untrusted_chain",
            f"the signer {trust.describe(signer.subject)} (issued by "
            f"{trust.describe(signer.issuer)}) does not chain to the authority's registered "
            "trust anchor",
        )
    for cert in [signer, *_path(status)]:
        problem = _time_problem(cert, now)
        if problem is not None:
            return _refused(*problem)
    usage = usage_problem(signer, requirements.ekus)
    if usage is not None:
        return _refused("key_usage", f"the signing certificate may not sign documents: {usage}")
    for cert in _path(status):
        if not any(crl.issuer == cert.issuer for crl in crls):
            return _refused(
                "missing_crl",
                f"no registered CRL of {trust.describe(cert.issuer)}, which issued "
                f"{trust.describe(cert.subject)} (revocation must be checked for every "
                "certificate of the chain)",
            )
    if indication is AdESIndeterminate.TRY_LATER:
        return _refused("stale_crl", "the registered CRLs are not current for this signature")
    name = "none" if indication is None else str(getattr(indication, "name", indication))
    return _refused(
        "untrusted_chain",
        f"the signer's certificate does not validate against the authority's trust anchor "
        f"and CRLs (AdES indication {name})",
    )


def _check_pinned(status: StandardCMSSignatureStatus, anchors: trust.Anchors) -> None:
    """When the trust-anchor file names issuing CAs, the signer's chain passes through one."""
    if not anchors.intermediates:
        return
    pinned = {cert.public_bytes(_DER) for cert in anchors.intermediates}
    if not any(cert.public_bytes(_DER) in pinned for cert in _path(status)):
        names = "; ".join(trust.describe(cert.subject) for cert in anchors.intermediates)
        raise _refused(
            "untrusted_chain",
            f"the signer chains to the registered root but not through the authority's "
            f"issuing CA ({names})",
        )


def _signing_time(
    status: StandardCMSSignatureStatus,
    signer: x509.Certificate,
    requirements: Requirements,
    now: datetime,
) -> datetime:
    claimed = status.signer_reported_dt
    if not isinstance(claimed, datetime):
        raise _refused("signing_time", "the signature carries no signing time")
    claimed = claimed if claimed.tzinfo is not None else claimed.replace(tzinfo=UTC)
    if claimed > now + requirements.clock_skew:
        raise _refused(
            "signing_time", f"the signature claims a signing time in the future ({claimed})"
        )
    problem = _time_problem(signer, claimed)
    if problem is not None:
        reason, message = problem
        raise _refused(reason, f"at the claimed signing time {claimed.isoformat()}, {message}")
    return claimed


async def verify(
    document: bytes,
    signature: bytes,
    *,
    trust_anchor: bytes,
    crl: bytes | None,
    requirements: Requirements,
) -> Signer:
    """Verify `signature` (DER detached CMS) over `document` against an authority's registered
    trust anchor and CRLs; returns the signer. Raises `OrderRefused` with the reason."""
    now = datetime.now(UTC)
    signed = _signed_data(signature)
    anchors = trust.load_anchors(trust_anchor, now=now)
    crls = _crls(anchors, crl)
    context = ValidationContext(
        trust_roots=[_asn1(cert) for cert in anchors.anchors],
        other_certs=[_asn1(cert) for cert in anchors.intermediates],
        crls=[crl_.public_bytes(_DER) for crl_ in crls],
        allow_fetching=False,
        revocation_mode="require",
    )
    constraints = KeyUsageConstraints(
        key_usage={"digital_signature", "non_repudiation"},
        match_all_key_usages=False,
        extd_key_usage={asn1_x509.KeyPurposeId.map(oid) for oid in requirements.ekus},
        explicit_extd_key_usage_required=True,
    )
    try:
        status = await generic_cms.async_validate_detached_cms(
            document, signed, signer_validation_context=context, key_usage_settings=constraints
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise _refused("bad_signature", f"the signature cannot be validated: {exc}") from None
    if not status.intact:
        raise _refused(
            "document_changed",
            "the signature does not match the document's bytes: it was changed after signing, "
            "or the signature is of another document",
        )
    if not status.valid:
        raise _refused("bad_signature", "the signature value does not verify")
    signer = _pyca(status.signing_cert)
    details = status.revocation_details
    if details is not None:
        whose = "a CA of the signer's chain" if details.ca_revoked else "the signer's certificate"
        raise _refused(
            "revoked",
            f"{whose} is revoked according to the authority's registered CRL (since "
            f"{details.revocation_date})",
        )
    if not status.trusted:
        raise _untrusted(status, signer, crls, requirements, now)
    _check_pinned(status, anchors)
    usage = usage_problem(signer, requirements.ekus)
    if usage is not None:
        raise _refused("key_usage", f"the signing certificate may not sign documents: {usage}")
    signed_at = _signing_time(status, signer, requirements, now)
    return Signer(
        subject=trust.describe(signer.subject),
        certificate=signer.public_bytes(_DER),
        signed_at=signed_at,
    )
