"""`ruaj ingest` against the real broker and PostgreSQL: what was sent is what is stored, once.

Workers run in the test's event loop (in-process) so that the metrics they count can be read;
the tests that need signals and kills are in tests/acceptance/test_ingest_cli.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

import schemas as bundled
from ingest import avro, codec, consumer, simulator
from ruaj import stack
from store import db, errors, migrate
from store.settings import StoreSettings
from tests import samples
from tests.audit_support import login_role
from tests.ingest_support import (
    EVENT_TABLES,
    dead_letter_topic,
    end_offsets,
    expected,
    ingest_settings,
    ingest_until_idle,
    metric,
    produce,
    running,
    send,
    stored_offsets,
)
from tests.ingest_support import counts as table_counts
from tests.support import eventually

pytestmark = pytest.mark.integration

SCHEMAS = avro.load()


async def test_every_field_of_every_event_type_survives_the_round_trip(
    conn: db.Connection, database_url: str, broker: stack.Broker, tmp_path: Path
) -> None:
    scenario = simulator.Scenario(
        subscribers=200, events=4000, seed=11, days=5, bad_fraction=0.03,
        duplicate_fraction=0.03, registry=True,
    )  # fmt: skip
    truth = await produce(broker.bootstrap, scenario, tmp_path / "truth.jsonl")
    await ingest_until_idle(database_url, ingest_settings(broker.bootstrap))

    for table in EVENT_TABLES:
        sent = truth.good[table]
        rows = {str(r["event_id"]): r for r in await conn.fetch(f"SELECT * FROM ruaj.{table}")}
        assert rows.keys() == sent.keys(), table
        for event_id, fields in sent.items():
            row = rows[event_id]
            for column, value in fields.items():
                assert row[column] == expected(column, value), (table, column)
    changes = truth.good["subscriber_change"]
    rows = {str(r["event_id"]): r for r in await conn.fetch("SELECT * FROM ruaj.subscriber_change")}
    assert rows.keys() == changes.keys() and len(changes) > 100
    for event_id, fields in changes.items():
        for column, value in fields.items():
            assert rows[event_id][column] == expected(column, value), column
    # Every subscriber the simulator registered is in the registry, with its identities.
    holders = await conn.fetchval("SELECT count(DISTINCT subscriber_id) FROM ruaj.subscriber")
    assert holders == len({f["subscriber_id"] for f in changes.values()})
    assert await conn.fetchval("SELECT count(*) FROM ruaj.subscriber_identity") > 0
    # The span index of IP attribution follows the sessions.
    sessions = {(f["session_id"], f["session_start"]) for f in truth.good["ip_session"].values()}
    assert await conn.fetchval("SELECT count(*) FROM ruaj.ip_session_span") == len(sessions)
    # Where consumption stands is where the topics end.
    assert await stored_offsets(conn) == await end_offsets(broker.bootstrap, simulator.ALL_TOPICS)


async def test_poison_is_dead_lettered_with_its_reason_and_every_good_event_stored(
    conn: db.Connection, database_url: str, broker: stack.Broker, tmp_path: Path
) -> None:
    scenario = simulator.Scenario(subscribers=100, events=3000, seed=5, days=3,
                                  bad_fraction=0.06)  # fmt: skip
    truth = await produce(broker.bootstrap, scenario, tmp_path / "truth.jsonl")
    before = {t: metric("ruaj_ingest_records_total", topic=t, result="dead_lettered")
              for t in simulator.TOPICS}  # fmt: skip
    await ingest_until_idle(database_url, ingest_settings(broker.bootstrap))

    bad = truth.bad
    assert len(bad) == scenario.bad == 180
    sent_reasons = Counter((e["topic"], e["partition"], e["offset"], e["reason"]) for e in bad)
    # Every reason the issue names is among them.
    assert {e["reason"] for e in bad} >= {
        "malformed",
        "unknown_schema",
        "trailing_bytes",
        "invalid_imei",
        "invalid_enum",
        "future_time",
    }
    recorded = await conn.fetch('SELECT topic, partition, "offset", reason FROM ruaj.dead_letter')
    assert Counter((r["topic"], r["partition"], r["offset"], r["reason"])
                   for r in recorded) == sent_reasons  # fmt: skip
    letters = await dead_letter_topic(broker.bootstrap)
    assert Counter((h["ruaj.source.topic"], int(h["ruaj.source.partition"]),
                    int(h["ruaj.source.offset"]), h["ruaj.reason"])
                   for h in letters) == sent_reasons  # fmt: skip
    counted = sum(metric("ruaj_ingest_records_total", topic=t, result="dead_lettered") - before[t]
                  for t in simulator.TOPICS)  # fmt: skip
    assert counted == len(bad)
    stored = await table_counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table)


async def test_re_sent_events_are_stored_once_and_counted_as_duplicates(
    conn: db.Connection, database_url: str, broker: stack.Broker
) -> None:
    first = [
        samples.cdr(event_id=str(uuid.uuid4()), start_time=samples.NOW - timedelta(minutes=m),
                    end_time=samples.NOW - timedelta(minutes=m - 1))
        for m in range(2, 202)
    ]  # fmt: skip
    encoded = [("ruaj.cdr", SCHEMAS.encode("cdr", r), b"k") for r in first]
    settings = ingest_settings(broker.bootstrap)
    await send(broker.bootstrap, encoded[:100])
    await ingest_until_idle(database_url, settings)
    assert await conn.fetchval("SELECT count(*) FROM ruaj.cdr") == 100

    # The same 100 again (each batch meets stored events: the duplicate-skipping path), their
    # second half once more, and 100 new ones.
    before = metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="duplicate")
    stored_before = metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="stored")
    await send(broker.bootstrap, encoded[:100] + encoded[50:100] + encoded[100:])
    await ingest_until_idle(database_url, settings)
    assert await conn.fetchval("SELECT count(*) FROM ruaj.cdr") == 200
    assert metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="duplicate") - before == 150
    assert metric("ruaj_ingest_records_total", topic="ruaj.cdr",
                  result="stored") - stored_before == 100  # fmt: skip
    assert await conn.fetchval("SELECT count(*) FROM ruaj.dead_letter") == 0


async def test_expired_events_are_counted_and_stored_nowhere_late_ones_get_a_partition(
    conn: db.Connection, database_url: str, broker: stack.Broker
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=400)  # beyond the 365-day traffic window
    late = now - timedelta(days=200)  # inside it, on a day no partition exists for yet
    records = [
        samples.cdr(event_id=str(uuid.uuid4()), start_time=old,
                    end_time=old + timedelta(minutes=1)),
        samples.cdr(event_id=str(uuid.uuid4()), start_time=late,
                    end_time=late + timedelta(minutes=1)),
    ]  # fmt: skip
    before = metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="expired")
    await send(broker.bootstrap, [("ruaj.cdr", SCHEMAS.encode("cdr", r), None) for r in records])
    await ingest_until_idle(database_url, ingest_settings(broker.bootstrap))

    stored = await conn.fetch("SELECT event_id, start_time FROM ruaj.cdr")
    assert [str(r["event_id"]) for r in stored] == [records[1]["event_id"]]
    assert metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="expired") - before == 1
    assert await conn.fetchval("SELECT count(*) FROM ruaj.dead_letter") == 0
    partition = f"cdr_p{late:%Y%m%d}"
    assert await conn.fetchval("SELECT to_regclass('ruaj.' || $1) IS NOT NULL", partition)
    # Both messages are consumed: the expired one moves its partition's offset on too.
    assert await stored_offsets(conn) == await end_offsets(broker.bootstrap, ["ruaj.cdr"])
    assert sum((await stored_offsets(conn)).values()) == 2


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgresql_stopped_mid_stream_loses_nothing_and_dead_letters_nothing(
    broker: stack.Broker, tmp_path: Path, pg_dir: Path, mode: str
) -> None:
    """`fast`: a clean shutdown. `immediate`: a crash, on a server that flushes its WAL
    (fsync on) while the worker commits asynchronously (its default): the commits whose WAL
    was not yet on disk are lost with their offsets, and the worker reads them again."""
    server = stack.Postgres(pg_dir / "pg", stack.free_port(), fast=mode == "fast")
    server.start()
    try:
        admin = await db.connect(server.url)
        await migrate.apply(admin)
        await admin.close()
        scenario = simulator.Scenario(subscribers=300, events=20_000, seed=3, days=2, rate=4000)
        producing = asyncio.create_task(produce(broker.bootstrap, scenario, tmp_path / "t.jsonl"))
        retries = metric("ruaj_ingest_write_retries_total")
        settings = ingest_settings(broker.bootstrap)
        async with running(server.url, settings) as (worker, task):
            await _until(lambda: worker.written > 2000, 60)
            await asyncio.to_thread(server.stop, mode)
            down = worker.written
            # The outage: the worker retries (its counter moves) and writes nothing.
            await _until(lambda: metric("ruaj_ingest_write_retries_total") > retries + 2, 60)
            assert worker.written == down and not task.done()
            await asyncio.to_thread(server.start)
            truth = await producing
            conn = await db.connect(server.url)
            try:
                await _caught_up(conn, broker.bootstrap, 120)
            finally:
                await conn.close()
            assert not task.done()
        conn = await db.connect(server.url)
        try:
            stored = await table_counts(conn)
            for table in EVENT_TABLES:
                assert stored[table] == truth.distinct_good(table), table
            assert stored["dead_letter"] == 0
            ends = await end_offsets(broker.bootstrap, simulator.TOPICS)
            assert await stored_offsets(conn) == ends
        finally:
            await conn.close()
    finally:
        server.stop("immediate")


async def test_a_database_set_back_behind_the_workers_commits_is_filled_again_from_kafka(
    conn: db.Connection, database_url: str, broker: stack.Broker, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """What a restore from a backup (or a crash that lost asynchronous commits) does to a
    running worker: the stored offsets fall behind the ones it committed itself. It reads
    those partitions again from where the database stands: nothing lost, nothing twice."""
    scenario = simulator.Scenario(
        subscribers=300, events=12_000, seed=8, days=2, rate=3000, registry=True,
        duplicate_fraction=0.02,
    )  # fmt: skip
    producing = asyncio.create_task(produce(broker.bootstrap, scenario, tmp_path / "t.jsonl"))
    with caplog.at_level("WARNING", logger="ingest.consumer"):
        async with running(database_url, ingest_settings(broker.bootstrap)) as (worker, task):
            await _until(lambda: worker.written > 3000, 60)
            # The backup was taken before any of it: no rows, no offsets; the restored server
            # starts with no connections.
            await conn.execute(
                "TRUNCATE ruaj.cdr, ruaj.sms, ruaj.imei_observation, ruaj.ip_session,"
                " ruaj.ip_session_span, ruaj.dead_letter, ruaj.subscriber_change,"
                " ruaj.subscriber_identity, ruaj.subscriber_erasure, ruaj.subscriber CASCADE"
            )
            await conn.execute("DELETE FROM ruaj.ingest_offset")
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            truth = await producing
            await _caught_up(conn, broker.bootstrap, 120, simulator.ALL_TOPICS)
            assert not task.done()
    stored = await table_counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table), table
    # Read again in another interleaving of the subscriber partitions, a number's new holder
    # may come before its old holder's release: that change is dead-lettered (identity_overlap),
    # not lost.
    refused = await conn.fetchval(
        "SELECT count(*) FROM ruaj.dead_letter WHERE topic = 'ruaj.subscriber'"
        " AND reason = 'identity_overlap'"
    )
    assert stored["subscriber_change"] + refused == truth.distinct_good("subscriber_change") > 0
    assert await stored_offsets(conn) == await end_offsets(broker.bootstrap, simulator.ALL_TOPICS)
    assert "the database stands behind offsets this worker stored" in caplog.text


async def test_a_partition_first_written_during_the_reconnection_check_is_not_taken_as_lost(
    conn: db.Connection, database_url: str, broker: stack.Broker,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The check a new connection makes (are the offsets this worker committed still stored?)
    asks about the partitions written so far. A write on the other connection that commits
    while it asks adds a partition it did not ask about: that one is not missing from the
    database, and must not be read again from its beginning."""
    await conn.execute(
        "INSERT INTO ruaj.ingest_offset (consumer_group, topic, partition, next_offset)"
        " VALUES ('ruaj-ingest', 'ruaj.cdr', 0, 5), ('ruaj-ingest', 'ruaj.sms', 1, 7)"
    )
    worker = consumer.Worker(
        ingest_settings(broker.bootstrap),
        StoreSettings(database_url=database_url),  # type: ignore[arg-type]  # str → SecretStr
        consumer.Options(),
    )
    # Not started: nothing assigned, so a rewind pauses nothing; it only says so.
    worker._consumer = kafka = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    try:
        await _check_written_while_the_other_connection_commits(conn, database_url, worker, caplog)
    finally:
        await kafka.stop()


