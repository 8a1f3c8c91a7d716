"""Disclosure packages: what the recipient agency receives, and how it checks it.

A package is one file:

    b"ruaj-package/1\\n" ‖ HPKE(X25519, HKDF-SHA256, AES-256-GCM) base-mode ciphertext
                             (enc ‖ ct, RFC 9180 single shot, info = the first line)

to the order's recipient key. HPKE's base mode authenticates nothing about the sender, so the
plaintext carries the operator's signature. The plaintext is a POSIX (ustar) tar archive,
members in this order, with fixed owner, mode and time so equal contents give equal bytes:

    manifest.json            the manifest (below), UTF-8 JSON
    manifest.sig             base64 Ed25519 signature of manifest.json's exact bytes by the
                             operator's key (RUAJ_OPERATOR_KEY)
    data/task-NN-TYPE.csv    per task: RFC 4180 CSV with a header row (times RFC 3339 UTC)
    data/task-NN-TYPE.json   per task: the same rows as JSON objects, with the task's scope

The manifest names the order (id, reference, SHA-256 of its exact document bytes), lists every
data file with its SHA-256, size, task and row count, and carries `content_sha256`: the SHA-256 of
the canonical JSON of {order_sha256, files} — the package hash. The release's audit entry
(kind `order.disclosed`, committed in the same transaction as the reads) records that hash as
`package_sha256` and the order's hash as `order_hash`; the manifest carries that entry's audit
receipt (inclusion proof and signed checkpoint, disclosure/receipt.py). Opening checks, in
order: decryption (right key, nothing changed), the archive's shape, the signature, every file's
hash and size, the package hash, the receipt against the operator's key, and that the receipt's
entry is the release of exactly this package. Any failure is `PackageRefused` (exit 3) and
nothing is written out.

Size: the archive is built and encrypted in memory as one HPKE message. `RUAJ_PACKAGE_MAX_BYTES`
(default 256 MiB) bounds it: execution refuses, before anything is released, an order whose data
would exceed it; such an order should be split into narrower tasks.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import io
import ipaddress
import json
import re
import tarfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke

from disclosure import errors, keys, receipt, recipient

MAGIC = b"ruaj-package/1\n"
MANIFEST_FORMAT = "ruaj-package-manifest/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
DATA_DIR = "data"
# The audit entry kind of a release; its details hold the package and order hashes.
RELEASE_KIND = "order.disclosed"
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_DATA_NAME = re.compile(r"^data/task-[0-9]{2,}-[a-z_]{1,32}\.(csv|json)$")
_TASK_TYPE = re.compile(r"^[a-z_]{1,32}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskData:
    """One task's released rows, with the scope they were released under."""

    task_id: str
    task_type: str
    identifier: Mapping[str, Any]
    range_from: dt.datetime | None
    range_to: dt.datetime | None
    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRef:
    """What a package says about the order it answers."""

    order_id: int
    order_reference: str
    order_sha256: str
    recipient_agency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DataFile:
    """A file of the package with the task it answers."""

    name: str
    data: bytes
    task_id: str
    task_type: str
    rows: int

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes."""
        return hashlib.sha256(self.data).hexdigest()

    def listing(self) -> dict[str, Any]:
        """The file's entry in the manifest."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "bytes": len(self.data),
            "task_id": self.task_id,
            "task_type": self.task_type,
            "rows": self.rows,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Contents:
    """The data files of a package, before it is signed and sealed."""

    order: OrderRef
    files: tuple[DataFile, ...]

    @property
    def content_sha256(self) -> str:
        """The package hash: what the release's audit entry records."""
        return content_digest(self.order.order_sha256, [f.listing() for f in self.files])

    @property
    def size(self) -> int:
        """Bytes of data, a lower bound of the archive's size."""
        return sum(len(f.data) for f in self.files)


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """A package that passed every check."""

    manifest: dict[str, Any]
    # The manifest's exact signed bytes and its signature file, as received.
    manifest_bytes: bytes
    signature: bytes
    files: dict[str, bytes]
    receipt: receipt.Receipt


