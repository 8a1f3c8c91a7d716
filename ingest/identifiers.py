"""Syntax of the identifiers of DESIGN §2: MSISDN, IMSI, IMEI (Luhn), ICCID, cells, IPs, UUIDs.

Plain precompiled regular expressions and small functions: they run for every field of every
event (see `ingest.codec`). Digits are ASCII `[0-9]` only — `\\d` and `str.isdigit()` also accept
other scripts' digits, which no network element sends and no index should hold.
"""

from __future__ import annotations

import re
import socket

# E.164 without '+': country code first, so no leading 0; 7 to 15 digits.
MSISDN = re.compile(r"[1-9][0-9]{6,14}").fullmatch
# A number as dialled: short codes and emergency numbers (112) are real called numbers.
DIALLED = re.compile(r"[0-9]{1,15}").fullmatch
# SMS originator: digits, or an alphanumeric sender id (3GPP TS 23.040: up to 11 characters).
SENDER = re.compile(r"[0-9]{1,15}|[A-Za-z0-9 ]{1,11}").fullmatch
IMSI = re.compile(r"[0-9]{15}").fullmatch
# ICCID (ITU-T E.118): "89" (telecom) + country and issuer + account, 19 or 20 digits.
ICCID = re.compile(r"89[0-9]{17,18}").fullmatch
UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
).fullmatch
# MCC-MNC-LAC/TAC-CI in decimal without leading zeros (one cell, one spelling: tower dumps
# match on the text). The MNC keeps its 2 or 3 digits: 02 and 002 are different networks.
_CELL = re.compile(r"[0-9]{3}-[0-9]{2,3}-(0|[1-9][0-9]{0,7})-(0|[1-9][0-9]{0,10})").fullmatch
MAX_AREA_CODE = (1 << 24) - 1  # LAC is 16 bits, the 5G TAC 24 bits
MAX_CELL_ID = (1 << 36) - 1  # the 5G NR cell identity is 36 bits (LTE ECI 28, UMTS 28, GSM 16)

_DOUBLED = str.maketrans("0123456789", "0246813579")  # digit sum of 2 * d


def luhn_digit(body: str) -> int:
    """The Luhn check digit to append to the ASCII digits `body` (ISO/IEC 7812-1)."""
    reverse = body[::-1]
    total = sum(map(int, reverse[0::2].translate(_DOUBLED))) + sum(map(int, reverse[1::2]))
    return -total % 10


def _digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def imei(value: str) -> str | None:
    """The IMEI (15 digits, valid Luhn) that `value` denotes, or None if it is not one.

    An IMEISV (16 digits: the 14-digit TAC + serial number, then a 2-digit software version) is
    accepted and converted to its IMEI: its first 14 digits and their computed check digit.
    """
    if _digits(value, 15):
        return value if luhn_digit(value[:14]) == ord(value[14]) - 48 else None
    if _digits(value, 16):
        body = value[:14]
        return body + chr(48 + luhn_digit(body))
    return None


def cell(value: str) -> bool:
    """Whether `value` is a cell global identity `MCC-MNC-LAC/TAC-CI` within the 3GPP ranges."""
    match = _CELL(value)
    return match is not None and int(match[1]) <= MAX_AREA_CODE and int(match[2]) <= MAX_CELL_ID


def iccid(value: str) -> bool:
    """Whether `value` is an ICCID: 19-20 digits starting 89.

    The check digit is not verified: 20-digit ICCIDs in the field often carry no valid Luhn
    digit (issuers differ), and refusing a registry change would leave the registry wrong.
    """
    return ICCID(value) is not None


def ip_packed(value: str) -> bytes | None:
    """The packed address (4 or 16 bytes) of IPv4 or IPv6 text, or None if it is not one.

    Strict forms only (`inet_pton`): dotted quads without leading zeros, IPv6 without a zone.
    """
    if len(value) > 45:
        return None
    try:
        if ":" in value:
            return socket.inet_pton(socket.AF_INET6, value)
        return socket.inet_pton(socket.AF_INET, value)
    except (OSError, ValueError):  # ValueError: NUL or non-ASCII characters
        return None
