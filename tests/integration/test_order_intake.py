"""Order intake against a real PostgreSQL and the test PKI: every refusal ends `rejected` with its
reason code, in the order's row and in the audit log; a good order ends `verified`."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from disclosure import errors, intake
from disclosure.settings import DisclosureSettings
from store import audit, db, orders
from store import errors as store_errors
from tests import pki as test_pki
from tests.intake_support import kinds_since, register, register_unchecked, signed
from tests.orders_support import PROSECUTOR, encode, order_document, traffic_task
from tests.release_support import officer_connections

pytestmark = pytest.mark.integration

Build = Callable[[db.Connection, test_pki.Pki], Awaitable[tuple[bytes, bytes]]]


@pytest.fixture(scope="module")
def pki() -> test_pki.Pki:
    return test_pki.Pki()


@pytest.fixture
def settings() -> DisclosureSettings:
    return DisclosureSettings()


@pytest.fixture
async def officer(conn: db.Connection, database_url: str) -> AsyncIterator[db.Connection]:
    async with officer_connections(conn, database_url, count=1) as connections:
        yield connections[0]


def _by(attribute: str) -> Build:
    """A good court registered, the order signed by the PKI's identity `attribute`."""

    async def build(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
        await register(admin, pki)
        return signed(pki, getattr(pki, attribute))

    return build


def _with_crls(crls: Callable[[test_pki.Pki], list[bytes]], *, checked: bool = True) -> Build:
    """The court registered with other CRLs (unchecked: as the table would be once time has
    passed, or written by hand); the order signed by the good judge."""

    async def build(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
        if checked:
            await register(admin, pki, crls=crls(pki))
        else:
            await register_unchecked(admin, pki, crls(pki))
        return signed(pki)

    return build


def _document(edit: Callable[[dict[str, Any]], object] | None = None, **document: Any) -> Build:
    async def build(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
        await register(admin, pki)
        return signed(pki, edit=edit, **document)

    return build


async def _changed_after_signing(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    await register(admin, pki)
    data, signature = signed(pki)
    changed = data.replace(b"PPS-2026-0451", b"PPS-2026-0457")
    assert changed != data
    return changed, signature


async def _not_a_signature(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    await register(admin, pki)
    return signed(pki)[0], b"this is not a signature"


async def _trailing_bytes(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    await register(admin, pki)
    data, signature = signed(pki)
    return data, signature + b"\x00"


async def _no_signing_time(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    await register(admin, pki)
    data = encode(order_document())
    return data, pki.sign(data, attributes=False)


async def _prosecutor_traffic(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    await register(admin, pki, name=PROSECUTOR, kind="prosecutor")
    return signed(pki, authority=PROSECUTOR, kind="prosecutor", tasks=[traffic_task()])


async def _unregistered(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    await register(admin, pki)
    return signed(pki, authority="Basic Court of Nowhere")


async def _not_json(admin: db.Connection, pki: test_pki.Pki) -> tuple[bytes, bytes]:
    data = b'{"order_reference": "PPS-1",'
    return data, pki.sign(data)


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = datetime.now(UTC)
CASES: dict[str, tuple[Build, str, str]] = {
    "untrusted chain": (_by("stranger"), "untrusted_chain", "does not chain to the authority"),
    "outside the issuing CA": (_by("root_direct"), "untrusted_chain", "not through the "),
    "expired signer": (_by("expired_judge"), "expired_signer", "Judge Expired"),
    "signer not yet valid": (_by("future_judge"), "signer_not_yet_valid", "valid only from"),
    "revoked signer": (_by("revoked_judge"), "revoked", "revoked according to the authority"),
    "client-auth-only certificate": (_by("client_auth_only"), "key_usage", "1.3.6.1.5.5.7.3.2"),
    "no signing key usage": (_by("no_signing_usage"), "key_usage", "neither digitalSignature"),
    "no extended key usage": (_by("no_eku"), "key_usage", "no extended key usage extension"),
    "stale CRL": (_with_crls(test_pki.Pki.stale_crls, checked=False), "stale_crl", "is stale"),
    "missing CRL": (_with_crls(lambda p: []), "missing_crl", "has no registered CRL"),
    "no CRL of the issuing CA": (
        _with_crls(lambda p: p.crls()[:1]), "missing_crl", "no registered CRL of CN=Judicial Iss"
    ),
    "CRL of another CA": (
        _with_crls(lambda p: [test_pki.crl(p.stranger_ca, now=p.now)], checked=False),
        "crl_issuer", "not signed by a certificate of the authority's trust-anchor file",
    ),
    "changed after signing": (_changed_after_signing, "document_changed", "changed after"),
    "not a signature": (_not_a_signature, "bad_signature", "not DER CMS"),
    "trailing bytes after the signature": (_trailing_bytes, "bad_signature", "trailing data"),
    "no signing time": (_no_signing_time, "signing_time", "no signing time"),
    "prosecutor orders traffic data": (
        _prosecutor_traffic, "policy", "a prosecutor may not order traffic_data"
    ),
    "past its validity": (
        _document(valid_from=NOW - timedelta(days=40), valid_for=timedelta(days=30)),
        "outside_validity", "validity ended at",
    ),
    "not yet valid": (
        _document(valid_from=NOW + timedelta(days=1), edit=lambda d: d.update(issued_at=_in(0))),
        "outside_validity", "valid only from"
    ),
    "issued in the future": (
        _document(edit=lambda d: d.update(issued_at=_in(2))), "issued_in_future", "future"
    ),
    "unregistered authority": (_unregistered, "unknown_authority", "is not registered"),
    "authority of another kind": (
        _document(kind="prosecutor"), "authority_mismatch", "registered as a court"
    ),
    "not JSON": (_not_json, "malformed", "not JSON"),
    "schema": (
        _document(edit=lambda d: d.pop("legal_basis")), "malformed", "'legal_basis' is a requ"
    ),
    "empty validity": (_document(valid_for=timedelta(0)), "malformed", "valid_from is not bef"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
async def test_each_refusal_is_recorded_rejected_with_its_reason(
    case: str,
    conn: db.Connection,
    officer: db.Connection,
    pki: test_pki.Pki,
    settings: DisclosureSettings,
) -> None:
    build, reason, words = CASES[case]
    data, signature = await build(conn, pki)
    since = await audit.size(conn)

    with pytest.raises(errors.OrderRefused) as refused:
        await intake.import_order(officer, settings, data, signature)

    assert refused.value.reason == reason
    assert words in str(refused.value)
    assert str(refused.value).endswith(f"[{reason}]")
    [order] = await orders.list_orders(conn)
    assert (order.state, order.reason_code) == ("rejected", reason)
    assert refused.value.explanation == f"order {order.order_id} rejected: {order.reason}"
    assert order.order_hash == hashlib.sha256(data).digest()
    assert order.imported_by == await officer.fetchval("SELECT session_user")
    assert (await orders.document(conn, order.order_id)) == (data, signature)
    entries = await kinds_since(conn, since)
    assert [kind for kind, _ in entries] == ["order.received", "order.rejected"]
    assert entries[1][1]["reason_code"] == reason
    assert entries[1][1]["order_id"] == order.order_id
    assert order.reason is not None
    assert entries[1][1]["reason_sha256"] == hashlib.sha256(order.reason.encode()).hexdigest()


async def test_a_good_order_is_verified_with_its_signer(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki, settings: DisclosureSettings
) -> None:
    summary = await register(conn, pki)
    data, signature = signed(pki)
    since = await audit.size(conn)

    imported = await intake.import_order(officer, settings, data, signature)

    order = await orders.get(conn, imported.order_id)
    assert order is not None
    assert (order.state, order.reason_code, order.approvals) == ("verified", None, 0)
    assert order.authority_id == summary.authority_id
    assert order.signer_subject == "CN=Judge Arta Krasniqi,O=Kosovo Judicial Council,C=XK"
    assert imported.signer_subject == order.signer_subject
    assert order.signed_at is not None
    assert abs(order.signed_at - datetime.now(UTC)) < timedelta(minutes=2)
    assert imported.attachment_sha256 is None
    certificate = await conn.fetchval(
        "SELECT signer_certificate FROM ruaj.disclosure_order WHERE order_id = $1",
        imported.order_id,
    )
    assert certificate == pki.judge.certificate.public_bytes(serialization.Encoding.DER)
    entries = await kinds_since(conn, since)
    assert [kind for kind, _ in entries] == ["order.received", "order.verified"]
    assert entries[1][1]["signer_certificate_sha256"] == hashlib.sha256(certificate).hexdigest()


async def test_an_smime_signer_is_accepted_and_the_eku_list_is_configurable(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki
) -> None:
    await register(conn, pki)
    data, signature = signed(pki, pki.smime_judge, reference="PPS-2026-0001")
    imported = await intake.import_order(officer, DisclosureSettings(), data, signature)
    assert imported.signer_subject.startswith("CN=Judge Besnik Gashi")

    only_document_signing = DisclosureSettings(order_signer_ekus=("1.3.6.1.5.5.7.3.36",))
    data, signature = signed(pki, pki.smime_judge, reference="PPS-2026-0002")
    with pytest.raises(errors.OrderRefused) as refused:
        await intake.import_order(officer, only_document_signing, data, signature)
    assert refused.value.reason == "key_usage"
    assert "(1.3.6.1.5.5.7.3.4) allows none of 1.3.6.1.5.5.7.3.36" in str(refused.value)


async def test_the_policy_comes_from_the_settings(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki
) -> None:
    await register(conn, pki, name=PROSECUTOR, kind="prosecutor")
    subscriber = {
        "task_id": "s1", "type": "subscriber_data",
        "identifier": {"kind": "msisdn", "value": "38344123456"},
        "from": "2026-08-01T00:00:00Z", "to": "2026-11-01T00:00:00Z",
    }  # fmt: skip
    data, signature = signed(pki, authority=PROSECUTOR, kind="prosecutor", tasks=[subscriber])
    allowed = await intake.import_order(officer, DisclosureSettings(), data, signature)
    assert (await orders.get(conn, allowed.order_id)).state == "verified"  # type: ignore[union-attr]

    widened = DisclosureSettings(
        policy_prosecutor_tasks=frozenset({"subscriber_data", "traffic_data"})
    )
    data, signature = signed(
        pki, authority=PROSECUTOR, kind="prosecutor", tasks=[traffic_task()], reference="P-2"
    )
    imported = await intake.import_order(officer, widened, data, signature)
    assert (await orders.get(conn, imported.order_id)).state == "verified"  # type: ignore[union-attr]

    narrowed = DisclosureSettings(policy_court_tasks=frozenset({"subscriber_data"}))
    await register(conn, pki)
    data, signature = signed(pki, reference="C-3")
    with pytest.raises(errors.OrderRefused) as refused:
        await intake.import_order(officer, narrowed, data, signature)
    assert refused.value.reason == "policy"
    assert "a court may not order ip_attribution, traffic_data" in str(refused.value)


async def test_the_same_order_imported_twice_is_refused_as_a_duplicate(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki, settings: DisclosureSettings
) -> None:
    await register(conn, pki)
    data, signature = signed(pki)
    first = await intake.import_order(officer, settings, data, signature)
    since = await audit.size(conn)

    with pytest.raises(errors.OrderRefused) as refused:
        await intake.import_order(officer, settings, data, signature, attachment=b"%PDF-1.7")

    assert refused.value.reason == "duplicate"
    assert f"already registered, as order {first.order_id}, verified" in str(refused.value)
    assert [(o.order_id, o.state) for o in await orders.list_orders(conn)] == [
        (first.order_id, "verified")
    ]
    assert await orders.attachment(conn, first.order_id) is None
    entries = await kinds_since(conn, since)
    assert [(k, d["reason_code"], d["order_id"]) for k, d in entries] == [
        ("order.refused", "duplicate", first.order_id)
    ]


async def test_a_rejected_order_cannot_be_imported_again(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki, settings: DisclosureSettings
) -> None:
    await register(conn, pki)
    data, signature = signed(pki, pki.revoked_judge)
    with pytest.raises(errors.OrderRefused):
        await intake.import_order(officer, settings, data, signature)
    with pytest.raises(errors.OrderRefused) as again:
        await intake.import_order(officer, settings, data, signature)
    assert again.value.reason == "duplicate"
    assert ", rejected (revoked);" in str(again.value)
    assert len(await orders.list_orders(conn)) == 1


async def test_the_accompanying_document_is_kept_and_its_hash_audited(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki, settings: DisclosureSettings
) -> None:
    await register(conn, pki)
    pdf = b"%PDF-1.7\n% the court's reasoned decision\n%%EOF\n"
    data, signature = signed(pki)
    since = await audit.size(conn)

    imported = await intake.import_order(officer, settings, data, signature, attachment=pdf)

    assert imported.attachment_sha256 == hashlib.sha256(pdf).digest()
    kept = await orders.attachment(conn, imported.order_id)
    assert kept is not None
    assert (kept.sha256, kept.size, kept.media_type) == (
        hashlib.sha256(pdf).digest(),
        len(pdf),
        "application/pdf",
    )
    assert await orders.attachment_content(officer, imported.order_id) == pdf
    entries = await kinds_since(conn, since)
    assert [kind for kind, _ in entries] == ["order.received", "order.document", "order.verified"]
    assert entries[1][1]["document_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert entries[1][1]["document_bytes"] == len(pdf)


async def test_a_refused_order_keeps_its_document_too(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki, settings: DisclosureSettings
) -> None:
    await register(conn, pki)
    data, signature = signed(pki, pki.stranger)
    with pytest.raises(errors.OrderRefused):
        await intake.import_order(officer, settings, data, signature, attachment=b"scan")
    [order] = await orders.list_orders(conn)
    kept = await orders.attachment(conn, order.order_id)
    assert kept is not None and kept.media_type == "application/octet-stream"
    assert order.state == "rejected"


async def test_a_document_too_large_is_refused_before_anything_is_recorded(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki
) -> None:
    await register(conn, pki)
    data, signature = signed(pki)
    small = DisclosureSettings(order_document_max_bytes=1024)
    with pytest.raises(errors.InvalidInput, match="RUAJ_ORDER_DOCUMENT_MAX_BYTES"):
        await intake.import_order(officer, small, data, signature, attachment=b"x" * 1025)
    assert await orders.list_orders(conn) == []


async def test_the_database_refuses_an_attachment_by_another_officer(
    conn: db.Connection, database_url: str, pki: test_pki.Pki
) -> None:
    await register(conn, pki)
    async with officer_connections(conn, database_url, count=2) as (importer, other):
        received = await orders.receive(importer, signed(pki)[0], b"sig", well_formed=True)
        with pytest.raises(store_errors.InsufficientPrivilege):
            await orders.attach(other, received.order_id, b"%PDF-", "application/pdf")
    assert await orders.attachment(conn, received.order_id) is None
