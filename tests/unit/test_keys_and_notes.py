"""The operator key, C2SP signed notes and checkpoints, and receipts, without a database."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from disclosure import checkpoint, errors, keys, merkle, note, receipt
from disclosure.settings import DisclosureSettings

# golang.org/x/mod/sumdb/note's test key: the seed behind PRIVATE+KEY+PeterNeumann+c74f20a3+…
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_key_id_and_verifier_key_match_the_go_implementation() -> None:
    key = keys.PrivateKey.from_private_bytes(GO_SEED)
    assert keys.verifier_key("PeterNeumann", key.public_key()) == GO_VKEY
    assert keys.key_id("PeterNeumann", key.public_key()).hex() == "c74f20a3"
    name, parsed = keys.parse_verifier_key(GO_VKEY)
    assert name == "PeterNeumann"
    assert keys.raw_public_key(parsed) == keys.raw_public_key(key.public_key())
    with pytest.raises(errors.OperatorKeyError, match="key ID does not match"):
        keys.parse_verifier_key(GO_VKEY.replace("c74f20a3", "c74f20a4"))


def test_signed_note_matches_the_go_implementation() -> None:
    key = keys.PrivateKey.from_private_bytes(GO_SEED)
    signed = note.sign(GO_TEXT, "PeterNeumann", key)
    assert signed == f"{GO_TEXT}\n\u2014 PeterNeumann {GO_SIGNATURE}\n"
    assert note.open_note(signed, "PeterNeumann", key.public_key()) == GO_TEXT


def test_a_note_needs_a_valid_signature_of_the_known_key() -> None:
    key = keys.PrivateKey.generate()
    stranger = keys.PrivateKey.generate()
    signed = note.sign("hello\n", "op.example/log", key)
    by_stranger = note.sign("hello\n", "op.example/log", stranger)
    with pytest.raises(errors.BadSignature, match="not signed by the operator key"):
        note.open_note(by_stranger, "op.example/log", key.public_key())
    # An unknown extra signature is ignored; a known one that fails rejects the note.
    both = signed + by_stranger.split("\n\n")[1]
    assert note.open_note(both, "op.example/log", key.public_key()) == "hello\n"
    with pytest.raises(errors.BadSignature, match="does not verify"):
        note.open_note("hullo\n" + signed[len("hello\n") :], "op.example/log", key.public_key())
    for broken in ["hello\n", "hello\n\n\n", "hello\n\n- op x\n", "hello\x07\n\n" + signed[7:]]:
        with pytest.raises(errors.BadSignature):
            note.open_note(broken, "op.example/log", key.public_key())


def test_checkpoint_body_round_trips_and_rejects_other_logs() -> None:
    key = keys.PrivateKey.generate()
    root = merkle.Tree.from_entries([b"a", b"b", b"c"]).root()
    cp = checkpoint.sign("ruaj.example/log", 3, root, key)
    assert cp.note.startswith(
        f"ruaj.example/log\n3\n{base64.b64encode(root).decode()}\n\n\u2014 ruaj.example/log "
    )
    parsed = checkpoint.parse(cp.note, key.public_key(), origin="ruaj.example/log")
    assert (parsed.origin, parsed.size, parsed.root) == ("ruaj.example/log", 3, root)
    with pytest.raises(errors.CheckpointError, match="is for log"):
        checkpoint.parse(cp.note, key.public_key(), origin="other.example/log")
    with pytest.raises(errors.CheckpointError, match="not signed by"):
        checkpoint.parse(cp.note, keys.PrivateKey.generate().public_key())
    malformed = note.sign("ruaj.example/log\n03\nAAAA\n", "ruaj.example/log", key)
    with pytest.raises(errors.CheckpointError, match="not a decimal"):
        checkpoint.parse(malformed, key.public_key())


def test_operator_key_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(errors.OperatorKeyError, match="RUAJ_OPERATOR_KEY is not set"):
        keys.load_operator_key(DisclosureSettings(operator_key=None))
    with pytest.raises(errors.OperatorKeyError, match="does not exist"):
        keys.load_private_key(tmp_path / "absent.pem")
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(errors.OperatorKeyError, match="not an Ed25519 key"):
        keys.load_private_key(ec_key)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        keys.PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(errors.OperatorKeyError, match="encrypted"):
        keys.load_private_key(encrypted)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(errors.OperatorKeyError, match="not a PEM private key"):
        keys.load_private_key(garbage)


def test_generated_key_is_private_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "operator.pem"
    key = keys.generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = keys.load_operator_key(DisclosureSettings(operator_key=path))
    assert keys.raw_public_key(loaded.public_key()) == keys.raw_public_key(key.public_key())
    with pytest.raises(errors.OperatorKeyError, match="exists already"):
        keys.generate(path)
    # Verifiers load the public key as PEM or as a verifier key.
    pem = tmp_path / "operator.pub.pem"
    pem.write_text(keys.public_key_pem(key.public_key()))
    vkey = tmp_path / "operator.vkey"
    vkey.write_text(keys.verifier_key("ruaj.example/log", key.public_key()) + "\n")
    for source in (pem, vkey):
        assert keys.raw_public_key(keys.load_public_key(source)) == keys.raw_public_key(
            key.public_key()
        )
    signature = keys.sign(key, b"manifest")
    keys.verify(key.public_key(), b"manifest", signature)
    with pytest.raises(errors.BadSignature):
        keys.verify(key.public_key(), b"manifest!", signature)


def _receipt(size: int, index: int) -> tuple[receipt.Receipt, keys.PrivateKey]:
    key = keys.PrivateKey.generate()
    entries = [
        json.dumps({"actor": "a", "at": "t", "details": {}, "index": i, "kind": "k"}).encode()
        for i in range(size)
    ]
    tree = merkle.Tree.from_entries(entries)
    cp = checkpoint.sign("ruaj.example/log", size, tree.root(), key)
    made = receipt.Receipt(
        index=index,
        tree_size=size,
        entry=entries[index],
        inclusion_proof=tuple(tree.inclusion_proof(index)),
        checkpoint=cp.note,
    )
    return made, key


def test_receipt_verifies_with_the_public_key_alone() -> None:
    made, key = _receipt(7, 5)
    again = receipt.Receipt.from_json(made.to_json())
    assert again == made
    assert receipt.verify_receipt(again, key.public_key()).size == 7


def _forge(document: dict[str, Any], case: str) -> dict[str, Any]:
    forged = dict(document)
    forged.pop("leaf_hash")
    if case == "entry":
        forged["entry"] = document["entry"].replace('"k"', '"x"')
    elif case == "index":
        forged["index"] = 4
    elif case == "size":
        forged["tree_size"] = 8
    elif case == "proof":
        forged["inclusion_proof"] = document["inclusion_proof"][:-1]
    elif case == "signer":
        lines = document["checkpoint"].split("\n")
        root = base64.b64decode(lines[2])
        forged["checkpoint"] = checkpoint.sign(lines[0], 7, root, keys.PrivateKey.generate()).note
    elif case == "index in entry":
        forged["entry"] = document["entry"].replace('"index": 5', '"index": 6')
    return forged


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("entry", "not proven in the signed log"),
        ("index", "not proven in the signed log"),
        ("size", "claims tree size 8"),
        ("proof", "not proven in the signed log"),
        ("signer", "checkpoint does not verify: not signed by the operator key"),
        ("index in entry", "not proven in the signed log"),
    ],
)
def test_a_forged_receipt_is_rejected(case: str, match: str) -> None:
    made, key = _receipt(7, 5)
    forged = _forge(json.loads(made.to_json()), case)
    with pytest.raises(errors.ReceiptError, match=match):
        receipt.verify_receipt(receipt.Receipt.from_json(json.dumps(forged)), key.public_key())


def test_a_receipt_whose_entry_names_another_index_is_rejected() -> None:
    # A genuine proof of an entry that says it is entry 6 while it sits at index 5.
    key = keys.PrivateKey.generate()
    entries = [json.dumps({"index": i + (i == 5)}).encode() for i in range(7)]
    tree = merkle.Tree.from_entries(entries)
    made = receipt.Receipt(
        index=5,
        tree_size=7,
        entry=entries[5],
        inclusion_proof=tuple(tree.inclusion_proof(5)),
        checkpoint=checkpoint.sign("ruaj.example/log", 7, tree.root(), key).note,
    )
    with pytest.raises(errors.ReceiptError, match="the entry says index 6"):
        receipt.verify_receipt(made, key.public_key())


def test_malformed_receipts_are_named() -> None:
    made, _ = _receipt(3, 1)
    document = json.loads(made.to_json())
    with pytest.raises(errors.ReceiptError, match="leaf_hash"):
        receipt.Receipt.from_json(json.dumps(dict(document, leaf_hash=document["checkpoint"])))
    with pytest.raises(errors.ReceiptError, match="not an audit receipt"):
        receipt.Receipt.from_json("{}")
    with pytest.raises(errors.ReceiptError, match="not a JSON document"):
        receipt.Receipt.from_json("{")
    with pytest.raises(errors.ReceiptError, match="'index' is not a non-negative integer"):
        receipt.Receipt.from_json(json.dumps(dict(document, index=True)))
