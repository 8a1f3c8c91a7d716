"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures.

A signed note is its text (ending in a newline), a blank line, then one or more signature
lines `— <key name> <base64(key ID ‖ signature)>`. A verifier knows keys as (name, public
key); it ignores signatures of unknown keys, rejects the note if a known key's signature fails,
and rejects it unless at least one known key's signature verifies.
"""

from __future__ import annotations

import base64
import binascii

from disclosure import errors, keys

_DASH = "\u2014"
# More signature lines than this make a note suspect (the specification asks for ≥ 16).
MAX_SIGNATURES = 64


def sign(text: str, name: str, key: keys.PrivateKey) -> str:
    """The signed note of `text` (which must end in a newline) with one Ed25519 signature."""
    _check_text(text)
    if not text.endswith("\n"):
        raise ValueError("a note's text ends in a newline")
    public = key.public_key()
    signature = keys.key_id(name, public) + keys.sign(key, text.encode("utf-8"))
    return f"{text}\n{_DASH} {name} {base64.b64encode(signature).decode('ascii')}\n"


def _check_text(text: str) -> None:
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise errors.BadSignature("a signed note holds no control characters but newline")


def split(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(key name, key ID ‖ signature)]) of a signed note, checking only its form."""
    _check_text(note)
    if not note.endswith("\n"):
        raise errors.BadSignature("a signed note ends in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise errors.BadSignature("no blank line between the note text and its signatures")
    text, lines = note[: cut + 1], note[cut + 2 :].split("\n")[:-1]
    if not lines:
        raise errors.BadSignature("the note has no signature line")
    if len(lines) > MAX_SIGNATURES:
        raise errors.BadSignature(f"the note has more than {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not parts[1]:
            raise errors.BadSignature(f"malformed signature line {line[:80]!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error as exc:
            raise errors.BadSignature("a signature is not base64") from exc
        if len(blob) < 5:
            raise errors.BadSignature("a signature is too short to hold a key ID")
        signatures.append((parts[1], blob))
    return text, signatures


def open_note(note: str, name: str, key: keys.PublicKey) -> str:
    """The text of `note` once a signature by (`name`, `key`) verifies; `BadSignature` if not.

    Signatures of other keys are ignored; a note signed only by other keys is rejected.
    """
    text, signatures = split(note)
    wanted = keys.key_id(name, key)
    verified = False
    others = []
    for signer, blob in signatures:
        if signer == name and blob[:4] == wanted:
            keys.verify(key, text.encode("utf-8"), blob[4:])
            verified = True
        else:
            others.append(signer)
    if not verified:
        signed_by = ", ".join(sorted(set(others))) or "nobody"
        raise errors.BadSignature(
            f"not signed by the operator key {name}+{wanted.hex()} (signed by: {signed_by})"
        )
    return text
