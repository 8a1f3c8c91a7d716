"""Operations' view of running services (issue 7): a real Prometheus scrapes `ruaj ingest` and
`ruaj maintain` and every expression of the dashboard and of the alert rules finds data; no
log line of simulate, ingest or maintain names anyone the simulator made up; `/readyz` of
ingest follows the database down and back up."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from disclosure import keys
from ingest import simulator
from ruaj import stack
from store import db, migrate, orders
from tests import prometheus
from tests.audit_support import login_role
from tests.ingest_support import EVENT_TABLES, Truth, counts, produce
from tests.orders_support import encode, order_document
from tests.support import ROOT, eventually

pytestmark = pytest.mark.acceptance

DASHBOARD = ROOT / "deploy" / "grafana" / "ruaj.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


@asynccontextmanager
async def _service(
    env: dict[str, str], log: Path, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`ruaj ARGS…` running, its stderr in `log`; SIGTERM on exit, which must end it with 0."""
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ruaj", *args, env=env, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0, (await asyncio.to_thread(log.read_text))[-3000:]


def _get(port: str, path: str) -> tuple[int, str]:
    """Status and body of GET http://127.0.0.1:PORT/PATH (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _dashboard_expressions() -> list[str]:
    """Every panel target's expression, with Grafana's `$__rate_interval` made concrete."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"].replace("$__rate_interval", "30s")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def _alert_operands() -> list[str]:
    """The operands of every alert expression (`tests.prometheus.operands`), each subquery's
    resolution made the scrape interval so that a minute of data is enough to evaluate it."""
    rules = yaml.safe_load(ALERTS.read_text())
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for operand in prometheus.operands(rule["expr"]):
                found.append(re.sub(r"\[(\w+):\w+\]", r"[\1:1s]", operand))
    return found


async def _a_refusal(conn: db.Connection, database_url: str) -> None:
    """An order imported twice by an officer: the second import is refused (`duplicate`)."""
    async with login_role(conn, database_url, "ruaj_officer") as url:
        officer = await db.connect(url)
        try:
            document = encode(order_document(reference="OBS-1"))
            for _ in range(2):
                await orders.receive(officer, document, b"sig", well_formed=True)
        finally:
            await officer.close()


async def test_prometheus_finds_data_for_every_dashboard_and_alert_expression(
    conn: db.Connection,
    database_url: str,
    ruaj_env: dict[str, str],
    broker: stack.Broker,
    tmp_path: Path,
) -> None:
    tools = prometheus.require()
    scenario = simulator.Scenario(subscribers=60, events=3000, seed=5, days=2,
                                  bad_fraction=0.02, duplicate_fraction=0.02)  # fmt: skip
    truth = await produce(broker.bootstrap, scenario, tmp_path / "truth.jsonl")
    await _a_refusal(conn, database_url)
    keys.generate(tmp_path / "operator.pem")
    ingest_port, maintain_port = str(stack.free_port()), str(stack.free_port())
    ingest_env = ruaj_env | {"RUAJ_METRICS_PORT": ingest_port,
                             "RUAJ_INGEST_BATCH_MAX_SECONDS": "0.2"}  # fmt: skip
    maintain_env = ruaj_env | {
        "RUAJ_METRICS_PORT": maintain_port, "RUAJ_OPERATOR_KEY": str(tmp_path / "operator.pem"),
        "RUAJ_MAINTAIN_INTERVAL_SECONDS": "2",
    }  # fmt: skip
    targets = {"ruaj-ingest": [f"127.0.0.1:{ingest_port}"],
               "ruaj-maintain": [f"127.0.0.1:{maintain_port}"]}  # fmt: skip
    expressions = _dashboard_expressions() + _alert_operands()
    assert len(expressions) > 30

    async with (
        _service(ingest_env, tmp_path / "ingest.log", "ingest"),
        _service(maintain_env, tmp_path / "maintain.log", "maintain"),
    ):

        async def stored() -> bool:
            found = await counts(conn)
            return all(found[t] == truth.distinct_good(t) for t in EVENT_TABLES)

        await eventually(stored, 120, every=0.5)
        with prometheus.Server(tools, tmp_path, targets, [ALERTS]) as server:
            empty: list[str] = []

            async def every_expression_has_data() -> bool:
                empty[:] = [e for e in expressions if not server.query(e)]
                return not empty

            try:
                await eventually(every_expression_has_data, 120, every=1)
            except TimeoutError:
                pytest.fail(f"expressions without data: {empty}")
            names = set(server.api("label/__name__/values"))
            used = set(re.findall(r"\bruaj_[a-z0-9_]+", " ".join(expressions)))
            assert used - names == set()
            up = {s["metric"]["job"]: s["value"][1] for s in server.query("up")}
            assert up == {"ruaj-ingest": "1", "ruaj-maintain": "1"}
            # Each service exports its own metrics only.
            for job in ("ruaj-ingest", "ruaj-maintain"):
                found = server.query(f'count by (__name__) ({{__name__=~"ruaj_.+", job="{job}"}})')
                exported = {s["metric"]["__name__"] for s in found}
                ingest_only = {name.startswith("ruaj_ingest_") for name in exported}
                assert ingest_only == {job == "ruaj-ingest"}, (job, exported)
            stored_total = server.query('sum(ruaj_ingest_records_total{result="stored"})')
            assert float(stored_total[0]["value"][1]) == sum(
                truth.distinct_good(t) for t in EVENT_TABLES
            )
            dead = server.query('sum(ruaj_ingest_records_total{result="dead_lettered"})')
            assert float(dead[0]["value"][1]) == len(truth.bad)
            refused = server.query('ruaj_disclosure_refusals_total{reason="duplicate"}')
            assert [float(s["value"][1]) for s in refused] == [1.0]
            received = server.query('ruaj_disclosure_orders{state="received"}')
            verified = server.query('ruaj_disclosure_orders{state="verified"}')
            assert float(received[0]["value"][1]) + float(verified[0]["value"][1]) == 1