async def _check_written_while_the_other_connection_commits(
    conn: db.Connection, database_url: str, worker: consumer.Worker,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    worker._written[("ruaj.cdr", 0)] = 5  # committed before the check

    async def the_other_connection_commits() -> None:  # while the check waits on its query
        worker._written[("ruaj.sms", 1)] = 7

    other = await db.connect(database_url)
    try:
        with caplog.at_level("WARNING", logger="ingest.consumer"):
            await asyncio.gather(worker._check_written(other, None),
                                 the_other_connection_commits())  # fmt: skip
    finally:
        await other.close()
    assert worker._written == {("ruaj.cdr", 0): 5, ("ruaj.sms", 1): 7}
    assert "stands behind" not in caplog.text
    # A partition the database really lost is still found.
    await conn.execute("DELETE FROM ruaj.ingest_offset WHERE topic = 'ruaj.cdr'")
    other = await db.connect(database_url)
    try:
        with caplog.at_level("WARNING", logger="ingest.consumer"):
            await worker._check_written(other, None)
    finally:
        await other.close()
    assert "stands behind" in caplog.text


async def test_two_workers_share_the_partitions_and_one_takes_over_from_the_other(
    conn: db.Connection, database_url: str, broker: stack.Broker, tmp_path: Path
) -> None:
    scenario = simulator.Scenario(subscribers=300, events=24_000, seed=8, days=2, rate=3000,
                                  duplicate_fraction=0.02)  # fmt: skip
    settings = ingest_settings(broker.bootstrap)
    await simulator.create_topics(settings)
    producing = asyncio.create_task(produce(broker.bootstrap, scenario, tmp_path / "t.jsonl"))
    async with running(database_url, settings) as (first, _), \
            running(database_url, settings) as (second, _):  # fmt: skip
        # Both hold partitions and both write.
        await _until(lambda: first.written > 1000 and second.written > 1000, 90)
        first.stop()
        await _until(lambda: first.stopped, 30)
        written = second.written
        await _until(lambda: second.written > written + 2000, 90)
        truth = await producing
        await _caught_up(conn, broker.bootstrap, 120)
    stored = await table_counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table), table
    assert await stored_offsets(conn) == await end_offsets(broker.bootstrap, simulator.TOPICS)


