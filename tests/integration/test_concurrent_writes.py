"""Two batches written at once on two connections (ingest.consumer, store.writer `before_claim`):
the later one's rows go in while the earlier one commits, its offsets only after; a batch
whose rows were written before is refused whole; a later batch holding the row an earlier one
waits for gives way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ingest import codec, consumer
from store import db, partitions, wire, writer
from tests.audit_support import login_role

_GROUP = "concurrent"
_TOPIC = "ruaj.imei"
_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _row(event_id: uuid.UUID, seconds: int) -> tuple[object, ...]:
    at = wire.timestamp(_AT + timedelta(seconds=seconds))
    return (event_id, at, "356938035643809", "221020000000001", "38344000001", "cell-7",
            "ATTACH", "mme-1")  # fmt: skip


def _batch(first: int, rows: list[tuple[object, ...]]) -> writer.Batch:
    items = []
    for n, row in enumerate(rows):
        at = row[1]
        assert isinstance(at, int)
        items.append(writer.Item(_TOPIC, 0, first + n, "imei_observation", row, at))
    return writer.Batch.of(items)


async def _nothing(_: object) -> None:
    return None


async def _no_wait() -> None:
    return None


@pytest.fixture
async def ingest_conns(
    conn: db.Connection, database_url: str
) -> AsyncIterator[list[db.Connection]]:
    """Two connections as the ingest role, with the wire codecs, the day's partition made."""
    await partitions.ensure(conn, "imei_observation", _AT.date())
    async with login_role(conn, database_url, "ruaj_ingest") as url:
        conns = [await db.connect(url) for _ in range(2)]
        try:
            for c in conns:
                await wire.use(c)
            yield conns
        finally:
            for c in conns:
                await c.close()


async def _stored(conn: db.Connection) -> tuple[int, int | None]:
    rows = await conn.fetchval("SELECT count(*) FROM ruaj.imei_observation")
    offset = await conn.fetchval(
        "SELECT next_offset FROM ruaj.ingest_offset WHERE consumer_group = $1", _GROUP
    )
    return rows, offset


async def test_the_later_batch_s_rows_go_in_while_the_earlier_commits_its_offsets_after(
    conn: db.Connection, ingest_conns: list[db.Connection]
) -> None:
    first, second = ingest_conns
    earlier = _batch(0, [_row(uuid.uuid4(), n) for n in range(10)])
    later = _batch(10, [_row(uuid.uuid4(), 10 + n) for n in range(10)])
    release = asyncio.Event()
    rows_in = asyncio.Event()

    async def hold(_: object) -> None:  # the earlier batch waits before its commit
        await release.wait()

    async def before_claim() -> None:  # the later one's rows are in, its offsets not claimed yet
        rows_in.set()
        await release.wait()

    a = asyncio.create_task(writer.write(first, _GROUP, earlier, codec.COLUMNS, hold))
    b = asyncio.create_task(writer.write(second, _GROUP, later, codec.COLUMNS, _nothing,
                                         before_claim=before_claim))  # fmt: skip
    await asyncio.wait_for(rows_in.wait(), 10)
    assert await _stored(conn) == (0, None)  # neither committed
    release.set()
    outcomes = await asyncio.gather(a, b)
    assert [o.counts[(_TOPIC, writer.STORED)] for o in outcomes] == [10, 10]
    assert outcomes[1].gaps == {}  # the later one claimed after the earlier one's commit
    assert await _stored(conn) == (20, 20)


async def test_a_batch_whose_rows_were_written_before_is_refused_whole(
    conn: db.Connection, ingest_conns: list[db.Connection]
) -> None:
    first, second = ingest_conns
    rows = [_row(uuid.uuid4(), n) for n in range(15)]
    await writer.write(first, _GROUP, _batch(0, rows[:10]), codec.COLUMNS, _nothing)
    overlapping = _batch(5, rows[5:])  # another worker's view: offsets 5-14
    with pytest.raises(writer.Overlapped):
        await writer.write(second, _GROUP, overlapping, codec.COLUMNS, _nothing,
                           before_claim=_no_wait)  # fmt: skip
    assert await _stored(conn) == (10, 10)  # nothing of it written
    outcome = await writer.write(second, _GROUP, overlapping, codec.COLUMNS, _nothing)
    assert outcome.skipped == 5
    assert await _stored(conn) == (15, 15)


async def test_a_later_batch_holding_a_row_the_earlier_waits_for_gives_way(
    conn: db.Connection, ingest_conns: list[db.Connection]
) -> None:
    # The same event re-sent at the end of one batch and the start of the next; the next one's
    # rows go in first, and the earlier batch's COPY waits on its uncommitted row while it
    # waits for the earlier one's commit. It must see that and roll back.
    first, second = ingest_conns
    resent = _row(uuid.uuid4(), 9)
    earlier_rows = [*[_row(uuid.uuid4(), n) for n in range(9)], resent]
    later_rows = [resent, *[_row(uuid.uuid4(), 10 + n) for n in range(9)]]
    earlier = consumer._Flight(None, 0, None, server_pid=first.get_server_pid())
    later = consumer._Flight(None, 1, earlier)

    async def later_rows_in() -> None:
        later_in.set()
        await consumer.Worker._rows_in(later, second)

    later_in = asyncio.Event()
    b = asyncio.create_task(writer.write(second, _GROUP, _batch(10, later_rows), codec.COLUMNS,
                                         _nothing, before_claim=later_rows_in))  # fmt: skip
    await asyncio.wait_for(later_in.wait(), 10)
    a = asyncio.create_task(writer.write(first, _GROUP, _batch(0, earlier_rows), codec.COLUMNS,
                                         _nothing))  # fmt: skip
    with pytest.raises(consumer._PreviousFailed):
        await asyncio.wait_for(b, 10)  # gave way: rolled back
    outcome = await asyncio.wait_for(a, 10)
    earlier.committed.set()
    assert outcome.counts[(_TOPIC, writer.STORED)] == 10
    again = await writer.write(second, _GROUP, _batch(10, later_rows), codec.COLUMNS, _nothing)
    assert again.counts[(_TOPIC, writer.STORED)] == 9
    assert again.counts[(_TOPIC, writer.DUPLICATE)] == 1
    assert await _stored(conn) == (19, 20)
