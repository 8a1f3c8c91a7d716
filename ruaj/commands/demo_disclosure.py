"""The disclosure half of `ruaj demo` (see ruaj/commands/demo.py): the court and its demo PKI,
a signed order for the busiest simulated MSISDN, three officers and four eyes, execution, the
agency opening the package (its rows checked against what the simulator sent), the audit log
verified, and the maintenance service's metrics. Wiring only, like the first half.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from disclosure import demo_order, demo_pki, package
from ingest import truth as sent
from ruaj import narration, stack
from ruaj.narration import Narrator, Run
from store import databases

COURT = "Basic Court of Prishtina"
JUDGE = "Judge Arta Krasniqi"
AGENCY = "Police Cybercrime Unit"
ROLES = ("importer", "approver_a", "approver_b")
# The order's tasks: (task id, task type, the topic whose truth file entries it must equal).
TASKS = (
    ("t1", "traffic_data", "ruaj.cdr"),
    ("t2", "sms_data", "ruaj.sms"),
    ("t3", "equipment_data", "ruaj.imei"),
    ("t4", "subscriber_data", None),
)

# -- 5, 6, 7. the court, its order, the officers -----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The order's identifier and range, and what the simulator sent for them per task."""

    msisdn: str
    start: datetime
    end: datetime
    expected: dict[str, list[str]]  # task id → event ids (or subscriber ids), sorted


def _target(truth: sent.Truth) -> Target:
    """The busiest MSISDN over the middle of the simulated period (rows before and after the
    range exist, so the range is seen to be enforced)."""
    msisdn = truth.busiest_msisdn()
    first, last = truth.period()
    span = last - first
    start = (first + span * 0.3).replace(minute=0, second=0, microsecond=0)
    end = (first + span * 0.8).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    expected = {}
    for task_id, _, topic in TASKS:
        if topic is None:
            expected[task_id] = sorted(truth.holders("MSISDN", msisdn, start, end))
        else:
            expected[task_id] = sorted(truth.sent(topic, msisdn, start, end))
    return Target(msisdn=msisdn, start=start, end=end, expected=expected)


async def order(tell: Narrator, run: Run, truth: sent.Truth) -> tuple[int, Target]:
    """The court and its PKI registered, the order made and signed, the officers made, the
    order imported and approved by two of them; returns its id and what it targets."""
    tell.section("The court")
    court_dir = run.out / "court"
    pki = demo_pki.CourtPki.create(COURT, JUDGE, now=datetime.now(UTC))
    files = pki.write(court_dir)
    tell.say(
        f"a demo PKI (disclosure.demo_pki): root CA {pki.root.subject}, judge "
        f"{pki.judge.subject} (document signing), the root's CRL revoking nothing: "
        f"{tell.shown(court_dir)}/"
    )
    await tell.ruaj(
        "authority",
        "add",
        COURT,
        "--kind",
        "court",
        "--trust-anchor",
        str(files.trust_anchor),
        "--crl",
        str(files.crl),
        env=run.admin,
        who="administrator",
    )

    tell.section("A court order")
    target = _target(truth)
    tell.say(
        f"for MSISDN {target.msisdn} (the simulated subscriber number in most calls), from "
        f"{demo_order.rfc3339(target.start)} to {demo_order.rfc3339(target.end)}; the "
        "simulator sent for it in that range:"
    )
    for task_id, task_type, topic in TASKS:
        what = f"events on {topic}" if topic else "holders of the number (registry)"
        tell.say(f"    {task_id} {task_type:<16}{len(target.expected[task_id]):>5} {what}")
    agency_key = demo_order.new_agency_key(run.out / "agency" / "agency-key.pem")
    tasks = [
        demo_order.Task(
            task_id=task_id,
            task_type=task_type,
            kind="msisdn",
            value=target.msisdn,
            start=target.start,
            end=target.end,
        )
        for task_id, task_type, _ in TASKS
    ]
    reference = f"PPS-DEMO-{datetime.now(UTC):%Y%m%d%H%M%S}"
    document = demo_order.document(
        reference=reference,
        court=COURT,
        agency=AGENCY,
        agency_key=agency_key.public_key(),
        tasks=tasks,
        now=datetime.now(UTC),
    )
    order_path = run.out / "order" / "order.json"
    order_path.parent.mkdir(parents=True)
    order_path.write_bytes(document)
    signature_path = order_path.with_suffix(".p7s")
    signature_path.write_bytes(pki.sign(document))
    tell.say(
        f"order {reference} to {AGENCY}, encrypted to its X25519 key "
        f"({tell.shown(_agency_key_path(run))}): {tell.shown(order_path)}, signed by the "
        f"judge as a detached CMS signature: {tell.shown(signature_path)}"
    )

    tell.section("Officers, four eyes")
    tell.say(
        "each officer is a database login of their own in ruaj_officer; who acts is the "
        "user of RUAJ_DATABASE_URL, and the database enforces four eyes on it"
    )
    for role, name in run.names.items():
        password = secrets.token_urlsafe(18)
        await tell.ruaj(
            "officer",
            "add",
            name,
            "--password-stdin",
            env=run.admin,
            who="administrator",
            stdin=password + "\n",
        )
        url = databases.with_login(run.admin["RUAJ_DATABASE_URL"], name, password)
        run.officers[role] = {**run.admin, "RUAJ_DATABASE_URL": url}
    importer, first, second = (run.names[r] for r in ROLES)
    imported = await tell.ruaj(
        "order",
        "import",
        str(order_path),
        "--signature",
        str(signature_path),
        env=run.officers["importer"],
        who=importer,
    )
    order_id = int(imported.stdout.strip())
    await tell.ruaj(
        "order",
        "approve",
        str(order_id),
        env=run.officers["importer"],
        who=f"{importer}: refused, the importer may not approve",
        expect=3,
    )
    await tell.ruaj("order", "approve", str(order_id), env=run.officers["approver_a"], who=first)
    await tell.ruaj("order", "approve", str(order_id), env=run.officers["approver_b"], who=second)
    return order_id, target


