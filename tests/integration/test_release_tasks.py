"""The task types beyond traffic: subscriber data of a recycled number, IP attribution behind
CGNAT, equipment data, SMS by IMSI — each through its guarded function, as an officer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from store import db, registry, release
from tests.registry_support import T0, assign, change, session, store_sessions
from tests.registry_support import release as release_identity
from tests.release_support import add_court, approved_order, officer_connections, write_rows

pytestmark = pytest.mark.integration

MSISDN = "38344123456"
IMSI = "221021234567890"
IMEI = "490154203237518"
HOUR = timedelta(hours=1)


@pytest.fixture
async def officers(conn: db.Connection, database_url: str) -> AsyncIterator[list[db.Connection]]:
    async with officer_connections(conn, database_url) as connections:
        await add_court(conn)
        yield connections


def _range(
    task_id: str, task_type: str, kind: str, value: str, hours: tuple[int, int]
) -> dict[str, object]:
    start, end = (T0 + h * HOUR for h in hours)
    return {
        "task_id": task_id,
        "type": task_type,
        "identifier": {"kind": kind, "value": value},
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
    }


async def test_subscriber_data_names_whoever_held_the_number_in_the_range(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    handover = T0 + 48 * HOUR
    await registry.apply_changes(conn, [
        change("A", "UPSERT", T0 - HOUR, given_name="Arta", family_name="Krasniqi",
               city="Prishtina", contract_start=T0 - HOUR),
        change("B", "UPSERT", T0 - HOUR, given_name="Besnik", family_name="Gashi",
               city="Prizren", contract_start=T0 - HOUR),
        assign("A", "MSISDN", MSISDN, T0),
        release_identity("A", "MSISDN", MSISDN, handover),
        assign("B", "MSISDN", MSISDN, handover),
    ])  # fmt: skip
    tasks = [
        _range("before", "subscriber_data", "msisdn", MSISDN, (1, 47)),
        _range("across", "subscriber_data", "msisdn", MSISDN, (1, 49)),
    ]
    order_id = await approved_order(officers, tasks, x25519.X25519PrivateKey.generate())
    officer = officers[1]
    before = await release.read(
        officer, order_id, "before", "subscriber_data", MSISDN, T0 + HOUR, T0 + 47 * HOUR
    )
    assert [(r[0], r[3], r[7]) for r in before.rows] == [("A", "Arta", "Prishtina")]
    assert before.columns[:3] == ("subscriber_id", "held_from", "held_to")
    across = await release.read(
        officer, order_id, "across", "subscriber_data", MSISDN, T0 + HOUR, T0 + 49 * HOUR
    )
    assert [(r[0], r[1], r[2]) for r in across.rows] == [
        ("A", T0, handover),
        ("B", handover, None),
    ]


async def test_ip_attribution_finds_the_session_behind_port_and_instant(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    await registry.apply_changes(conn, [
        change("A", "UPSERT", T0 - HOUR, given_name="Arta", contract_start=T0 - HOUR),
        assign("A", "MSISDN", MSISDN, T0 - HOUR),
    ])  # fmt: skip
    await store_sessions(conn, [
        session("s1", "START", T0, start=T0, first=1024, last=1535),
        session("n1", "START", T0, start=T0, first=1536, last=2047, msisdn="38344000002"),
    ])  # fmt: skip
    at = T0 + timedelta(minutes=10)
    tasks = [{
        "task_id": "ip", "type": "ip_attribution",
        "identifier": {"kind": "public_ip", "value": "198.18.0.1", "port": 1300,
                       "observed_at": at.isoformat().replace("+00:00", "Z")},
    }]  # fmt: skip
    order_id = await approved_order(officers, tasks, x25519.X25519PrivateKey.generate())
    found = await release.read(officers[2], order_id, "ip", "ip_attribution", "198.18.0.1", at, at)
    assert [(r[0], r[1], r[-1]) for r in found.rows] == [("s1", MSISDN, "A")]
    # Another instant than the order's is outside it.
    with pytest.raises(release.ReleaseRefused) as caught:
        await release.read(
            officers[2], order_id, "ip", "ip_attribution", "198.18.0.1", at, at + HOUR
        )
    assert caught.value.reason == "outside_range"


async def test_equipment_and_sms_data_by_imsi_and_imei(
    conn: db.Connection, officers: list[db.Connection]
) -> None:
    def sighting(n: int, hours: int, imei: str) -> tuple[object, ...]:
        return (uuid.UUID(int=n), T0 + hours * HOUR, imei, IMSI, MSISDN, "295-01-1001-1",
                "ATTACH", "mme-1")  # fmt: skip

    def text(n: int, hours: int, imsi: str) -> tuple[object, ...]:
        return (uuid.UUID(int=n), T0 + hours * HOUR, "MO", MSISDN, "38344000002", MSISDN, imsi,
                IMEI, None, "SMS", "SUBMITTED", "smsc-1")  # fmt: skip

    await write_rows(conn, "imei_observation", [
        sighting(1, 1, IMEI), sighting(2, 5, IMEI), sighting(3, 30, IMEI),
        sighting(4, 2, "356938035643809"),
    ])  # fmt: skip
    await write_rows(conn, "sms", [
        text(11, 1, IMSI), text(12, 3, IMSI), text(13, 3, "221029999999999"), text(14, 40, IMSI)
    ])  # fmt: skip
    tasks = [
        _range("eq", "equipment_data", "imei", IMEI, (0, 24)),
        _range("sms", "sms_data", "imsi", IMSI, (0, 24)),
    ]
    order_id = await approved_order(officers, tasks, x25519.X25519PrivateKey.generate())
    seen = await release.read(
        officers[1], order_id, "eq", "equipment_data", IMEI, T0, T0 + 24 * HOUR
    )
    assert [r[0].int for r in seen.rows] == [1, 2]
    texts = await release.read(officers[1], order_id, "sms", "sms_data", IMSI, T0, T0 + 24 * HOUR)
    assert [r[0].int for r in texts.rows] == [11, 12]
