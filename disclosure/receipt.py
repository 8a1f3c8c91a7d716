"""Audit receipts: proof, checkable with the operator's public key alone, that an entry is in
the signed audit log.

A receipt holds the entry's exact text, its index, an RFC 9162 inclusion proof and the signed
checkpoint (C2SP signed note) it leads to. Every disclosure package carries one for its release
entry; `ruaj audit prove INDEX` prints one; `ruaj audit verify-proof FILE --public-key PEM`
and `ruaj package open` check one without any database.

JSON form (`Receipt.to_json`):

    {"format": "ruaj-audit-receipt/1", "index": 12, "tree_size": 40,
     "entry": "{\\"actor\\":…}",                  the entry's UTF-8 text, exactly
     "leaf_hash": "<base64>",                    SHA-256(0x00 ‖ entry), for convenience
     "inclusion_proof": ["<base64>", …],         from the leaf up
     "checkpoint": "origin\\n40\\n<root>\\n\\n— origin <signature>\\n"}

To check it by hand: leaf = SHA-256(0x00 ‖ entry bytes); fold the proof as RFC 9162 §2.1.3.2
says; compare with the checkpoint's root; verify the checkpoint's Ed25519 signature (key name =
origin line, key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]) over its first three lines.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from disclosure import checkpoint, errors, keys, merkle
from disclosure.settings import DisclosureSettings
from store import audit, db

FORMAT = "ruaj-audit-receipt/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """An audit entry, its inclusion proof, and the signed checkpoint the proof leads to."""

    index: int
    tree_size: int
    entry: bytes
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str

    def to_json(self) -> str:
        """The receipt as a JSON document (UTF-8 text, ends in a newline)."""
        document = {
            "format": FORMAT,
            "index": self.index,
            "tree_size": self.tree_size,
            "entry": self.entry.decode("utf-8"),
            "leaf_hash": _b64(merkle.leaf_hash(self.entry)),
            "inclusion_proof": [_b64(h) for h in self.inclusion_proof],
            "checkpoint": self.checkpoint,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        """Parse a receipt's JSON; `ReceiptError` if it is not one (nothing is verified yet)."""
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.ReceiptError(f"not a JSON document: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise errors.ReceiptError(f"not an audit receipt (format {FORMAT!r})")
        try:
            made = cls(
                index=_integer(document, "index"),
                tree_size=_integer(document, "tree_size"),
                entry=_text(document, "entry").encode("utf-8"),
                inclusion_proof=tuple(
                    base64.b64decode(h, validate=True) for h in _list(document, "inclusion_proof")
                ),
                checkpoint=_text(document, "checkpoint"),
            )
        except (binascii.Error, TypeError, UnicodeEncodeError) as exc:
            raise errors.ReceiptError(f"malformed receipt: {exc}") from exc
        stated = document.get("leaf_hash")
        if stated is not None and stated != _b64(merkle.leaf_hash(made.entry)):
            raise errors.ReceiptError("its leaf_hash is not SHA-256(0x00 ‖ entry)")
        return made

    def fields(self) -> dict[str, Any]:
        """The entry's fields (actor, at, details, index, kind), once parsed."""
        parsed: dict[str, Any] = json.loads(self.entry)
        return parsed


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _integer(document: dict[str, Any], name: str) -> int:
    value = document.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise errors.ReceiptError(f"receipt field {name!r} is not a non-negative integer")
    return value


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise errors.ReceiptError(f"receipt field {name!r} is not a string")
    return value


def _list(document: dict[str, Any], name: str) -> list[str]:
    value = document.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.ReceiptError(f"receipt field {name!r} is not a list of base64 strings")
    return value


def verify_receipt(receipt: Receipt, public_key: keys.PublicKey) -> checkpoint.Checkpoint:
    """Check a receipt with the operator's public key alone; returns its checkpoint.

    Raises `ReceiptError` saying what does not hold: the checkpoint's signature, the tree
    size, the inclusion proof, or the index written in the entry itself.
    """
    try:
        cp = checkpoint.parse(receipt.checkpoint, public_key)
    except errors.CheckpointError as exc:
        raise errors.ReceiptError(f"its checkpoint does not verify: {exc}") from exc
    if cp.size != receipt.tree_size:
        raise errors.ReceiptError(
            f"it claims tree size {receipt.tree_size} but its checkpoint is of size {cp.size}"
        )
    try:
        merkle.verify_inclusion(
            receipt.index,
            cp.size,
            merkle.leaf_hash(receipt.entry),
            receipt.inclusion_proof,
            cp.root,
        )
    except errors.ProofError as exc:
        raise errors.ReceiptError(f"the entry is not proven in the signed log: {exc}") from exc
    try:
        written_index = receipt.fields().get("index")
    except ValueError as exc:
        raise errors.ReceiptError("the entry is not a JSON object") from exc
    if written_index != receipt.index:
        raise errors.ReceiptError(
            f"the entry says index {written_index} but is proven at index {receipt.index}"
        )
    return cp


async def receipt(conn: db.Connection, settings: DisclosureSettings, index: int) -> Receipt:
    """A receipt for the committed entry `index`, against the newest checkpoint.

    Writes a fresh checkpoint first when the newest does not cover `index` (which needs the
    operator key and must then run outside a transaction). Raises `ReceiptError` when the
    entry does not exist or the log no longer matches the checkpoint.
    """
    key = keys.load_operator_key(settings)
    public = key.public_key()
    directory = checkpoint.directory_of(settings)
    cp = checkpoint.latest(directory, public, origin=settings.checkpoint_origin)
    if cp is None or cp.size <= index:
        cp = await checkpoint.write_checkpoint(conn, settings)
    return await prove(conn, cp, index, public)


async def prove(
    conn: db.Connection, cp: checkpoint.Checkpoint, index: int, public_key: keys.PublicKey
) -> Receipt:
    """A receipt for entry `index` against the given checkpoint, read from the database.

    The receipt is verified before it is returned: a database that no longer matches the
    signed checkpoint gives `ReceiptError`, never a receipt that would not verify.
    """
    if not 0 <= index < cp.size:
        raise errors.ReceiptError(
            f"audit entry {index} is not covered by checkpoint {cp.size} "
            f"(it holds entries 0..{cp.size - 1})"
        )
    async with audit.snapshot(conn):
        hashes = await audit.leaf_hashes(conn, 0, cp.size)
        rows = await audit.entries(conn, index, index + 1)
    if len(hashes) != cp.size * merkle.HASH_SIZE or not rows:
        raise errors.ReceiptError(
            f"the database lacks entries that checkpoint {cp.size} covers: run `ruaj audit verify`"
        )
    tree = await asyncio.to_thread(merkle.Tree, hashes)
    if tree.root() != cp.root:
        raise errors.ReceiptError(
            f"the database's first {cp.size} entries do not hash to the root of checkpoint "
            f"{cp.size}: run `ruaj audit verify`"
        )
    made = Receipt(
        index=index,
        tree_size=cp.size,
        entry=rows[0].entry,
        inclusion_proof=tuple(tree.inclusion_proof(index)),
        checkpoint=cp.note,
    )
    verify_receipt(made, public_key)
    return made