def content_digest(order_sha256: str, listings: Sequence[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of the canonical JSON of the order hash and the file listings."""
    document = {"order_sha256": order_sha256, "files": list(listings)}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rfc3339(value: dt.datetime) -> str:
    """A time as RFC 3339 UTC with microseconds, the form used in every package file."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value.network_address) if value.prefixlen == value.max_prefixlen else str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return str(value)


def _csv_value(value: Any) -> str:
    rendered = _json_value(value)
    if rendered is None:
        return ""
    if isinstance(rendered, bool):
        return "true" if rendered else "false"
    if isinstance(rendered, list):
        return json.dumps(rendered, ensure_ascii=False)
    return str(rendered)


def render(position: int, task: TaskData) -> tuple[DataFile, DataFile]:
    """The CSV and JSON files of one task (the `position`th of the order, from 1)."""
    if not _TASK_TYPE.match(task.task_type):
        raise ValueError(f"not a task type: {task.task_type!r}")
    stem = f"{DATA_DIR}/task-{position:02d}-{task.task_type}"
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(task.columns)
    for row in task.rows:
        writer.writerow([_csv_value(v) for v in row])
    document = {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "identifier": {k: _json_value(v) for k, v in task.identifier.items()},
        "from": None if task.range_from is None else rfc3339(task.range_from),
        "to": None if task.range_to is None else rfc3339(task.range_to),
        "columns": list(task.columns),
        "rows": [
            {c: _json_value(v) for c, v in zip(task.columns, row, strict=True)} for row in task.rows
        ],
    }
    as_json = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    return (
        DataFile(
            name=f"{stem}.csv",
            data=text.getvalue().encode("utf-8"),
            task_id=task.task_id,
            task_type=task.task_type,
            rows=len(task.rows),
        ),
        DataFile(
            name=f"{stem}.json",
            data=as_json.encode("utf-8"),
            task_id=task.task_id,
            task_type=task.task_type,
            rows=len(task.rows),
        ),
    )


def contents(order: OrderRef, tasks: Sequence[TaskData]) -> Contents:
    """The data files of every task, in the order's task order."""
    files: list[DataFile] = []
    for position, task in enumerate(tasks, start=1):
        files.extend(render(position, task))
    return Contents(order=order, files=tuple(files))


def manifest_bytes(
    made: Contents, audit_receipt: receipt.Receipt, *, operator: keys.PublicKey, at: dt.datetime
) -> bytes:
    """The manifest's exact bytes (signed as they are)."""
    document = {
        "format": MANIFEST_FORMAT,
        "created_at": rfc3339(at),
        "order": {
            "order_id": made.order.order_id,
            "order_reference": made.order.order_reference,
            "order_sha256": made.order.order_sha256,
            "recipient_agency": made.order.recipient_agency,
        },
        "operator_public_key": keys.public_key_pem(operator),
        "files": [f.listing() for f in made.files],
        "content_sha256": made.content_sha256,
        "audit_receipt": json.loads(audit_receipt.to_json()),
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _tar(members: Sequence[tuple[str, bytes]], at: dt.datetime) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(at.timestamp())
            info.uname = info.gname = "ruaj"
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def seal(
    made: Contents,
    audit_receipt: receipt.Receipt,
    *,
    operator_key: keys.PrivateKey,
    recipient_key: recipient.PublicKey,
    at: dt.datetime,
) -> bytes:
    """The package file's bytes: signed manifest and data, archived, encrypted to the agency."""
    manifest = manifest_bytes(made, audit_receipt, operator=operator_key.public_key(), at=at)
    signature = base64.b64encode(keys.sign(operator_key, manifest)) + b"\n"
    members = [(MANIFEST, manifest), (SIGNATURE, signature)]
    members.extend((f.name, f.data) for f in made.files)
    return MAGIC + SUITE.encrypt(_tar(members, at), recipient_key, info=MAGIC)


def _refuse(message: str) -> errors.PackageRefused:
    return errors.PackageRefused(message)


def _decrypt(data: bytes, agency_key: recipient.PrivateKey) -> bytes:
    if not data.startswith(MAGIC):
        raise _refuse("not a ruaj package (it does not start with 'ruaj-package/1')")
    try:
        return SUITE.decrypt(data[len(MAGIC) :], agency_key, info=MAGIC)
    except InvalidTag as exc:
        raise _refuse(
            "decryption failed: the package is not for this key, or it was altered"
        ) from exc


def _members(plain: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as archive:
            for info in archive:
                if not info.isfile():
                    raise _refuse(f"the archive holds {info.name!r}, which is not a regular file")
                if info.name in found:
                    raise _refuse(f"the archive holds {info.name!r} twice")
                if info.name not in (MANIFEST, SIGNATURE) and not _DATA_NAME.match(info.name):
                    raise _refuse(f"the archive holds an unexpected member {info.name!r}")
                reader = archive.extractfile(info)
                assert reader is not None  # a regular file always has a reader
                found[info.name] = reader.read()
    except tarfile.TarError as exc:
        raise _refuse(f"the decrypted archive is not a valid tar archive: {exc}") from exc
    for name in (MANIFEST, SIGNATURE):
        if name not in found:
            raise _refuse(f"the archive lacks {name}")
    return found


def _check_signature(found: dict[str, bytes], operator: keys.PublicKey) -> dict[str, Any]:
    try:
        signature = base64.b64decode(found[SIGNATURE].strip(), validate=True)
    except binascii.Error as exc:
        raise _refuse("manifest.sig is not base64") from exc
    try:
        keys.verify(operator, found[MANIFEST], signature)
    except errors.BadSignature as exc:
        raise _refuse(
            "the manifest's signature does not verify with the operator's key: "
            "the manifest was altered or signed by someone else"
        ) from exc
    try:
        manifest: dict[str, Any] = json.loads(found[MANIFEST])
    except ValueError as exc:
        raise _refuse("the signed manifest is not JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise _refuse(f"the manifest is not a {MANIFEST_FORMAT} manifest")
    return manifest


def _check_files(found: dict[str, bytes], manifest: dict[str, Any]) -> dict[str, bytes]:
    listings = manifest.get("files")
    if not isinstance(listings, list) or not all(isinstance(f, dict) for f in listings):
        raise _refuse("the manifest's file list is malformed")
    data = {k: v for k, v in found.items() if k not in (MANIFEST, SIGNATURE)}
    listed = [f.get("name") for f in listings]
    if sorted(map(str, listed)) != sorted(data) or len(set(listed)) != len(listed):
        missing = sorted(set(map(str, listed)) - set(data))
        extra = sorted(set(data) - set(map(str, listed)))
        raise _refuse(f"files do not match the manifest: missing {missing}, not listed {extra}")
    for listing in listings:
        body = data[listing["name"]]
        if hashlib.sha256(body).hexdigest() != listing.get("sha256"):
            raise _refuse(f"{listing['name']} does not match its SHA-256 in the manifest")
        if len(body) != listing.get("bytes"):
            raise _refuse(f"{listing['name']} does not have the size the manifest states")
    order = manifest.get("order")
    if not isinstance(order, dict) or not isinstance(order.get("order_sha256"), str):
        raise _refuse("the manifest does not name its order's hash")
    if content_digest(order["order_sha256"], listings) != manifest.get("content_sha256"):
        raise _refuse("the manifest's content_sha256 is not the hash of its order and files")
    return data


def _check_receipt(manifest: dict[str, Any], operator: keys.PublicKey) -> receipt.Receipt:
    try:
        made = receipt.Receipt.from_json(json.dumps(manifest.get("audit_receipt")))
        receipt.verify_receipt(made, operator)
        entry = made.fields()
    except errors.VerificationError as exc:
        raise _refuse(f"the audit receipt does not verify: {exc}") from exc
    details = entry.get("details")
    if entry.get("kind") != RELEASE_KIND or not isinstance(details, dict):
        raise _refuse(f"the audit receipt is for a {entry.get('kind')!r} entry, not a release")
    if details.get("package_sha256") != manifest["content_sha256"]:
        raise _refuse("the audit receipt records the release of another package")
    if details.get("order_hash") != manifest["order"]["order_sha256"]:
        raise _refuse("the audit receipt records a release under another order")
    return made


def open_package(
    data: bytes, *, agency_key: recipient.PrivateKey, operator: keys.PublicKey
) -> Opened:
    """Decrypt and check a package; `PackageRefused` names the first check that fails."""
    found = _members(_decrypt(data, agency_key))
    manifest = _check_signature(found, operator)
    files = _check_files(found, manifest)
    made = _check_receipt(manifest, operator)
    return Opened(
        manifest=manifest,
        manifest_bytes=found[MANIFEST],
        signature=found[SIGNATURE],
        files=files,
        receipt=made,
    )


def write_out(opened: Opened, out: Path) -> list[Path]:
    """Write a checked package's files (manifest, signature, receipt, data) under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / DATA_DIR).mkdir(exist_ok=True)
    written = []
    for name, body in [
        (MANIFEST, opened.manifest_bytes),
        (SIGNATURE, opened.signature),
        ("audit-receipt.json", opened.receipt.to_json().encode("utf-8")),
        *sorted(opened.files.items()),
    ]:
        path = out / name
        path.write_bytes(body)
        written.append(path)
    return written


def written_rows(out: Path) -> dict[str, list[dict[str, object]]]:
    """The rows of each task of a package written out by `write_out`, by task id, as its
    JSON files hold them (what the agency counts and reads)."""
    found: dict[str, list[dict[str, object]]] = {}
    for path in sorted((out / DATA_DIR).glob("task-*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        found[str(document["task_id"])] = list(document["rows"])
    return found
