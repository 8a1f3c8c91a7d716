"""Helpers for the order tests: order documents, officers as database login roles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

COURT = "Basic Court of Prishtina"
PROSECUTOR = "Basic Prosecution Office of Prishtina"


def rfc3339(moment: datetime) -> str:
    """`moment` as RFC 3339 UTC with a Z, seconds precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def recipient_key_pem(key: x25519.X25519PrivateKey | None = None) -> str:
    """The PEM SubjectPublicKeyInfo of an X25519 key (a new one unless given)."""
    key = key or x25519.X25519PrivateKey.generate()
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def traffic_task(task_id: str = "t1", msisdn: str = "38344123456") -> dict[str, Any]:
    """A traffic_data task for one MSISDN over August to October 2026."""
    return {
        "task_id": task_id,
        "type": "traffic_data",
        "identifier": {"kind": "msisdn", "value": msisdn},
        "from": "2026-08-01T00:00:00Z",
        "to": "2026-11-01T00:00:00Z",
    }


def ip_task(task_id: str = "t2") -> dict[str, Any]:
    """An ip_attribution task: one public IP and port at one instant."""
    return {
        "task_id": task_id,
        "type": "ip_attribution",
        "identifier": {
            "kind": "public_ip",
            "value": "203.0.113.7",
            "port": 40211,
            "observed_at": "2026-10-03T18:22:05Z",
        },
    }


def order_document(
    *,
    reference: str = "PPS-2026-0451",
    authority: str = COURT,
    kind: str = "court",
    tasks: Sequence[dict[str, Any]] | None = None,
    now: datetime | None = None,
    valid_for: timedelta = timedelta(days=30),
    valid_from: datetime | None = None,
    recipient_key: str | None = None,
) -> dict[str, Any]:
    """An order document (as a dict) valid from an hour ago for `valid_for`."""
    now = now or datetime.now(UTC)
    start = valid_from or now - timedelta(hours=1)
    return {
        "order_reference": reference,
        "issuing_authority": {"kind": kind, "name": authority, "country": "XK"},
        "legal_basis": "Criminal Procedure Code, art. 88",
        "issued_at": rfc3339(start),
        "valid_from": rfc3339(start),
        "valid_until": rfc3339(start + valid_for),
        "urgent": False,
        "delay_subscriber_notice": True,
        "recipient": {
            "agency": "Police Cybercrime Unit",
            "public_key": recipient_key or recipient_key_pem(),
        },
        "tasks": list(tasks) if tasks is not None else [traffic_task(), ip_task()],
    }


def encode(document: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and imported."""
    return json.dumps(document, indent=1).encode()