async def _caught_up(
    conn: db.Connection, bootstrap: str, seconds: float,
    topics: tuple[str, ...] = simulator.TOPICS,
) -> None:  # fmt: skip
    """Wait until the stored offsets reach the end of every topic of `topics`."""
    ends = await end_offsets(bootstrap, topics)

    async def caught_up() -> bool:
        return await stored_offsets(conn) == ends

    await eventually(caught_up, seconds, every=0.2)


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    """Wait until `condition()` holds (a worker of this process); fail after `seconds`."""

    async def check() -> bool:
        return condition()

    await eventually(check, seconds)


async def test_the_ingest_role_needs_nothing_more_than_it_has(
    conn: db.Connection, database_url: str, broker: stack.Broker, tmp_path: Path
) -> None:
    scenario = simulator.Scenario(subscribers=100, events=1500, seed=12, days=2,
                                  bad_fraction=0.02, registry=True)  # fmt: skip
    truth = await produce(broker.bootstrap, scenario, tmp_path / "truth.jsonl")
    async with login_role(conn, database_url, "ruaj_ingest") as url:
        settings = ingest_settings(broker.bootstrap)
        await ingest_until_idle(url, settings)
        # Again from the start under another group: every event meets itself stored (the
        # duplicate-skipping path, with its staging tables), every change is a duplicate.
        duplicates = metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="duplicate")
        async with running(url, settings, until_idle=2, group="replay") as (_, task):
            assert await asyncio.wait_for(task, 120) == 0
        replayed = metric("ruaj_ingest_records_total", topic="ruaj.cdr", result="duplicate")
        assert replayed - duplicates == truth.distinct_good("cdr")
        ingest = await db.connect(url)
        try:
            with pytest.raises(errors.InsufficientPrivilege):
                async with db.translated():
                    await ingest.fetchval("SELECT count(*) FROM ruaj.cdr")
            with pytest.raises(errors.InsufficientPrivilege):
                async with db.translated():
                    await ingest.fetchval("SELECT count(*) FROM ruaj.subscriber")
        finally:
            await ingest.close()
    stored = await table_counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table), table
    assert stored["subscriber_change"] == truth.distinct_good("subscriber_change") > 0


