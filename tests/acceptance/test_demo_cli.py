"""`ruaj demo` as a subprocess: against the test's database and broker, its figures are the
pipeline's (rows stored = good events sent, the opened package holds what the simulator sent
for the order's MSISDN and range, the audit log verifies); run twice on an embedded stack of
its own, the second run starts from nothing again."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from disclosure import package
from ingest import truth as sent
from ruaj import stack
from store import db, orders
from tests.ingest_support import EVENT_TABLES, counts
from tests.support import run_ruaj

pytestmark = pytest.mark.acceptance

SMALL = ("--subscribers", "60", "--events", "3000", "--days", "3")
PARTIES = {  # who an MSISDN task matches, as migration 0009 says, written out again here
    "traffic_data": ("ruaj.cdr", "start_time",
                     ("calling_number", "called_number", "forwarded_to", "served_msisdn")),
    "sms_data": ("ruaj.sms", "event_time", ("sender", "recipient", "served_msisdn")),
    "equipment_data": ("ruaj.imei", "observed_at", ("msisdn",)),
}  # fmt: skip


@pytest.fixture
async def new_roles(conn: db.Connection) -> AsyncIterator[None]:
    """Drops the login roles the demo made (roles belong to the server, not the database)."""
    query = "SELECT rolname FROM pg_roles WHERE rolname LIKE 'demo\\_%'"
    before = {row["rolname"] for row in await conn.fetch(query)}
    yield
    for row in await conn.fetch(query):
        if row["rolname"] not in before:
            await conn.execute(f"DROP ROLE {db.quote_ident(row['rolname'])}")


def _expected(truth_path: Path, order: dict[str, object]) -> dict[str, set[str]]:
    """Per task id, the event ids the simulator sent that the task covers."""
    lines = [json.loads(line) for line in truth_path.read_text().splitlines()]
    found: dict[str, set[str]] = {}
    for task in order["tasks"]:  # type: ignore[attr-defined]
        if task["type"] not in PARTIES:
            continue
        topic, time_field, parties = PARTIES[task["type"]]
        msisdn = task["identifier"]["value"]
        start, end = datetime.fromisoformat(task["from"]), datetime.fromisoformat(task["to"])
        found[task["task_id"]] = {
            e["event_id"] for e in lines
            if e["kind"] == "good" and e["topic"] == topic
            and msisdn in (e["fields"].get(p) for p in parties)
            and start <= datetime.fromisoformat(e["fields"][time_field]) < end
        }  # fmt: skip
    return found


async def test_the_demo_tells_the_whole_mission_with_the_pipelines_own_figures(
    conn: db.Connection, ruaj_env: dict[str, str], tmp_path: Path, new_roles: None
) -> None:
    out = tmp_path / "demo-out"
    done = run_ruaj("demo", "--out", str(out), *SMALL, env=ruaj_env, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every figure matched" in done.stdout
    for section in ("1. The stack", "3. Ingestion", "7. Officers, four eyes",
                    "9. The agency opens the package", "11. What operations see"):  # fmt: skip
        assert f"== {section}" in done.stdout

    # Rows stored are the good events sent; dead letters are the bad ones.
    truth = sent.Truth.read(out / "truth.jsonl")
    stored = await counts(conn)
    good = truth.good_by_table()
    assert {t: stored[t] for t in EVENT_TABLES} == {t: good[t] for t in EVENT_TABLES}
    assert stored["dead_letter"] == truth.kinds["bad"] == 30
    assert f"re-sent: {truth.kinds['duplicate']} messages, {truth.kinds['duplicate']} counted" in (
        done.stdout
    )

    # One order, disclosed; the package the agency opened holds what was sent for its tasks.
    (order,) = await orders.list_orders(conn)
    assert order.state == "disclosed"
    document = json.loads((out / "order" / "order.json").read_text())
    expected = _expected(out / "truth.jsonl", document)
    released = package.written_rows(out / "opened")
    assert set(released) == {t["task_id"] for t in document["tasks"]}
    for task_id, ids in expected.items():
        assert {str(row["event_id"]) for row in released[task_id]} == ids, task_id
    assert sum(len(ids) for ids in expected.values()) > 0
    for task_id, rows in released.items():
        assert f"    {task_id} " in done.stdout and f"{len(rows):>5} rows" in done.stdout
    assert "audit log verified: " in done.stdout
    assert "[importer_approval]" in done.stdout  # the importer's own approval was refused
    assert 'ruaj_disclosure_orders{state="disclosed"} 1' in done.stdout
    assert (out / "logs").is_dir() and len(list((out / "logs").iterdir())) >= 15

    # Not again on the same database: it holds events now.
    again = run_ruaj("demo", "--out", str(out), *SMALL, env=ruaj_env, timeout=120)
    assert again.returncode == 2, again.stderr
    assert "holds" in again.stderr and "events already" in again.stderr
    # Nor into a directory it did not write.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    refused = run_ruaj("demo", "--out", str(foreign), env=ruaj_env)
    assert refused.returncode == 2 and "was not written by ruaj demo" in refused.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.timeout(900)
def test_the_demo_runs_again_on_its_embedded_stack_from_nothing(
    tmp_path: Path, pg_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUAJ_")}
    env |= {"RUAJ_STACK_DIR": str(pg_dir / "stack"), "PYTHONUNBUFFERED": "1"}
    tiny = ("--subscribers", "30", "--events", "1500", "--days", "2")
    try:
        first = run_ruaj("demo", "--out", str(tmp_path / "out"), *tiny, env=env, timeout=400)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        second = run_ruaj("demo", "--out", str(tmp_path / "out"), *tiny, env=env, timeout=400)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    finally:
        stack.down(pg_dir / "stack")
    for run in (first, second):
        assert "every figure matched" in run.stdout
        assert "database ruaj_demo made afresh" in run.stdout
        assert "started afresh (it keeps messages in memory" in run.stdout
    assert "the officers of the last run dropped" not in first.stdout
    assert "the officers of the last run dropped (3)" in second.stdout
    # The second run ingested its own messages only: the broker was replaced.
    truth = sent.Truth.read(tmp_path / "out" / "truth.jsonl")
    assert truth.kinds["good"] > 1470
    assert f"ingested {truth.messages:,} records" in second.stdout
