"""A test PKI built with `cryptography`: a court's root and issuing CA, judges' certificates good
and bad, CRLs, and detached CMS signatures over exact bytes.

Every certificate has exactly one defect (or none), so a test that signs with it checks exactly
one rule of `disclosure.verify`. Keys are EC P-256: quick to make on a small machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organization: str = "Kosovo Judicial Council") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "XK"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _signer_usage(*, digital_signature: bool, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=non_repudiation,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def ca(
    common_name: str,
    *,
    now: datetime,
    issuer: Identity | None = None,
    organization: str = "Kosovo Judicial Council",
) -> Identity:
    """A CA certificate: self-signed when `issuer` is None, else issued by `issuer`."""
    key = _key()
    subject = _name(common_name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signing_key = key if issuer is None else issuer.key
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Identity(certificate=builder.sign(signing_key, hashes.SHA256()), key=key)


def signer(
    common_name: str,
    *,
    issuer: Identity,
    now: datetime,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = (DOCUMENT_SIGNING,),
    digital_signature: bool = True,
    non_repudiation: bool = True,
    organization: str = "Kosovo Judicial Council",
) -> Identity:
    """An end-entity certificate issued by `issuer` (a judge's, by default fit to sign orders)."""
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=30))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _signer_usage(digital_signature=digital_signature, non_repudiation=non_repudiation),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return Identity(certificate=builder.sign(issuer.key, hashes.SHA256()), key=key)


def crl(
    issuer: Identity,
    *,
    now: datetime,
    revoked: Iterable[Identity] = (),
    this_update: datetime | None = None,
    next_update: datetime | None = None,
) -> bytes:
    """A DER CRL of `issuer` listing `revoked` (revoked a day ago)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(this_update or now - timedelta(hours=1))
        .next_update(next_update or now + timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for identity in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(identity.certificate.serial_number)
            .revocation_date(now - timedelta(days=1))
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def pem_crls(*crls: bytes) -> bytes:
    """Several DER CRLs as one PEM file."""
    return b"".join(
        x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM) for der in crls
    )


def sign(
    document: bytes,
    identity: Identity,
    *,
    chain: Sequence[Identity] = (),
    attributes: bool = True,
) -> bytes:
    """A detached CMS signature (DER) over the exact bytes of `document`.

    `Binary` keeps the bytes as they are: without it, line endings are made CRLF before hashing.
    Without `attributes` there are no signed attributes, hence no signing time.
    """
    builder = pkcs7.PKCS7SignatureBuilder().set_data(document)
    builder = builder.add_signer(identity.certificate, identity.key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra.certificate)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    return builder.sign(serialization.Encoding.DER, options)


@dataclass(slots=True, kw_only=True)
class Pki:
    """A court's PKI (root → issuing CA → judges), the judges, CRLs, and a stranger CA."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    root: Identity = field(init=False)
    issuing: Identity = field(init=False)
    judge: Identity = field(init=False)
    smime_judge: Identity = field(init=False)
    revoked_judge: Identity = field(init=False)
    expired_judge: Identity = field(init=False)
    future_judge: Identity = field(init=False)
    client_auth_only: Identity = field(init=False)
    no_signing_usage: Identity = field(init=False)
    no_eku: Identity = field(init=False)
    root_direct: Identity = field(init=False)
    stranger_ca: Identity = field(init=False)
    stranger: Identity = field(init=False)

    def __post_init__(self) -> None:
        now = self.now
        self.root = ca("Judicial Root CA", now=now)
        self.issuing = ca("Judicial Issuing CA 1", now=now, issuer=self.root)
        self.judge = signer("Judge Arta Krasniqi", issuer=self.issuing, now=now)
        self.smime_judge = signer(
            "Judge Besnik Gashi", issuer=self.issuing, now=now,
            eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,), non_repudiation=False,
        )  # fmt: skip
        self.revoked_judge = signer("Judge Revoked", issuer=self.issuing, now=now)
        self.expired_judge = signer(
            "Judge Expired", issuer=self.issuing, now=now,
            not_before=now - timedelta(days=400), not_after=now - timedelta(days=2),
        )  # fmt: skip
        self.future_judge = signer(
            "Judge Future", issuer=self.issuing, now=now,
            not_before=now + timedelta(days=2), not_after=now + timedelta(days=400),
        )  # fmt: skip
        self.client_auth_only = signer(
            "Judge Client Auth", issuer=self.issuing, now=now,
            eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        )  # fmt: skip
        self.no_signing_usage = signer(
            "Judge No Signing Usage", issuer=self.issuing, now=now,
            digital_signature=False, non_repudiation=False,
        )  # fmt: skip
        self.no_eku = signer("Judge No EKU", issuer=self.issuing, now=now, eku=None)
        self.root_direct = signer("Certified Elsewhere Under The Root", issuer=self.root, now=now)
        self.stranger_ca = ca("Somebody Else's CA", now=now, organization="Elsewhere")
        self.stranger = signer(
            "Not A Judge", issuer=self.stranger_ca, now=now, organization="Elsewhere"
        )

    @property
    def anchor_pem(self) -> bytes:
        """The trust-anchor file registered for the court: its root and issuing CA."""
        return self.root.pem + self.issuing.pem

    def crls(
        self, *, this_update: datetime | None = None, next_update: datetime | None = None
    ) -> list[bytes]:
        """The court's CRLs: the root's (of CAs) and the issuing CA's (revoked_judge on it)."""
        return [
            crl(self.root, now=self.now, this_update=this_update, next_update=next_update),
            crl(
                self.issuing, now=self.now, revoked=[self.revoked_judge],
                this_update=this_update, next_update=next_update,
            ),
        ]  # fmt: skip

    def stale_crls(self) -> list[bytes]:
        """The court's CRLs, past their nextUpdate."""
        return self.crls(
            this_update=self.now - timedelta(days=10), next_update=self.now - timedelta(days=1)
        )

    def sign(
        self, document: bytes, identity: Identity | None = None, *, attributes: bool = True
    ) -> bytes:
        """`document` signed by `identity` (the good judge by default), its CA attached."""
        identity = identity or self.judge
        chain = {self.stranger: [self.stranger_ca], self.root_direct: []}.get(
            identity, [self.issuing]
        )
        return sign(document, identity, chain=chain, attributes=attributes)
