"""Registering authorities and their CRLs (disclosure/authorities.py) in a real database:
checked before storing, audited, administrators only; a newer CRL takes effect at once."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography import x509

from disclosure import authorities, errors, intake
from disclosure.settings import DisclosureSettings
from store import audit, db, orders
from tests import pki as test_pki
from tests.intake_support import kinds_since, register, signed
from tests.orders_support import COURT
from tests.release_support import officer_connections

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki() -> test_pki.Pki:
    return test_pki.Pki()


@pytest.fixture
async def officer(conn: db.Connection, database_url: str) -> AsyncIterator[db.Connection]:
    async with officer_connections(conn, database_url, count=1) as connections:
        yield connections[0]


async def test_add_stores_the_checked_material_and_audits_it(
    conn: db.Connection, pki: test_pki.Pki
) -> None:
    since = await audit.size(conn)
    given = pki.crls()
    summary = await register(conn, pki, crls=given)

    assert (summary.name, summary.kind) == (COURT, "court")
    assert summary.anchors == ("CN=Judicial Root CA,O=Kosovo Judicial Council,C=XK",)
    assert summary.issuing_cas == ("CN=Judicial Issuing CA 1,O=Kosovo Judicial Council,C=XK",)
    assert [(c.issuer.split(",")[0], c.revoked) for c in summary.crls] == [
        ("CN=Judicial Root CA", 0),
        ("CN=Judicial Issuing CA 1", 1),
    ]
    stored = await orders.authority(conn, COURT)
    assert stored is not None
    assert stored.trust_anchor == pki.anchor_pem
    assert stored.crl == b"".join(given)
    crls = [x509.load_der_x509_crl(der) for der in given]
    assert stored.crl_next_update == min(c.next_update_utc for c in crls)  # type: ignore[type-var]
    [(kind, details)] = await kinds_since(conn, since)
    assert kind == "authority.added"
    assert details["trust_anchor_sha256"] == hashlib.sha256(pki.anchor_pem).hexdigest()
    assert details["crl_sha256"] == hashlib.sha256(stored.crl).hexdigest()


@pytest.mark.parametrize(
    ("anchor", "crls", "reason"),
    [
        ("anchor", lambda p: [test_pki.crl(p.stranger_ca, now=p.now)], "crl_issuer"),
        ("anchor", test_pki.Pki.stale_crls, "stale_crl"),
        ("issuing", lambda p: [], "trust_anchor"),
        ("judge", lambda p: [], "trust_anchor"),
    ],
)
async def test_unusable_material_is_refused_and_nothing_stored(
    conn: db.Connection, pki: test_pki.Pki, anchor: str, crls: object, reason: str
) -> None:
    assert callable(crls)
    pem = {"anchor": pki.anchor_pem, "issuing": pki.issuing.pem, "judge": pki.judge.pem}[anchor]
    since = await audit.size(conn)
    with pytest.raises(errors.InvalidTrustMaterial) as refused:
        await authorities.add(conn, name=COURT, kind="court", trust_anchor=pem, crls=crls(pki))
    assert refused.value.reason == reason
    assert await orders.list_authorities(conn) == []
    assert await audit.size(conn) == since


async def test_only_an_administrator_registers_and_names_are_unique(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki
) -> None:
    with pytest.raises(errors.OrderRefused) as refused:
        await authorities.add(officer, name=COURT, kind="court", trust_anchor=pki.anchor_pem)
    assert refused.value.reason == "not_admin"
    assert await orders.list_authorities(conn) == []
    await register(conn, pki)
    with pytest.raises(errors.OrderRefused) as again:
        await register(conn, pki, crls=[])
    assert again.value.reason == "authority_exists"


async def test_a_newer_crl_replaces_its_issuers_and_takes_effect(
    conn: db.Connection, officer: db.Connection, pki: test_pki.Pki
) -> None:
    await register(conn, pki, crls=[pki.crls(this_update=pki.now - timedelta(days=1))[0]])
    settings = DisclosureSettings()
    data, signature = signed(pki, reference="BEFORE")
    with pytest.raises(errors.OrderRefused) as refused:
        await intake.import_order(officer, settings, data, signature)
    assert refused.value.reason == "missing_crl"

    revoking = test_pki.crl(pki.issuing, now=pki.now, revoked=[pki.judge, pki.revoked_judge])
    since = await audit.size(conn)
    summary = await authorities.update_crl(conn, COURT, [revoking])
    assert [c.revoked for c in summary.crls] == [0, 2], "the root's CRL is kept"
    [(kind, details)] = await kinds_since(conn, since)
    assert kind == "authority.crl"
    stored = await orders.authority(conn, COURT)
    assert stored is not None and stored.crl is not None
    assert stored.crl.endswith(revoking)
    assert details["crl_sha256"] == hashlib.sha256(stored.crl).hexdigest()
    data, signature = signed(pki, reference="AFTER")
    with pytest.raises(errors.OrderRefused) as revoked:
        await intake.import_order(officer, settings, data, signature)
    assert revoked.value.reason == "revoked"

    older = test_pki.crl(pki.issuing, now=pki.now, this_update=pki.now - timedelta(days=2))
    with pytest.raises(errors.InvalidTrustMaterial) as rolled_back:
        await authorities.update_crl(conn, COURT, [older])
    assert rolled_back.value.reason == "crl_older"
    with pytest.raises(errors.OrderRefused) as unknown:
        await authorities.update_crl(conn, "Nobody", [revoking])
    assert unknown.value.reason == "unknown_authority"
