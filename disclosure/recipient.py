"""The recipient agency's X25519 key pair: packages are encrypted to its public key (HPKE).

The order names the recipient and carries its public key as PEM SubjectPublicKeyInfo, so the
court, not the operator, decides who can read the data. The agency keeps the private key (PEM
PKCS#8) and opens packages with `ruaj package open PACKAGE --key AGENCY_KEY.pem`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from disclosure import errors

PrivateKey = x25519.X25519PrivateKey
PublicKey = x25519.X25519PublicKey


def parse_public_key(pem: str | bytes) -> PublicKey:
    """The X25519 public key of a PEM SubjectPublicKeyInfo, or `Refused` saying why not."""
    data = pem.encode("ascii", errors="replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise errors.Refused(f"the order's recipient key is not a PEM public key: {exc}") from exc
    if not isinstance(key, PublicKey):
        raise errors.Refused(
            f"the order's recipient key is a {type(key).__name__.lstrip('_')}, not an X25519 key "
            "(packages are encrypted with HPKE X25519)"
        )
    return key


def load_private_key(path: Path) -> PrivateKey:
    """The agency's X25519 private key from a PEM PKCS#8 file (unencrypted)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise errors.NotConfigured(f"cannot read agency key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (TypeError, ValueError) as exc:
        raise errors.NotConfigured(
            f"agency key {path} is not an unencrypted PEM private key: {exc}"
        ) from exc
    if not isinstance(key, PrivateKey):
        raise errors.NotConfigured(
            f"agency key {path} is a {type(key).__name__.lstrip('_')}, not an X25519 key"
        )
    return key


def public_key_pem(key: PublicKey) -> str:
    """A public key as PEM SubjectPublicKeyInfo: what goes into an order's `recipient`."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def generate(path: Path) -> PrivateKey:
    """A new X25519 key pair; the private key written to `path` (PEM PKCS#8, mode 0600).

    Refuses to replace an existing file: packages already sent to it could no longer be read.
    """
    key = PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise errors.NotConfigured(f"{path} exists already; not replacing a key") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key
