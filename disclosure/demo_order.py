"""The order of `ruaj demo`: a court's order document for tasks on one identifier, and the key
pair of the agency it names as recipient.

The document follows `schemas/order.schema.json` (DESIGN §5): valid from an hour before `now`
for 30 days, issued by a court, the package encrypted to the agency's X25519 public key. Its
exact bytes are what the judge signs (`disclosure.demo_pki`) and what `ruaj order import` reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from disclosure import recipient

VALIDITY = timedelta(days=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One task of the order: a type, an identifier and a time range [start, end)."""

    task_id: str
    task_type: str
    kind: str
    value: str
    start: datetime
    end: datetime


def rfc3339(instant: datetime) -> str:
    """`instant` as RFC 3339 UTC with a Z, to the second (what the order schema takes)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def document(
    *,
    reference: str,
    court: str,
    agency: str,
    agency_key: recipient.PublicKey,
    tasks: Sequence[Task],
    now: datetime,
    legal_basis: str = "Criminal Procedure Code, art. 88",
) -> bytes:
    """The order document's exact bytes (UTF-8 JSON, indented for the officers who read it)."""
    start = now - timedelta(hours=1)
    public_pem = agency_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    order = {
        "order_reference": reference,
        "issuing_authority": {"kind": "court", "name": court, "country": "XK"},
        "legal_basis": legal_basis,
        "issued_at": rfc3339(start),
        "valid_from": rfc3339(start),
        "valid_until": rfc3339(start + VALIDITY),
        "urgent": False,
        "delay_subscriber_notice": True,
        "recipient": {"agency": agency, "public_key": public_pem},
        "tasks": [
            {
                "task_id": task.task_id,
                "type": task.task_type,
                "identifier": {"kind": task.kind, "value": task.value},
                "from": rfc3339(task.start),
                "to": rfc3339(task.end),
            }
            for task in tasks
        ],
    }
    return (json.dumps(order, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def new_agency_key(path: Path) -> recipient.PrivateKey:
    """A new X25519 key pair for the agency, the private key written to `path` (PEM PKCS#8,
    readable by its owner only); what `ruaj package open --key` reads."""
    key = recipient.PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key