def _agency_key_path(run: Run) -> Path:
    """Where the agency's private key is."""
    return run.out / "agency" / "agency-key.pem"


# -- 8, 9, 10. execution, the agency, the audit log --------------------------------------------


async def disclose(tell: Narrator, run: Run, order_id: int, target: Target) -> None:
    """Execution, the agency opening the package (its rows checked against what the simulator
    sent for the target), and the audit log verified."""
    tell.section("Execution")
    tell.say(
        "the tasks run through SECURITY DEFINER functions that check, inside the database, "
        "the order's state, validity, identifier and range; officers cannot SELECT events"
    )
    packages = run.out / "packages"
    executed = await tell.ruaj(
        "order",
        "execute",
        str(order_id),
        "--out",
        str(packages),
        env=run.officers["importer"],
        who=run.names["importer"],
    )
    package_path = Path(executed.stdout.strip())

    tell.section("The agency opens the package")
    published = run.out / "agency" / "operator-public-key.pem"
    key = await tell.ruaj(
        "audit", "public-key", env=run.admin, who="the operator, publishing it", show_stdout=False
    )
    published.write_text(key.stdout, encoding="utf-8")
    tell.say(f"    (written to {tell.shown(published)})")
    agency = {k: v for k, v in run.admin.items() if not k.startswith("RUAJ_")}
    opened = run.out / "opened"
    await tell.ruaj(
        "package",
        "open",
        str(package_path),
        "--key",
        str(_agency_key_path(run)),
        "--operator-key",
        str(published),
        "--out",
        str(opened),
        env=agency,
        who="the agency: no database, no operator key",
    )
    rows = package.written_rows(opened)
    tell.say(
        f"rows released per task, against what the simulator sent for {target.msisdn} in "
        "the order's range:"
    )
    for task_id, task_type, topic in TASKS:
        column = "subscriber_id" if topic is None else "event_id"
        got = sorted(str(row[column]) for row in rows.get(task_id, []))
        expected = target.expected[task_id]
        verdict = run.check(got == expected, f"task {task_id}")
        tell.say(
            f"    {task_id} {task_type:<16}{len(got):>5} rows {len(expected):>5} sent  "
            f"{'the same ' + column + 's' if got == expected else 'different'}  {verdict}"
        )

    tell.section("The audit log")
    await tell.ruaj("audit", "verify", env=run.admin, who="an auditor")


# -- 11. operations ----------------------------------------------------------------------------


async def operations(tell: Narrator, run: Run) -> None:
    """`ruaj maintain` as a service for one pass, and what its /metrics then say."""
    tell.section("What operations see")
    port = stack.free_port()
    tell.say(
        f"ruaj maintain as a service for one pass, /metrics on http://127.0.0.1:{port}/metrics "
        "(scraped by Prometheus in production: deploy/prometheus, dashboard "
        "deploy/grafana/ruaj.json)"
    )
    tell.say("$ ruaj maintain      # until its first pass is done, then SIGTERM")
    env = {**run.admin, "RUAJ_METRICS_PORT": str(port)}
    log = run.out / "logs" / "maintain-service.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ruaj",
            "maintain",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            samples = await _first_pass(process, port)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await process.wait()
    if samples is None:
        raise narration.StepFailed(f"ruaj maintain served no metrics; its log: {tell.shown(log)}")
    names = [
        "ruaj_disclosure_orders",
        "ruaj_disclosure_releases_total",
        "ruaj_disclosure_refusals_total",
        "ruaj_audit_entries",
        "ruaj_audit_last_checkpoint_entries",
        "ruaj_store_partitions",
        "ruaj_legal_holds_active",
    ]
    for line in narration.metric_lines(samples, names):
        if not (line.startswith("ruaj_disclosure_") and line.endswith(" 0")):
            tell.say(f"    {line}")


async def _first_pass(
    process: asyncio.subprocess.Process, port: int
) -> list[narration.Sample] | None:
    """The service's metrics once its first pass has refreshed the store metrics."""
    async with asyncio.timeout(120):
        while process.returncode is None:
            samples = await asyncio.to_thread(narration.scrape, port)
            done = "ruaj_maintenance_step_duration_seconds_count"
            if samples and narration.total(samples, done, step="store_metrics") >= 1:
                return samples
            await asyncio.sleep(0.25)
    return None