async def test_an_overlapping_assignment_is_dead_lettered_and_a_replay_changes_nothing(
    conn: db.Connection, database_url: str, broker: stack.Broker
) -> None:
    day = timedelta(days=1)
    start = samples.NOW - 30 * day
    changes = [
        samples.subscriber(event_id=str(uuid.uuid4()), subscriber_id="CUST-A", event_time=start),
        samples.subscriber(event_id=str(uuid.uuid4()), subscriber_id="CUST-A",
                           event_time=start + day, operation="ASSIGN_IDENTITY",
                           identity_kind="MSISDN", identity_value=samples.MSISDN,
                           given_name=None, family_name=None, personal_number=None,
                           address=None, city=None, email=None, contact_number=None,
                           contract_start=None),
        samples.subscriber(event_id=str(uuid.uuid4()), subscriber_id="CUST-B",
                           event_time=start + 2 * day, given_name="Arben"),
        # CUST-A still holds the number: this assignment must be refused, not forced.
        samples.subscriber(event_id=str(uuid.uuid4()), subscriber_id="CUST-B",
                           event_time=start + 3 * day, operation="ASSIGN_IDENTITY",
                           identity_kind="MSISDN", identity_value=samples.MSISDN,
                           given_name=None, family_name=None, personal_number=None,
                           address=None, city=None, email=None, contact_number=None,
                           contract_start=None),
    ]  # fmt: skip
    messages = [("ruaj.subscriber", SCHEMAS.encode("subscriber", c), b"registry") for c in changes]
    await send(broker.bootstrap, messages)
    settings = ingest_settings(broker.bootstrap)
    await ingest_until_idle(database_url, settings)

    letters = await dead_letter_topic(broker.bootstrap)
    assert [(h["ruaj.source.topic"], h["ruaj.reason"]) for h in letters] == [
        ("ruaj.subscriber", "identity_overlap")
    ]
    assert int(letters[0]["ruaj.source.offset"]) == 3
    assert await conn.fetchval("SELECT reason FROM ruaj.dead_letter") == "identity_overlap"
    holders = await conn.fetch("SELECT subscriber_id FROM ruaj.subscriber_identity")
    assert [r["subscriber_id"] for r in holders] == ["CUST-A"]

    async def registry() -> list[list[tuple[object, ...]]]:
        return [
            [tuple(r) for r in await conn.fetch(f"SELECT * FROM ruaj.{t} ORDER BY 1, 2")]
            for t in ("subscriber", "subscriber_identity", "subscriber_change")
        ]

    before = await registry()
    duplicates = metric("ruaj_ingest_records_total", topic="ruaj.subscriber", result="duplicate")
    async with running(database_url, settings, until_idle=2, group="replay") as (_, task):
        assert await asyncio.wait_for(task, 120) == 0
    assert await registry() == before
    assert metric("ruaj_ingest_records_total", topic="ruaj.subscriber",
                  result="duplicate") - duplicates == 3  # fmt: skip


