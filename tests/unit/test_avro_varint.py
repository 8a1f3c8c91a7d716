"""The long varint fast path of the compiled readers (ingest.avro_reader._long8)."""

from __future__ import annotations

import random

import pytest

from ingest import avro_reader
from tests.support import varint


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    avro_reader._LONG8_HIGH.clear()


def test_every_length_reads_as_the_loop_does_before_and_after_its_high_half_is_known() -> None:
    rng = random.Random(64)
    now = 2 * 1_764_633_600_000_000  # a zig-zag timestamp-micros of 2025
    values = [rng.randrange(1 << 7 * n - 7, 1 << min(7 * n, 64))  # varints of n bytes, ≤ 64 bits
              for n in range(1, 11) for _ in range(50)]  # fmt: skip
    values += [now + rng.randrange(1 << 31) for _ in range(500)]  # 8-byte, shared high halves
    values += [(1 << 49) - 1, 1 << 49, (1 << 56) - 1, 1 << 56, (1 << 64) - 1]
    for value in values * 2:  # the second time round, 8-byte high halves are known
        data = b"\x07" + varint(value) + b"\x01\x02\x03"
        assert avro_reader._long8(data, 1) == avro_reader._varint(data, 1) == (
            value, 1 + len(varint(value))
        )  # fmt: skip
    assert avro_reader._LONG8_HIGH  # the fast path was taken


def test_a_known_high_half_after_a_shorter_varint_is_not_taken_for_its_end() -> None:
    value = 2 * 1_764_633_600_123_456
    eight = varint(value)
    assert len(eight) == 8
    avro_reader._long8(eight, 0)  # learns eight[4:]
    # A 2-byte varint followed by two bytes and the same four: the loop's answer, not 8 bytes.
    data = varint(300) + b"\x85\x86" + eight[4:]
    assert avro_reader._long8(data, 0) == (300, 2)
    # A truncated varint whose high half is known is still malformed (IndexError → malformed).
    with pytest.raises(IndexError):
        avro_reader._long8(eight[:7], 0)


def test_the_cache_is_bounded() -> None:
    base = 2 * 1_764_633_600_000_000
    for step in range(avro_reader._LONG8_KEPT + 10):
        data = varint(base + (step << 28))
        assert avro_reader._long8(data, 0) == avro_reader._varint(data, 0)
    assert len(avro_reader._LONG8_HIGH) <= avro_reader._LONG8_KEPT
