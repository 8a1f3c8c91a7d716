"""A court's PKI for `ruaj demo`: a root CA, a judge's document-signing certificate issued by
it, the root's CRL, and detached CMS signatures over an order's exact bytes made as the judge.

This stands in for what a real court brings: its trust anchor and CRL (registered with `ruaj
authority add`) and orders signed by its judges. It is made with `cryptography` on the spot,
EC P-256 keys written unencrypted next to the demo's other files: demonstration material only,
never a way to run a court's PKI. The judge's certificate has exactly what `disclosure.verify`
asks of a signer: key usage digitalSignature and nonRepudiation, extended key usage
id-kp-documentSigning (RFC 9336), issued by the registered root, listed on no CRL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning
CRL_VALIDITY = timedelta(days=7)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def subject(self) -> str:
        """The certificate's subject, RFC 4514."""
        return self.certificate.subject.rfc4514_string()

    @property
    def pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PEM PKCS#8."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Files:
    """Where `CourtPki.write` put the material."""

    trust_anchor: Path  # the root CA certificate (PEM): `--trust-anchor`
    crl: Path  # the root's CRL (DER): `--crl`
    judge_certificate: Path
    judge_key: Path


def _name(common_name: str, organization: str, country: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _root(court: str, country: str, now: datetime) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"{court} Root CA", court, country)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(certificate=certificate, key=key)


def _judge(name: str, court: str, country: str, root: Identity, now: datetime) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name, court, country))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
    )
    return Identity(certificate=certificate, key=key)


def _crl(root: Identity, now: datetime) -> bytes:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.certificate.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CourtPki:
    """A court's root CA, one judge's document-signing certificate and the root's CRL."""

    court: str
    root: Identity
    judge: Identity
    crl: bytes  # DER, revoking nothing

    @classmethod
    def create(cls, court: str, judge: str, *, now: datetime, country: str = "XK") -> CourtPki:
        """New keys and certificates for `court` and its judge, valid from about `now`."""
        root = _root(court, country, now)
        return cls(
            court=court, root=root, judge=_judge(judge, court, country, root, now),
            crl=_crl(root, now),
        )  # fmt: skip

    def sign(self, document: bytes) -> bytes:
        """A detached CMS signature (DER) by the judge over the exact bytes of `document`, with
        the signing time as a signed attribute. `Binary` keeps the bytes as they are (without
        it line endings would be made CRLF before hashing)."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(document)
            .add_signer(self.judge.certificate, self.judge.key, hashes.SHA256())
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )

    def write(self, directory: Path) -> Files:
        """Write the trust anchor, the CRL and the judge's certificate and key under
        `directory` (the keys readable by their owner only)."""
        directory.mkdir(parents=True, exist_ok=True)
        files = Files(
            trust_anchor=directory / "court-root-ca.pem",
            crl=directory / "court-root.crl",
            judge_certificate=directory / "judge.pem",
            judge_key=directory / "judge-key.pem",
        )
        files.trust_anchor.write_bytes(self.root.pem)
        files.crl.write_bytes(self.crl)
        files.judge_certificate.write_bytes(self.judge.pem)
        files.judge_key.touch(mode=0o600)
        files.judge_key.write_bytes(self.judge.key_pem)
        return files
