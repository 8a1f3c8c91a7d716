"""Identifier syntax: Luhn, IMEISV, cells, IP text."""

from __future__ import annotations

import pytest

from ingest import identifiers


@pytest.mark.parametrize(
    ("body", "digit"),
    [("49015420323751", 8), ("35693803564380", 9), ("00000000000000", 0), ("7992739871", 3)],
)
def test_luhn_digit(body: str, digit: int) -> None:
    assert identifiers.luhn_digit(body) == digit


def test_imei_accepts_valid_luhn_only() -> None:
    assert identifiers.imei("490154203237518") == "490154203237518"
    for digit in "012345679":
        assert identifiers.imei("49015420323751" + digit) is None


def test_imeisv_becomes_the_imei_of_its_first_14_digits() -> None:
    # The last two digits are the software version: any value, same IMEI.
    assert identifiers.imei("4901542032375101") == "490154203237518"
    assert identifiers.imei("4901542032375199") == "490154203237518"
    assert identifiers.imei("35693803564380" + "42") == "356938035643809"


@pytest.mark.parametrize("value", ["", "4901542032375", "49015420323751801", "49015420323751٨",
                                   "4901542032375 8", "490154203237518\x00"])  # fmt: skip
def test_not_imeis(value: str) -> None:
    assert identifiers.imei(value) is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("221-02-1234-56789", True),
        ("221-002-1234-56789", True),
        ("001-01-0-0", True),
        ("221-02-16777215-68719476735", True),
        ("221-02-16777216-1", False),
        ("221-02-1-68719476736", False),
        ("221-02-01-1", False),
        ("221-02-1-01", False),
        ("22-02-1-1", False),
        ("221-0002-1-1", False),
        ("221-02-1A-1", False),
        ("221-02-1-1-", False),
    ],
)
def test_cell(value: str, valid: bool) -> None:
    assert identifiers.cell(value) is valid


@pytest.mark.parametrize(
    ("value", "packed"),
    [
        ("203.0.113.7", bytes([203, 0, 113, 7])),
        ("0.0.0.0", bytes(4)),
        ("::1", bytes(15) + b"\x01"),
        ("::ffff:1.2.3.4", bytes(10) + b"\xff\xff\x01\x02\x03\x04"),
    ],
)
def test_ip_packed(value: str, packed: bytes) -> None:
    assert identifiers.ip_packed(value) == packed


ARABIC_INDIC_QUAD = "\u0661.\u0662.\u0663.\u0664"


@pytest.mark.parametrize("value", ["", "1.2.3", "01.2.3.4", "1.2.3.256", " 1.2.3.4", "1.2.3.4/32",
                                   "fe80::1%eth0", "::g", "1.2.3.4\x00", ARABIC_INDIC_QUAD,
                                   "a" * 46])  # fmt: skip
def test_not_ips(value: str) -> None:
    assert identifiers.ip_packed(value) is None


def test_iccid_prefix_and_length() -> None:
    assert identifiers.iccid("8938302123456789012")
    assert identifiers.iccid("89383021234567890123")
    assert not identifiers.iccid("893830212345678901")
    assert not identifiers.iccid("893830212345678901234")
    assert not identifiers.iccid("9938302123456789012")
