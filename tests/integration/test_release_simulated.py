"""The positive path: simulated traffic, decoded and stored as ingest stores it, an order for one
subscriber's MSISDN, two approvals, execution, and the agency's opened package holding exactly
what the simulator sent for that MSISDN and range — no more, no less."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from disclosure import execute, keys, package
from ingest import avro, codec, population, simulator
from store import db
from tests.audit_support import make_settings
from tests.release_support import add_court, approved_order, officer_connections, task, write_rows

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 20, tzinfo=UTC)
PARTIES = {
    "cdr": ("calling_number", "called_number", "forwarded_to", "served_msisdn"),
    "sms": ("sender", "recipient", "served_msisdn"),
}
TIME = {"cdr": "start_time", "sms": "event_time"}


def _store_form(table: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A truth record's fields as the package renders the stored row (an IMEISV keeps its IMEI,
    the 14 digits and a check digit the codec recomputes: compare the 14)."""
    out = dict(fields)
    if out.get("served_imei"):
        out["served_imei"] = out["served_imei"][:14]
    return out


async def test_an_opened_package_holds_exactly_what_the_simulator_sent(
    conn: db.Connection, database_url: str, tmp_path: Path
) -> None:
    scenario = simulator.Scenario(subscribers=40, events=4000, days=20, seed=11)
    sent = list(simulator.messages(scenario, end=END))
    decoder = codec.Codec(avro.load(), now=lambda: END)
    rows: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    truth: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in sent:
        if message.truth["kind"] != "good" or message.topic not in ("ruaj.cdr", "ruaj.sms"):
            continue
        decoded = decoder.decode(message.topic, message.value)
        rows[decoded.table].append(tuple(codec.readable(decoded.table, decoded.row).values()))
        truth[decoded.table].append(message.truth["fields"])
    for table, table_rows in rows.items():
        await write_rows(conn, table, table_rows)

    # The busiest subscriber MSISDN of the network, over a week inside the simulated days.
    counts = Counter(
        f[column] for f in truth["cdr"] for column in PARTIES["cdr"]
        if f[column] and f[column].startswith(population.COUNTRY_CODE)
    )  # fmt: skip
    target = counts.most_common(1)[0][0]
    start, stop = END - timedelta(days=12), END - timedelta(days=5)
    expected = {
        table: {
            f["event_id"]: _store_form(table, f)
            for f in truth[table]
            if target in (f[c] for c in PARTIES[table])
            and simulator.rfc3339(start) <= f[TIME[table]] < simulator.rfc3339(stop)
        }
        for table in ("cdr", "sms")
    }
    assert len(expected["cdr"]) >= 5 and len(expected["sms"]) >= 1

    agency = x25519.X25519PrivateKey.generate()
    settings = make_settings(tmp_path)
    async with officer_connections(conn, database_url) as officers:
        await add_court(conn)
        tasks = [
            task("calls", "traffic_data", "msisdn", target, start, stop),
            task("texts", "sms_data", "msisdn", target, start, stop),
        ]
        order_id = await approved_order(officers, tasks, agency)
        outcome = await execute.execute(officers[2], settings, order_id, tmp_path / "out")

    opened = package.open_package(
        outcome.path.read_bytes(),
        agency_key=agency,
        operator=keys.load_operator_key(settings).public_key(),
    )
    for position, (table, task_type) in enumerate(
        [("cdr", "traffic_data"), ("sms", "sms_data")], start=1
    ):
        document = json.loads(opened.files[f"data/task-{position:02d}-{task_type}.json"])
        got = {r["event_id"]: _store_form(table, r) for r in document["rows"]}
        assert len(got) == len(document["rows"])  # one row per event
        assert got.keys() == expected[table].keys()
        assert got == expected[table]
