"""`ruaj ingest` as a subprocess: killed with SIGKILL again and again while events flow, stopped
with SIGTERM in the middle of a batch, started against a broker that is not there."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from ingest import simulator
from ruaj import stack
from store import db
from tests.ingest_support import (
    EVENT_TABLES,
    Truth,
    counts,
    end_offsets,
    produce,
    stored_offsets,
)
from tests.support import ROOT, eventually, run_ruaj

pytestmark = pytest.mark.acceptance


def _env(ruaj_env: dict[str, str], **extra: str) -> dict[str, str]:
    return ruaj_env | {"RUAJ_INGEST_SESSION_TIMEOUT_SECONDS": "6",
                       "RUAJ_INGEST_BATCH_MAX_SECONDS": "0.2"} | extra  # fmt: skip


async def _start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ruaj", "ingest", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _written(conn: db.Connection) -> int:
    return sum((await stored_offsets(conn)).values())


async def test_sigkill_five_times_while_events_flow_loses_nothing_and_stores_nothing_twice(
    conn: db.Connection, ruaj_env: dict[str, str], broker: stack.Broker, tmp_path: Path
) -> None:
    # Static membership: each restarted worker takes the partitions back without waiting for
    # its killed predecessor's session to time out (as a StatefulSet replica would).
    env = _env(ruaj_env, RUAJ_INGEST_INSTANCE_ID="crash-test-worker")
    truth_file = tmp_path / "truth.jsonl"
    simulate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ruaj", "simulate", "--subscribers", "2000", "--rate", "1200",
        "--duration", "50", "--days", "3", "--seed", "21", "--bad-fraction", "0.01",
        "--duplicate-fraction", "0.02", "--truth", str(truth_file),
        env=env | {"RUAJ_KAFKA_TOPIC_PARTITIONS": "4"}, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    rng = random.Random(2026)
    kills = 0
    while kills < 5 or simulate.returncode is None:
        worker = await _start(env)
        before = await _written(conn)

        async def progressed(before: int = before) -> bool:
            if await _written(conn) > before:
                return True
            if simulate.returncode is None:
                return False
            # Started as the stream ended, with nothing left to write: killed all the same.
            ends = await end_offsets(broker.bootstrap, simulator.TOPICS)
            return await stored_offsets(conn) == ends

        # Each worker lives from its start (joining the group takes up to the session timeout)
        # to a moment picked at random after it first writes: five of them fit in the stream.
        try:
            await eventually(progressed, 90)  # it joined the group and writes
            await asyncio.sleep(rng.uniform(0.0, 1.5))
        finally:  # killed whatever happens: no worker outlives the test
            worker.send_signal(signal.SIGKILL)
        assert await worker.wait() == -signal.SIGKILL
        kills += 1
        if kills >= 5:
            await asyncio.wait_for(simulate.wait(), 120)
    assert simulate.returncode == 0
    assert kills >= 5

    last = await _start(env, "--until-idle", "5")
    _, stderr = await asyncio.wait_for(last.communicate(), 240)
    assert last.returncode == 0, stderr.decode()[-2000:]

    truth = Truth.read(truth_file)
    kinds = truth.kinds()
    assert sum(kinds.values()) >= 50_000
    assert kinds["bad"] == round(sum(kinds.values()) * 0.01) and kinds["duplicate"] > 0
    stored = await counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table), table
    assert stored["dead_letter"] == kinds["bad"]
    assert await stored_offsets(conn) == await end_offsets(broker.bootstrap, simulator.TOPICS)


def _metric(port: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def test_sigterm_during_a_batch_writes_it_with_its_offsets_and_exits_0(
    conn: db.Connection, ruaj_env: dict[str, str], broker: stack.Broker, tmp_path: Path
) -> None:
    scenario = simulator.Scenario(subscribers=200, events=5000, seed=4, days=2)
    truth = await produce(broker.bootstrap, scenario, tmp_path / "truth.jsonl")
    # One batch may take a minute and 100 000 messages: all 5000 are in it when SIGTERM comes.
    env = _env(ruaj_env, RUAJ_INGEST_BATCH_MAX_SECONDS="60", RUAJ_INGEST_BATCH_MAX_ROWS="100000")
    worker = await _start(env)
    port = env["RUAJ_METRICS_PORT"]

    async def all_in_flight() -> bool:
        found = await asyncio.to_thread(_metric, port, "ruaj_ingest_batch_records_in_flight")
        return found == 5000

    await eventually(all_in_flight, 90, every=0.1)
    assert await _written(conn) == 0  # in flight: nothing committed yet
    worker.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode == 0, stderr.decode()[-2000:]

    stored = await counts(conn)
    for table in EVENT_TABLES:
        assert stored[table] == truth.distinct_good(table) > 0, table
    assert await stored_offsets(conn) == await end_offsets(broker.bootstrap, simulator.TOPICS)


def test_an_unreachable_broker_is_a_clear_error(ruaj_env: dict[str, str]) -> None:
    env = ruaj_env | {"RUAJ_KAFKA_BOOTSTRAP": f"127.0.0.1:{stack.free_port()}"}
    done = run_ruaj("ingest", "--until-idle", "1", env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "cannot reach Kafka at 127.0.0.1:" in done.stderr


def test_unknown_topics_are_a_usage_error(ruaj_env: dict[str, str]) -> None:
    done = run_ruaj("ingest", "--topics", "ruaj.cdr,ruaj.calls", env=ruaj_env)
    assert done.returncode == 2
    assert "unknown topic(s) ruaj.calls" in done.stderr
