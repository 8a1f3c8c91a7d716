"""Disclosure packages without a database: sealing, opening, and tampering at every layer."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from disclosure import checkpoint, errors, keys, merkle, package, receipt, recipient
from store import audit

AT = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)
ORIGIN = "ruaj.test/log"
ORDER = package.OrderRef(
    order_id=7,
    order_reference="PPS-2026-0451",
    order_sha256="ab" * 32,
    recipient_agency="Police Cybercrime Unit",
)
COLUMNS = ("event_id", "start_time", "calling_number", "called_number", "forwarded_to")
ROWS = [
    (uuid.UUID(int=1), AT - dt.timedelta(days=3), "38344123456", "38349000001", None),
    (uuid.UUID(int=2), AT - dt.timedelta(days=2), "38349000002", "38344123456", "38349000003"),
]


def _entry(index: int, kind: str, details: dict[str, Any]) -> bytes:
    document = {
        "actor": "officer_a",
        "at": "2026-11-22T04:00:00.000000Z",
        "details": details,
        "index": index,
        "kind": kind,
    }
    return audit.canonical_json(document).encode("utf-8")


def make_receipt(
    operator: keys.PrivateKey, details: dict[str, Any], *, kind: str = package.RELEASE_KIND
) -> receipt.Receipt:
    """A receipt for entry 2 of a three-entry log signed by `operator`, as the database gives."""
    entries = [_entry(0, "order.received", {"order_id": 7}), _entry(1, "order.approved", {})]
    entries.append(_entry(2, kind, details))
    tree = merkle.Tree.from_entries(entries)
    cp = checkpoint.sign(ORIGIN, 3, tree.root(), operator)
    return receipt.Receipt(
        index=2,
        tree_size=3,
        entry=entries[2],
        inclusion_proof=tuple(tree.inclusion_proof(2)),
        checkpoint=cp.note,
    )


class Parties:
    """The operator's and the agency's keys, and a package made by the one for the other."""

    def __init__(self) -> None:
        self.operator = keys.PrivateKey.generate()
        self.agency = recipient.PrivateKey.generate()
        task = package.TaskData(
            task_id="t1",
            task_type="traffic_data",
            identifier={"kind": "msisdn", "value": "38344123456"},
            range_from=AT - dt.timedelta(days=90),
            range_to=AT,
            columns=COLUMNS,
            rows=ROWS,
        )
        self.contents = package.contents(ORDER, [task])
        self.receipt = make_receipt(self.operator, self.details())

    def details(self, **changes: Any) -> dict[str, Any]:
        base = {
            "order_id": 7,
            "order_sha256": ORDER.order_sha256,
            "package_sha256": self.contents.content_sha256,
            "tasks": [{"task_id": "t1", "rows": 2}],
        }
        base.update(changes)
        return base

    def seal(self, made: receipt.Receipt | None = None) -> bytes:
        return package.seal(
            self.contents,
            made or self.receipt,
            operator_key=self.operator,
            recipient_key=self.agency.public_key(),
            at=AT,
        )

    def open(self, data: bytes) -> package.Opened:
        return package.open_package(
            data, agency_key=self.agency, operator=self.operator.public_key()
        )

    def plaintext(self, data: bytes) -> dict[str, bytes]:
        raw = package.SUITE.decrypt(data[len(package.MAGIC) :], self.agency, info=package.MAGIC)
        with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
            out = {}
            for info in archive:
                reader = archive.extractfile(info)
                assert reader is not None
                out[info.name] = reader.read()
            return out

    def reseal(self, members: dict[str, bytes]) -> bytes:
        """Archive and encrypt `members` as an attacker who knows the agency's public key can."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for name, body in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
        encrypted = package.SUITE.encrypt(
            out.getvalue(), self.agency.public_key(), info=package.MAGIC
        )
        return package.MAGIC + encrypted

    def signed(self, manifest: dict[str, Any], key: keys.PrivateKey | None = None) -> bytes:
        return base64.b64encode(keys.sign(key or self.operator, _dump(manifest))) + b"\n"


