"""A retention drop while `ruaj ingest` writes into the same tables: ingestion goes on, nothing
is lost, and the longest a batch took while the drop ran is recorded (printed, not asserted:
timing belongs to `make bench`, bench/retention.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import simulator
from ruaj import stack
from store import audit, db, partitions, writer
from tests.ingest_support import (
    EVENT_TABLES,
    Truth,
    counts,
    end_offsets,
    ingest_settings,
    running,
    stored_offsets,
)
from tests.support import eventually, run_ruaj

pytestmark = pytest.mark.integration


async def _old_rows(conn: db.Connection, day: datetime, count: int) -> None:
    """`count` CDRs on a day long past every window, as an older ingest stored them."""
    await partitions.ensure(conn, "cdr", day.date())
    await conn.execute(
        """
        INSERT INTO ruaj.cdr
        SELECT gen_random_uuid(), $1::timestamptz + g * interval '0.4 seconds',
               $1::timestamptz + g * interval '0.4 seconds' + interval '1 minute', 'VOICE',
               'ORIGINATING', '38344000001', '38344000002', NULL, '38344000001',
               '221020000000001', NULL, NULL, NULL, NULL, 'msc-1'
        FROM generate_series(1, $2) g
        """,
        day,
        count,
    )


async def test_a_drop_while_ingest_writes_holds_nothing_up_and_loses_nothing(
    conn: db.Connection,
    database_url: str,
    broker: stack.Broker,
    ruaj_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expired_day = (datetime.now(UTC) - timedelta(days=400)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    await _old_rows(conn, expired_day, 200_000)
    expired = partitions.name("cdr", expired_day.date())

    # Record how long each batch's transaction took, and when.
    writes: list[tuple[float, float]] = []
    original: Callable[..., Awaitable[writer.Outcome]] = writer.write

    async def timed(*args: Any, **kwargs: Any) -> writer.Outcome:
        started = time.monotonic()
        try:
            return await original(*args, **kwargs)
        finally:
            writes.append((started, time.monotonic() - started))

    monkeypatch.setattr(writer, "write", timed)

    # The traffic comes from another process, as it does from the network: the worker's event
    # loop is its own.
    settings = ingest_settings(broker.bootstrap, ingest_batch_max_rows=1000)
    await simulator.create_topics(settings)
    truth_file = tmp_path / "truth.jsonl"
    producing = asyncio.create_task(asyncio.to_thread(
        run_ruaj, "simulate", "--subscribers", "300", "--rate", "2500", "--duration", "12",
        "--days", "2", "--seed", "17", "--truth", str(truth_file), env=ruaj_env,
    ))  # fmt: skip
    async with running(database_url, settings) as (worker, _):

        async def flowing() -> bool:
            return worker.written > 3000

        await eventually(flowing, 90)
        drop_started = time.monotonic()
        done = await asyncio.to_thread(run_ruaj, "maintain", "--once", env=ruaj_env)
        drop_ended = time.monotonic()
        assert done.returncode == 0, done.stderr
        written_at_drop = worker.written
        simulated = await producing
        assert simulated.returncode == 0, simulated.stderr
        truth = Truth.read(truth_file)

        async def caught_up() -> bool:
            ends = await end_offsets(broker.bootstrap, simulator.TOPICS)
            return await stored_offsets(conn) == ends

        await eventually(caught_up, 120, every=0.2)
        assert worker.written > written_at_drop  # it went on writing after the drop

    assert await conn.fetchval("SELECT to_regclass('ruaj.' || $1)", expired) is None
    stored = await counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table), table
    drops = [e for e in await audit.entries(conn, 0, 1 << 62)
             if e.kind == "retention.partition_dropped"]  # fmt: skip
    assert [(e.details["table"], e.details["rows"]) for e in drops] == [("cdr", 200_000)]

    during = [seconds for started, seconds in writes
              if started + seconds >= drop_started and started <= drop_ended]  # fmt: skip
    assert during, "no batch was written while the drop ran"
    print(
        f"\n{len(during)} batches written while `ruaj maintain` dropped {expired} (200 000 rows) "
        f"in {drop_ended - drop_started:.2f} s; the longest took {max(during) * 1000:.0f} ms; "
        f"the longest of all {len(writes)} batches {max(s for _, s in writes) * 1000:.0f} ms"
    )
