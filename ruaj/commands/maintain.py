"""`ruaj maintain`: the maintenance service (partitions ahead, retention, holds, checkpoints).

Wiring only: the steps live in `store.maintenance`, `disclosure.checkpoint` and `ingest.topics`;
this module puts them in order, runs one pass (`--once`, `--dry-run`) or a pass every
`RUAJ_MAINTAIN_INTERVAL_SECONDS` while serving `/metrics`, `/healthz` and `/readyz`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pydantic

from disclosure import checkpoint
from disclosure import metrics as disclosure_metrics
from disclosure.settings import DisclosureSettings
from ingest import topics
from ingest.settings import IngestSettings
from ruaj import config, service
from store import db, maintenance
from store.settings import StoreSettings

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Keeps the store within the law, as a service or for one pass. Each pass, in order: creates the
day partitions of today and the coming RUAJ_PARTITIONS_AHEAD_DAYS days; expires legal holds
whose time is up (erasing their copies); drops every partition whose whole day lies before
now - the window of its category (detach, then drop; rows under an active hold are first copied
to hold storage; each drop is audited); erases the subscribers whose contract ended more than
RUAJ_RETENTION_SUBSCRIBER_DAYS ago, with their identity history and change log (each erasure
audited, the subscriber named by digest only); prunes the IP-attribution spans of sessions whose
records were dropped; expires the orders past their validity (by the database's clock, each
audited); signs an audit checkpoint every
RUAJ_CHECKPOINT_EVERY_ENTRIES entries or RUAJ_CHECKPOINT_EVERY_MINUTES minutes; makes sure the
dead-letter topic ruaj.dlq keeps RUAJ_RETENTION_DEAD_LETTER_DAYS days; refreshes the metrics
(store, retention, holds, audit, and orders by state, releases and refusals from the audit log).
A step that fails is logged and counted and the next still runs. One pass runs at a time per
database: --once waits for a pass running elsewhere, the service skips its turn."""


def rfc3339(text: str) -> datetime:
    """An RFC 3339 instant with its offset (`2026-11-22T05:00:00Z`)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the UTC offset (Z or ±hh:mm) in {text!r}")
    return value.astimezone(UTC)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj maintain`."""
    parser = commands.add_parser(
        "maintain",
        help="partitions ahead, retention drops, hold expiry, subscriber erasure, checkpoints",
        description=DESCRIPTION,
    )
    parser.add_argument("--once", action="store_true", help="run one pass and exit")
    parser.add_argument(
        "--now", type=rfc3339, metavar="RFC3339",
        help="act as if it were this time (implies --once)",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true",
        help="print what one pass would do, change nothing (implies --once)",
    )  # fmt: skip
    parser.set_defaults(handler=_maintain)


def _optional_ingest_settings() -> IngestSettings | None:
    try:
        return IngestSettings()  # type: ignore[call-arg]  # from the environment
    except pydantic.ValidationError:
        return None  # no broker configured: the dead-letter topic step says it is skipped


def steps(
    store_settings: StoreSettings,
    disclosure_settings: DisclosureSettings,
    ingest_settings: IngestSettings | None,
) -> list[maintenance.NamedStep]:
    """The steps of one pass, in order."""
    partitions, holds, retention, subscribers, session_spans, expiry, metrics = (
        maintenance.STORE_STEPS
    )
    return [
        partitions,
        holds,
        retention,
        subscribers,
        session_spans,
        expiry,
        maintenance.NamedStep("checkpoint", checkpoint.maintenance_step(disclosure_settings)),
        maintenance.NamedStep(
            "dlq_topic",
            topics.maintenance_step(ingest_settings, store_settings.retention_dead_letter_days),
        ),
        maintenance.NamedStep("disclosure_metrics", disclosure_metrics.maintenance_step()),
        metrics,
    ]


async def _maintain(args: argparse.Namespace) -> int:
    store_settings = config.load(StoreSettings)
    disclosure_settings = config.load(DisclosureSettings)
    plan = steps(store_settings, disclosure_settings, _optional_ingest_settings())
    once = args.once or args.dry_run or args.now is not None
    pool = await db.create_pool(store_settings)
    try:
        if once:
            return await _one_pass(args, store_settings, pool, plan)
        await _serve(store_settings, pool, plan)
        return 0
    finally:
        await pool.close()


def _printer(prefix: str) -> Callable[[str], None]:
    def report(line: str) -> None:
        print(f"{prefix}{line}", flush=True)

    return report


async def _one_pass(
    args: argparse.Namespace,
    settings: StoreSettings,
    pool: db.Pool,
    plan: list[maintenance.NamedStep],
) -> int:
    now = args.now or datetime.now(UTC)
    ctx = maintenance.Context(
        now=now,
        dry_run=args.dry_run,
        settings=settings,
        pool=pool,
        report=_printer("dry run: " if args.dry_run else ""),
    )
    async with maintenance.exclusive_pass(pool, wait=True):
        outcome = await maintenance.run_pass(ctx, plan)
    if not outcome.ok:
        print(
            f"ruaj: maintenance pass at {now.isoformat()} finished with failed steps: "
            f"{', '.join(outcome.failed)} (see the log; the next pass retries them)",
            file=sys.stderr,
        )
        return 1
    return 0


async def _serve(settings: StoreSettings, pool: db.Pool, plan: list[maintenance.NamedStep]) -> None:
    stop = asyncio.Event()
    remove_handlers = service.install_signal_handlers(stop.set)
    service_settings = config.load(service.ServiceSettings)

    async def ready() -> dict[str, bool]:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"database": True}

    def log_line(line: str) -> None:
        logger.info(line)

    async def passes() -> None:
        while not stop.is_set():
            ctx = maintenance.Context(
                now=datetime.now(UTC), dry_run=False, settings=settings, pool=pool, report=log_line
            )
            async with maintenance.exclusive_pass(pool, wait=False) as got:
                if got:
                    outcome = await maintenance.run_pass(ctx, plan)
                    logger.info("maintenance pass done", extra={"failed": outcome.failed})
                else:
                    logger.info("another maintenance pass is running; skipping this turn")
            try:
                async with asyncio.timeout(settings.maintain_interval_seconds):
                    await stop.wait()
            except TimeoutError:
                pass

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                service.serve_endpoints(service_settings, ready, stop, maintenance.REGISTRY)
            )
            group.create_task(passes())
    finally:
        remove_handlers()