def _dump(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode()


@pytest.fixture
def parties() -> Parties:
    return Parties()


def test_an_intact_package_opens_with_the_rows_it_was_made_of(
    parties: Parties, tmp_path: Path
) -> None:
    opened = parties.open(parties.seal())
    names = sorted(opened.files)
    assert names == ["data/task-01-traffic_data.csv", "data/task-01-traffic_data.json"]
    rows = list(csv.reader(io.StringIO(opened.files[names[0]].decode())))
    assert rows[0] == list(COLUMNS)
    assert rows[1] == [
        "00000000-0000-0000-0000-000000000001",
        "2026-11-19T04:00:00.000000Z",
        "38344123456",
        "38349000001",
        "",
    ]
    assert len(rows) == 3
    document = json.loads(opened.files[names[1]])
    assert document["identifier"] == {"kind": "msisdn", "value": "38344123456"}
    assert [r["forwarded_to"] for r in document["rows"]] == [None, "38349000003"]
    assert opened.manifest["content_sha256"] == parties.contents.content_sha256
    assert opened.receipt.index == 2
    written = package.write_out(opened, tmp_path / "out")
    assert (tmp_path / "out" / names[0]).read_bytes() == opened.files[names[0]]
    assert (tmp_path / "out" / "manifest.json").read_bytes() == opened.manifest_bytes
    assert len(written) == 5


def test_sealing_is_deterministic_apart_from_the_encryption(parties: Parties) -> None:
    first, second = parties.seal(), parties.seal()
    assert first != second  # a fresh HPKE ephemeral key each time
    assert parties.plaintext(first) == parties.plaintext(second)


def test_another_agency_cannot_open_it(parties: Parties) -> None:
    other = recipient.PrivateKey.generate()
    with pytest.raises(errors.PackageRefused, match="not for this key"):
        package.open_package(
            parties.seal(), agency_key=other, operator=parties.operator.public_key()
        )


@pytest.mark.parametrize("position", [len(package.MAGIC) + 5, len(package.MAGIC) + 100, -1])
def test_a_changed_ciphertext_byte_is_refused(parties: Parties, position: int) -> None:
    data = bytearray(parties.seal())
    data[position] ^= 0x01
    with pytest.raises(errors.PackageRefused, match="altered"):
        parties.open(bytes(data))


def test_a_truncated_or_foreign_file_is_refused(parties: Parties) -> None:
    data = parties.seal()
    with pytest.raises(errors.PackageRefused, match="altered"):
        parties.open(data[:-10])
    with pytest.raises(errors.PackageRefused, match="not a ruaj package"):
        parties.open(b"PK\x03\x04" + data)


def test_a_changed_data_file_is_refused_even_when_re_encrypted(parties: Parties) -> None:
    members = parties.plaintext(parties.seal())
    name = "data/task-01-traffic_data.csv"
    members[name] = members[name].replace(b"38349000001", b"38349000009")
    with pytest.raises(errors.PackageRefused, match=f"{name} does not match its SHA-256"):
        parties.open(parties.reseal(members))


def test_a_removed_or_added_file_is_refused(parties: Parties) -> None:
    members = parties.plaintext(parties.seal())
    fewer = dict(members)
    del fewer["data/task-01-traffic_data.json"]
    with pytest.raises(errors.PackageRefused, match="missing"):
        parties.open(parties.reseal(fewer))
    more = dict(members)
    more["data/task-02-sms_data.csv"] = b"event_id\r\n"
    with pytest.raises(errors.PackageRefused, match="not listed"):
        parties.open(parties.reseal(more))
    escaping = dict(members)
    escaping["../../etc/cron.d/x"] = b"* * * * * root true\n"
    with pytest.raises(errors.PackageRefused, match="unexpected member"):
        parties.open(parties.reseal(escaping))


def test_a_changed_manifest_is_refused_by_the_signature(parties: Parties) -> None:
    members = parties.plaintext(parties.seal())
    manifest = json.loads(members["manifest.json"])
    manifest["order"]["recipient_agency"] = "Someone Else"
    members["manifest.json"] = _dump(manifest)
    with pytest.raises(errors.PackageRefused, match="signature does not verify"):
        parties.open(parties.reseal(members))


def test_a_manifest_signed_by_another_key_is_refused(parties: Parties) -> None:
    members = parties.plaintext(parties.seal())
    forger = keys.PrivateKey.generate()
    members["manifest.sig"] = parties.signed(json.loads(members["manifest.json"]), forger)
    with pytest.raises(errors.PackageRefused, match="signature does not verify"):
        parties.open(parties.reseal(members))
    del members["manifest.sig"]
    with pytest.raises(errors.PackageRefused, match=r"lacks manifest\.sig"):
        parties.open(parties.reseal(members))


def _with_manifest(parties: Parties, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The package with its manifest changed and signed again by the operator's own key."""
    members = parties.plaintext(parties.seal())
    manifest = json.loads(members["manifest.json"])
    change(manifest)
    members["manifest.json"] = _dump(manifest)
    members["manifest.sig"] = parties.signed(manifest)
    return parties.reseal(members)


def test_a_wrong_content_hash_is_refused(parties: Parties) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["content_sha256"] = "00" * 32

    with pytest.raises(errors.PackageRefused, match="content_sha256 is not the hash"):
        parties.open(_with_manifest(parties, change))


def test_a_changed_receipt_is_refused(parties: Parties) -> None:
    def proof(manifest: dict[str, Any]) -> None:
        path = manifest["audit_receipt"]["inclusion_proof"]
        path[0] = base64.b64encode(bytes(32)).decode()

    with pytest.raises(errors.PackageRefused, match="receipt does not verify"):
        parties.open(_with_manifest(parties, proof))

    def checkpoint_note(manifest: dict[str, Any]) -> None:
        text = manifest["audit_receipt"]["checkpoint"]
        manifest["audit_receipt"]["checkpoint"] = text.replace("\n3\n", "\n4\n", 1)

    with pytest.raises(errors.PackageRefused, match="receipt does not verify"):
        parties.open(_with_manifest(parties, checkpoint_note))


def test_a_receipt_of_another_release_is_refused(parties: Parties) -> None:
    other = make_receipt(parties.operator, parties.details(package_sha256="11" * 32))
    with pytest.raises(errors.PackageRefused, match="release of another package"):
        parties.open(parties.seal(other))
    other_order = make_receipt(parties.operator, parties.details(order_sha256="22" * 32))
    with pytest.raises(errors.PackageRefused, match="under another order"):
        parties.open(parties.seal(other_order))
    not_release = make_receipt(parties.operator, parties.details(), kind="order.approved")
    with pytest.raises(errors.PackageRefused, match="not a release"):
        parties.open(parties.seal(not_release))


def test_a_receipt_signed_by_another_operator_is_refused(parties: Parties) -> None:
    stranger = make_receipt(keys.PrivateKey.generate(), parties.details())
    with pytest.raises(errors.PackageRefused, match="receipt does not verify"):
        parties.open(parties.seal(stranger))


def test_recipient_keys_must_be_x25519() -> None:
    agency = recipient.PrivateKey.generate()
    assert isinstance(
        recipient.parse_public_key(recipient.public_key_pem(agency.public_key())),
        recipient.PublicKey,
    )
    operator = keys.PrivateKey.generate()
    with pytest.raises(errors.Refused, match="not an X25519 key"):
        recipient.parse_public_key(keys.public_key_pem(operator.public_key()))
    with pytest.raises(errors.Refused, match="not a PEM public key"):
        recipient.parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
