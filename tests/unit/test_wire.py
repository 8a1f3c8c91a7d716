"""The wire forms of the ingest path (store.wire): timestamps and addresses."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from store import wire

US = timedelta(microseconds=1)


@pytest.mark.parametrize("instant", [
    datetime(2000, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 12, 2, 3, 4, 5, 678_901, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
])  # fmt: skip
def test_a_timestamp_counts_microseconds_from_2000_and_comes_back(instant: datetime) -> None:
    value = wire.timestamp(instant)
    assert value == (instant - datetime(2000, 1, 1, tzinfo=UTC)) // US
    assert wire.instant(value) == instant
    assert wire.instant(value).utcoffset() == timedelta(0)
    assert wire.day(value) == instant.date()


def test_an_avro_time_becomes_the_same_instant() -> None:
    unix_us = 1_764_644_645_678_901  # an Avro timestamp-micros: from 1970
    expected = datetime(1970, 1, 1, tzinfo=UTC) + unix_us * US
    assert wire.instant(unix_us - wire.UNIX_TO_PG_US) == expected


def test_other_time_zones_are_the_same_instant_and_naive_times_are_refused() -> None:
    east = datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert wire.timestamp(east) == wire.timestamp(datetime(2025, 12, 31, 23, 30, tzinfo=UTC))
    assert wire.day(wire.timestamp(east)) == date(2025, 12, 31)  # the UTC day
    with pytest.raises(ValueError, match="naive"):
        wire.timestamp(datetime(2026, 1, 1))


def test_the_day_of_the_last_and_first_microsecond_of_a_day() -> None:
    midnight = wire.timestamp(datetime(2026, 3, 1, tzinfo=UTC))
    assert wire.day(midnight) == date(2026, 3, 1)
    assert wire.day(midnight - 1) == date(2026, 2, 28)
    assert wire.day(-1) == date(1999, 12, 31)


def test_addresses_in_postgresql_binary_inet_form() -> None:
    v4 = ipaddress.IPv4Address("100.64.12.34")
    v6 = ipaddress.IPv6Address("2001:db8::7")
    assert wire.address(v4.packed) == bytes([2, 32, 0, 4]) + v4.packed
    assert wire.address(v6.packed) == bytes([3, 128, 0, 16]) + v6.packed
    assert wire.ip(wire.address(v4.packed)) == v4
    assert wire.ip(wire.address(v6.packed)) == v6
    with pytest.raises(ValueError, match="4 or 16"):
        wire.address(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="binary inet"):
        wire.ip(b"\x02\x20\x00\x04\x01")  # truncated
