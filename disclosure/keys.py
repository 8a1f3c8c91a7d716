"""The operator's Ed25519 key: it signs audit checkpoints and disclosure package manifests.

The private key is a PEM PKCS#8 file named by `RUAJ_OPERATOR_KEY`. Verifiers hold only the
public key, as a PEM SubjectPublicKeyInfo file or as a C2SP signed-note verifier key
(`name+hex(key ID)+base64(0x01 ‖ public key)`, the form of golang.org/x/mod/sumdb/note).

In signed notes (checkpoints) the key's name is the log's origin line
(`RUAJ_CHECKPOINT_ORIGIN`, as C2SP tlog-checkpoint recommends) and its key ID is the first four
bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from disclosure import errors
from disclosure.settings import DisclosureSettings

logger = logging.getLogger(__name__)

PrivateKey = ed25519.Ed25519PrivateKey
PublicKey = ed25519.Ed25519PublicKey

# The C2SP signed-note signature type of Ed25519.
ED25519_TYPE = b"\x01"
# Key names: non-empty, no Unicode space, no plus sign (C2SP signed-note).
_KEY_NAME = re.compile(r"^[^\s+]+$")


def check_key_name(name: str) -> str:
    """`name` if it may name a signed-note key; otherwise `ValueError` saying why."""
    if not _KEY_NAME.match(name) or any(ord(c) < 0x20 for c in name):
        raise ValueError(
            f"{name!r} cannot name a signed-note key: it must be non-empty, "
            "without spaces, control characters or '+'"
        )
    return name


def load_operator_key(settings: DisclosureSettings) -> PrivateKey:
    """The operator's private key from `RUAJ_OPERATOR_KEY`, or `OperatorKeyError` saying why."""
    if settings.operator_key is None:
        raise errors.OperatorKeyError(
            "RUAJ_OPERATOR_KEY is not set: it names the operator's Ed25519 private key "
            "(PEM, PKCS#8) that signs audit checkpoints and packages"
        )
    return load_private_key(settings.operator_key)


def load_private_key(path: Path) -> PrivateKey:
    """An Ed25519 private key from a PEM PKCS#8 file (unencrypted)."""
    data = _read(path, "operator key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise errors.OperatorKeyError(
            f"operator key {path} is encrypted; ruaj reads an unencrypted PKCS#8 key "
            "(protect it with file permissions or a secrets store)"
        ) from exc
    except ValueError as exc:
        raise errors.OperatorKeyError(
            f"operator key {path} is not a PEM private key: {exc}"
        ) from exc
    if not isinstance(key, PrivateKey):
        raise errors.OperatorKeyError(
            f"operator key {path} is a {type(key).__name__.lstrip('_')}, not an Ed25519 key"
        )
    mode = path.stat().st_mode
    if mode & 0o077:
        logger.warning(
            "the operator key file is readable by group or others",
            extra={"path": str(path), "mode": oct(mode & 0o777)},
        )
    return key


def load_public_key(path: Path) -> PublicKey:
    """An Ed25519 public key from a file: PEM public key, or a signed-note verifier key."""
    data = _read(path, "public key")
    text = data.decode("utf-8", errors="replace").strip()
    if not text.startswith("-----BEGIN"):
        return parse_verifier_key(text)[1]
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise errors.OperatorKeyError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, PublicKey):
        raise errors.OperatorKeyError(
            f"{path} holds a {type(key).__name__.lstrip('_')}, not an Ed25519 public key"
        )
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise errors.OperatorKeyError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise errors.OperatorKeyError(f"cannot read {what} {path}: {exc.strerror}") from exc


def generate(path: Path) -> PrivateKey:
    """Create a new Ed25519 key, written to `path` as PEM PKCS#8 readable by its owner only.

    Refuses to replace an existing file: a lost operator key cannot sign the next checkpoint
    of a log whose earlier checkpoints it signed.
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
        raise errors.OperatorKeyError(f"{path} exists already; not replacing a key") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return key


def raw_public_key(key: PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(key: PublicKey) -> str:
    """A public key as PEM SubjectPublicKeyInfo, the form auditors and agencies receive."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(name: str, key: PublicKey) -> bytes:
    """The 4-byte signed-note key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    material = check_key_name(name).encode() + b"\n" + ED25519_TYPE + raw_public_key(key)
    return hashlib.sha256(material).digest()[:4]


def verifier_key(name: str, key: PublicKey) -> str:
    """The signed-note verifier key string `name+hex(key ID)+base64(0x01 ‖ public key)`."""
    encoded = base64.b64encode(ED25519_TYPE + raw_public_key(key)).decode("ascii")
    return f"{name}+{key_id(name, key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, PublicKey]:
    """(name, public key) of a signed-note Ed25519 verifier key; checks its key ID."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise errors.OperatorKeyError("not a verifier key: expected name+keyid+base64(key)")
    name, hex_id, encoded = parts
    try:
        material = base64.b64decode(encoded, validate=True)
        wanted_id = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise errors.OperatorKeyError(f"not a verifier key: {exc}") from exc
    if len(material) != 33 or material[:1] != ED25519_TYPE:
        raise errors.OperatorKeyError("the verifier key is not an Ed25519 (type 0x01) key")
    try:
        key = PublicKey.from_public_bytes(material[1:])
        check_key_name(name)
    except ValueError as exc:
        raise errors.OperatorKeyError(f"not a verifier key: {exc}") from exc
    if key_id(name, key) != wanted_id:
        raise errors.OperatorKeyError("the verifier key's key ID does not match its name and key")
    return name, key


def sign(key: PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `data`."""
    return key.sign(data)


def verify(key: PublicKey, data: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature of `data`; raises `BadSignature` if it does not verify."""
    try:
        key.verify(signature, data)
    except InvalidSignature as exc:
        raise errors.BadSignature("the Ed25519 signature does not verify") from exc
