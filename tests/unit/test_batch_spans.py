"""A write batch folds its ip_session rows into one port-block span per session as they come
(store.writer.Batch, store.registry.SessionSpans), as the SQL function would fold them."""

from __future__ import annotations

import random

from store import writer

_TOPIC = "ruaj.ipsession"
_MIN = 60_000_000  # a minute in wire microseconds


def _row(
    event: str, session: str, status: str, at: int, *, start: int, end: int | None = None,
    address: bytes = b"ip-a", first: int = 1024, last: int = 1279,
) -> tuple[object, ...]:  # fmt: skip
    # ip_session's columns (ingest.codec.COLUMNS): the fold reads the session, times, block.
    subscriber = ("38344000001", "221020000000001", "356938035643809", "internet", b"priv")
    return (event, session, status, at, start, end, *subscriber, address, first, last, "cell-1",
            0, 0)  # fmt: skip


def _item(offset: int, row: tuple[object, ...]) -> writer.Item:
    at = row[3]
    assert isinstance(at, int)
    return writer.Item(_TOPIC, 0 if row[1] == "s1" else 1, offset, "ip_session", row, at)


def _records() -> list[tuple[object, ...]]:
    # s1: START on block A at minute 0, INTERIM naming block B, STOP at 50. s2: open.
    return [
        _row("e1", "s1", "START", 0, start=0),
        _row("e2", "s1", "INTERIM", 30 * _MIN, start=0, address=b"ip-b", first=2048, last=2303),
        _row(
            "e3",
            "s1",
            "STOP",
            50 * _MIN,
            start=0,
            end=50 * _MIN,
            address=b"ip-b",
            first=2048,
            last=2303,
        ),
        _row("e4", "s2", "START", 10 * _MIN, start=10 * _MIN),
        _row("e5", "s2", "INTERIM", 40 * _MIN, start=10 * _MIN),
    ]


def test_each_session_becomes_one_span_of_its_earliest_block_latest_end_and_time() -> None:
    records = _records()
    rng = random.Random(7)
    for _ in range(20):  # in any order, a record re-sent inside the batch
        shuffled = [*rng.sample(records, len(records)), rng.choice(records)]
        batch = writer.Batch.of(_item(n, row) for n, row in enumerate(shuffled))
        spans = sorted(zip(*batch.spans.columns(), strict=True))
        assert spans == [
            ("s1", 0, b"ip-a", 1024, 1279, 50 * _MIN, 50 * _MIN),
            ("s2", 10 * _MIN, b"ip-a", 1024, 1279, None, 40 * _MIN),
        ]
        assert len(batch.rows["ip_session"]) == len(records)  # the re-sent one counted once


def test_a_forgotten_partition_takes_its_sessions_spans_with_it() -> None:
    batch = writer.Batch.of(_item(n, row) for n, row in enumerate(_records()))
    assert len(batch.spans) == 2
    batch.forget({(_TOPIC, 0)})  # s1's partition
    assert [column[0] for column in batch.spans.columns()][:2] == ["s2", 10 * _MIN]
    assert len(batch.spans) == 1