async def test_a_worker_with_a_v2_reader_stores_v1_and_v2_messages(
    conn: db.Connection, database_url: str, broker: stack.Broker
) -> None:
    schemas = avro.load(bundled.directory(), Path(__file__).parent.parent / "data" / "avro")
    assert schemas.reader("cdr").version == 2
    old = samples.cdr(event_id=str(uuid.uuid4()))
    new = samples.cdr(event_id=str(uuid.uuid4()), roaming_country="AL")
    await send(broker.bootstrap, [
        ("ruaj.cdr", schemas.encode("cdr", old, version=1), None),
        ("ruaj.cdr", schemas.encode("cdr", new, version=2), None),
    ])  # fmt: skip
    settings = ingest_settings(broker.bootstrap)
    worker = consumer.Worker(
        settings,
        StoreSettings(database_url=database_url),  # type: ignore[arg-type]  # str → SecretStr
        consumer.Options(until_idle=2),
        decoder=codec.Codec(schemas, now=lambda: samples.NOW + timedelta(minutes=1)),
    )
    assert await asyncio.wait_for(worker.run(), 120) == 0
    stored = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM ruaj.cdr")}
    assert stored == {old["event_id"], new["event_id"]}
    assert await conn.fetchval("SELECT count(*) FROM ruaj.dead_letter") == 0