# -- logs ------------------------------------------------------------------------------------

# Truth-file fields that identify or name a subscriber.
IDENTIFYING = (
    "calling_number", "called_number", "forwarded_to", "served_msisdn", "served_imsi",
    "served_imei", "sender", "recipient", "msisdn", "imsi", "imei", "private_ip", "public_ip",
    "subscriber_id", "given_name", "family_name", "personal_number", "email", "contact_number",
    "identity_value",
)  # fmt: skip


def _personal(truth: Truth) -> tuple[set[str], set[str]]:
    """(single-word values, addresses) that identify someone in what the simulator sent."""
    words: set[str] = set()
    addresses: set[str] = set()
    for entry in truth.entries:
        words.add(entry["key"])
        for name, value in (entry.get("fields") or {}).items():
            if isinstance(value, str) and value and name in IDENTIFYING:
                words.add(value)
            elif isinstance(value, str) and value and name == "address":
                addresses.add(value)
    return words, addresses


async def test_no_log_line_names_anyone_the_simulator_made_up(
    conn: db.Connection, ruaj_env: dict[str, str], tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.jsonl"
    keys.generate(tmp_path / "operator.pem")
    env = ruaj_env | {"RUAJ_OPERATOR_KEY": str(tmp_path / "operator.pem")}
    runs = [
        ("simulate", "--subscribers", "80", "--events", "4000", "--days", "3", "--seed", "9",
         "--bad-fraction", "0.03", "--duplicate-fraction", "0.03", "--registry",
         "--truth", str(truth_path)),
        ("ingest", "--until-idle", "4"),
        ("maintain", "--once"),
    ]  # fmt: skip
    logs: list[str] = []
    for args in runs:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ruaj", "--log-level", "DEBUG", *args, env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 240)
        assert process.returncode == 0, err.decode()[-3000:]
        logs += err.decode().splitlines() + out.decode().splitlines()
    truth = Truth.read(truth_path)
    assert (await counts(conn))["cdr"] == truth.distinct_good("cdr") > 0
    words, addresses = _personal(truth)
    assert len(words) > 500 and addresses  # names, numbers, IMSIs, IMEIs, IPs, emails
    json_lines = [line for line in logs if line.startswith("{")]
    assert len(json_lines) >= 10  # the services did log: structured lines
    for line in json_lines:
        assert json.loads(line)["level"] in {"debug", "info", "warning", "error"}
    text = "\n".join(logs)
    leaked = set(re.findall(r"[\w.@+:-]+", text)) & words
    assert leaked == set()
    assert [a for a in addresses if a in text] == []


# -- readiness -------------------------------------------------------------------------------


async def test_readyz_turns_unready_while_the_database_is_down_and_ready_when_it_returns(
    ruaj_env: dict[str, str], tmp_path: Path, pg_dir: Path
) -> None:
    server = stack.Postgres(pg_dir / "pg", stack.free_port(), fast=True)
    server.start()
    try:
        conn = await db.connect(server.url)
        try:
            await migrate.apply(conn)
        finally:
            await conn.close()
        port = ruaj_env["RUAJ_METRICS_PORT"]
        env = ruaj_env | {"RUAJ_DATABASE_URL": server.url}

        async def status(code: int) -> bool:
            found, _ = await asyncio.to_thread(_get, port, "/readyz")
            return found == code

        async with _service(env, tmp_path / "ingest.log", "ingest"):
            await eventually(lambda: status(200), 90, every=0.2)
            assert (await asyncio.to_thread(_get, port, "/readyz"))[1] == (
                "database ok\nbroker ok\n"
            )
            await asyncio.to_thread(server.stop, "fast")
            await eventually(lambda: status(503), 60, every=0.2)
            code, body = await asyncio.to_thread(_get, port, "/readyz")
            assert (code, body) == (503, "database unavailable\nbroker ok\n")
            assert await asyncio.to_thread(_get, port, "/healthz") == (200, "ok\n")  # alive
            await asyncio.to_thread(server.start)
            await eventually(lambda: status(200), 60, every=0.2)
    finally:
        server.stop("immediate")
