"""Valid sample records of every schema, for tests to encode as they are or with one change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
IMEI = "490154203237518"  # the classic valid IMEI (Luhn digit 8)
IMEISV = "4901542032375101"  # same TAC and serial, software version 01
IMSI = "221021234567890"
MSISDN = "38344123456"
OTHER_MSISDN = "38349765432"
CELL = "221-02-1234-56789"


def cdr(**changes: Any) -> dict[str, Any]:
    """A valid Cdr (an originating voice leg that ended a minute ago)."""
    record: dict[str, Any] = {
        "event_id": "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab",
        "start_time": NOW - timedelta(minutes=3),
        "end_time": NOW - timedelta(minutes=1),
        "call_type": "VOICE",
        "direction": "ORIGINATING",
        "calling_number": MSISDN,
        "called_number": OTHER_MSISDN,
        "forwarded_to": None,
        "served_msisdn": MSISDN,
        "served_imsi": IMSI,
        "served_imei": IMEI,
        "cell_start": CELL,
        "cell_end": "221-02-1234-56790",
        "end_reason": "NORMAL_CLEARING",
        "network_element": "msc-prishtina-1",
    }
    return record | changes


def sms(**changes: Any) -> dict[str, Any]:
    """A valid SmsEvent (mobile-originated, submitted)."""
    record: dict[str, Any] = {
        "event_id": "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d",
        "event_time": NOW - timedelta(seconds=30),
        "direction": "MO",
        "sender": MSISDN,
        "recipient": OTHER_MSISDN,
        "served_msisdn": MSISDN,
        "served_imsi": IMSI,
        "served_imei": IMEI,
        "cell": CELL,
        "message_type": "SMS",
        "delivery_status": "SUBMITTED",
        "network_element": "smsc-1",
    }
    return record | changes


def imei(**changes: Any) -> dict[str, Any]:
    """A valid ImeiObservation (an attach)."""
    record: dict[str, Any] = {
        "event_id": "11111111-2222-4333-8444-555555555555",
        "observed_at": NOW - timedelta(hours=1),
        "imei": IMEI,
        "imsi": IMSI,
        "msisdn": MSISDN,
        "cell": CELL,
        "reason": "ATTACH",
        "network_element": "mme-1",
    }
    return record | changes


def ipsession(**changes: Any) -> dict[str, Any]:
    """A valid IpSession STOP record with its CGNAT port block."""
    record: dict[str, Any] = {
        "event_id": "99999999-8888-4777-a666-555555555555",
        "session_id": "pgw-1:0000abcd",
        "status": "STOP",
        "event_time": NOW - timedelta(minutes=10),
        "session_start": NOW - timedelta(hours=2),
        "session_end": NOW - timedelta(minutes=10),
        "msisdn": MSISDN,
        "imsi": IMSI,
        "imei": IMEI,
        "apn": "internet",
        "private_ip": "100.64.12.34",
        "public_ip": "203.0.113.7",
        "public_port_first": 40192,
        "public_port_last": 40255,
        "cell": CELL,
        "bytes_up": 1_234_567,
        "bytes_down": 98_765_432,
    }
    return record | changes


def subscriber(**changes: Any) -> dict[str, Any]:
    """A valid SubscriberChange (an UPSERT with KYC data)."""
    record: dict[str, Any] = {
        "event_id": "abcdefab-cdef-4abc-bdef-abcdefabcdef",
        "event_time": NOW - timedelta(days=1),
        "subscriber_id": "CUST-000042",
        "operation": "UPSERT",
        "given_name": "Drita",
        "family_name": "Krasniqi",
        "personal_number": "1234567890",
        "address": "Rruga Nëna Terezë 12",
        "city": "Prishtinë",
        "email": "drita@example.org",
        "contact_number": "+38344123456",
        "contract_start": NOW - timedelta(days=400),
        "contract_end": None,
        "identity_kind": None,
        "identity_value": None,
    }
    return record | changes


BY_SCHEMA = {"cdr": cdr, "sms": sms, "imei": imei, "ipsession": ipsession, "subscriber": subscriber}
TOPIC_OF = {"cdr": "ruaj.cdr", "sms": "ruaj.sms", "imei": "ruaj.imei",
            "ipsession": "ruaj.ipsession", "subscriber": "ruaj.subscriber"}  # fmt: skip
