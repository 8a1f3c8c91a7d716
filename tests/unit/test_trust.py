"""An authority's trust material (disclosure/trust.py): anchors, issuing CAs, CRLs (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509

from disclosure import errors, trust
from tests import pki as test_pki


@pytest.fixture(scope="module")
def pki() -> test_pki.Pki:
    return test_pki.Pki()


def _crls(*der: bytes) -> list[x509.CertificateRevocationList]:
    return [x509.load_der_x509_crl(d) for d in der]


def _refusal(call: Callable[[], object]) -> errors.InvalidTrustMaterial:
    with pytest.raises(errors.InvalidTrustMaterial) as refused:
        call()
    return refused.value


def test_the_root_is_the_anchor_and_the_issuing_ca_pins(pki: test_pki.Pki) -> None:
    anchors = trust.load_anchors(pki.issuing.pem + pki.root.pem + pki.root.pem)
    assert anchors.anchors == (pki.root.certificate,)
    assert anchors.intermediates == (pki.issuing.certificate,)


@pytest.mark.parametrize(
    ("pem", "words"),
    [
        (lambda p: p.issuing.pem, "no self-signed (root) CA certificate"),
        (lambda p: p.root.pem + p.judge.pem, "is not a CA certificate"),
        (lambda p: p.root.pem + p.stranger_ca.pem + test_pki.ca(
            "Orphan", now=p.now, issuer=test_pki.ca("Unknown Root", now=p.now)).pem,
         "neither self-signed nor issued by another certificate of the file"),
        (lambda p: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
         "holds no PEM certificate"),
        (lambda p: b"not a PEM file", "holds no PEM certificate"),
    ],
)  # fmt: skip
def test_unusable_trust_anchor_files_are_refused(
    pki: test_pki.Pki, pem: Callable[[test_pki.Pki], bytes], words: str
) -> None:
    refused = _refusal(lambda: trust.load_anchors(pem(pki)))
    assert refused.reason == "trust_anchor"
    assert words in refused.explanation


def test_an_anchor_not_valid_now_is_refused(pki: test_pki.Pki) -> None:
    later = pki.now + timedelta(days=4000)
    refused = _refusal(lambda: trust.load_anchors(pki.anchor_pem, now=later))
    assert refused.reason == "trust_anchor"
    assert "is not valid now" in refused.explanation


def test_crl_files_in_der_concatenated_der_and_pem(pki: test_pki.Pki) -> None:
    root_crl, issuing_crl = pki.crls()
    issuers = [c.issuer for c in _crls(root_crl, issuing_crl)]
    assert [c.issuer for c in trust.parse_crls(root_crl)] == issuers[:1]
    assert [c.issuer for c in trust.parse_crls(root_crl + issuing_crl)] == issuers
    assert [c.issuer for c in trust.parse_crls(test_pki.pem_crls(root_crl, issuing_crl))] == issuers
    stored = trust.encode_crls(_crls(root_crl, issuing_crl))
    assert stored == root_crl + issuing_crl
    bad_pem = b"-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----"
    for bad in (b"", b"\x30\x03\x02\x01", bad_pem):
        with pytest.raises(errors.InvalidTrustMaterial) as refused:
            trust.parse_crls(bad)
        assert refused.value.reason == "crl_invalid"


def test_crls_must_be_issued_by_the_file_once_each(pki: test_pki.Pki) -> None:
    anchors = trust.load_anchors(pki.anchor_pem)
    trust.check_issuers(anchors, _crls(*pki.crls()))
    foreign = _crls(test_pki.crl(pki.stranger_ca, now=pki.now))
    refused = _refusal(lambda: trust.check_issuers(anchors, foreign))
    assert (refused.reason, "CN=Somebody Else's CA" in refused.explanation) == ("crl_issuer", True)
    forged = _crls(test_pki.crl(test_pki.Identity(
        certificate=pki.issuing.certificate, key=pki.stranger_ca.key), now=pki.now))  # fmt: skip
    assert _refusal(lambda: trust.check_issuers(anchors, forged)).reason == "crl_issuer"
    twice = _crls(pki.crls()[1], pki.crls()[1])
    assert "two CRLs of" in _refusal(lambda: trust.check_issuers(anchors, twice)).explanation


def test_crls_must_be_current(pki: test_pki.Pki) -> None:
    trust.check_current(_crls(*pki.crls()))
    stale = _refusal(lambda: trust.check_current(_crls(*pki.stale_crls())))
    assert (stale.reason, "nextUpdate" in stale.explanation) == ("stale_crl", True)
    future = _crls(test_pki.crl(pki.root, now=pki.now, this_update=pki.now + timedelta(hours=1)))
    assert "issued in the future" in _refusal(lambda: trust.check_current(future)).explanation


def test_a_crl_set_keeps_the_newest_issue_and_the_earliest_next_update(pki: test_pki.Pki) -> None:
    early = pki.now + timedelta(days=1)
    root_crl = test_pki.crl(pki.root, now=pki.now, next_update=early)
    issuing_crl = test_pki.crl(pki.issuing, now=pki.now, this_update=pki.now)
    stored = trust.crl_set(_crls(root_crl, issuing_crl))
    assert stored.next_update == early.replace(microsecond=0)
    assert stored.this_update == pki.now.replace(microsecond=0)


def test_merging_replaces_by_issuer_and_never_goes_back(pki: test_pki.Pki) -> None:
    old_root, old_issuing = _crls(*pki.crls(this_update=pki.now - timedelta(days=2)))
    (newer_issuing,) = _crls(
        test_pki.crl(pki.issuing, now=pki.now, revoked=[pki.judge], this_update=pki.now)
    )
    merged = trust.merge([old_root, old_issuing], [newer_issuing])
    assert merged == [old_root, newer_issuing]
    three_days_ago = pki.now - timedelta(days=3)
    (older,) = _crls(test_pki.crl(pki.issuing, now=pki.now, this_update=three_days_ago))
    refused = _refusal(lambda: trust.merge([old_root, old_issuing], [older]))
    assert refused.reason == "crl_older"
