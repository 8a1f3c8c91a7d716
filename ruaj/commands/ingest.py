"""`ruaj ingest`: the ingest worker as a service (wiring only: the work is `ingest.consumer`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Mapping, Sequence

from ingest import consumer, metrics
from ingest.errors import BrokerUnavailable
from ingest.settings import IngestSettings
from ruaj import config, service
from store import writer
from store.settings import StoreSettings

DESCRIPTION = """\
Consumes the event topics in one consumer group and writes their rows to PostgreSQL, each batch
with its offsets in one transaction, so that every good event is stored exactly once whatever
crashes. Messages that do not decode exactly or break a rule go to ruaj.dlq with headers naming
the source topic, partition, offset and reason; events already older than their retention window
are counted as expired and stored nowhere. Database and broker failures are retried, never
dead-lettered. SIGTERM or SIGINT writes the batch in flight with its offsets and exits 0.
Serves /metrics, /healthz and /readyz on RUAJ_METRICS_PORT."""

# CPython collects its youngest generation after every 700 new container objects. The worker
# makes about a dozen per message (Kafka record, Avro tuple, row, batch entries), nearly none in
# a reference cycle, and each collection of an older generation walks the hundreds of thousands
# of objects start-up made (modules, schemas, settings), which live as long as the process: at
# the default thresholds the collector took a fifth of the worker's CPU (py-spy, `make bench`).
# Start-up's objects are frozen out of collection. The young generation's count is new objects
# less those freed since, so it follows what is alive: a batch keeps two per message (its entry
# and its row) until it is written, and up to three batches of the default 20,000 messages live
# at once (one collected, two written). A threshold above that lets batches come and go without
# the collector walking each one's objects once (0.85 µs a message); it still runs once cyclic
# garbage (futures, exceptions) reaches the rest, a few MB at most, and the oldest rarely.
GC_THRESHOLDS = (200_000, 50, 1000)


def tune_gc() -> None:
    """Freeze what start-up made out of collection and raise the thresholds (`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _topics(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in consumer.ALL_TOPICS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown topic(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(consumer.ALL_TOPICS)}"
        )
    return names


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj ingest`."""
    parser = commands.add_parser(
        "ingest", help="consume the event topics into PostgreSQL", description=DESCRIPTION
    )
    parser.add_argument(
        "--topics", type=_topics, default=consumer.ALL_TOPICS, metavar="T,…",
        help=f"topics to consume (default all: {','.join(consumer.ALL_TOPICS)})",
    )  # fmt: skip
    parser.add_argument(
        "--group", metavar="G", help="consumer group (default RUAJ_INGEST_GROUP, ruaj-ingest)"
    )
    parser.add_argument(
        "--until-idle", type=_seconds, metavar="SECONDS",
        help="exit 0 after this many seconds without a new message, printing what was "
        "ingested per topic and result",
    )  # fmt: skip
    parser.set_defaults(handler=_ingest)


async def _ingest(args: argparse.Namespace) -> int:
    settings = config.load(IngestSettings)
    store_settings = config.load(StoreSettings)
    service_settings = config.load(service.ServiceSettings)
    options = consumer.Options(
        topics=args.topics, group=args.group or settings.ingest_group, until_idle=args.until_idle
    )
    worker = consumer.Worker(settings, store_settings, options)
    tune_gc()  # start-up is over: everything imported, settings and schemas loaded
    stop_endpoints = asyncio.Event()

    async def work() -> int:
        try:
            return await worker.run()
        finally:
            stop_endpoints.set()

    remove_handlers = service.install_signal_handlers(worker.stop)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                service.serve_endpoints(
                    service_settings, worker.ready, stop_endpoints, metrics.REGISTRY
                )
            )
            running = group.create_task(work())
    except BaseExceptionGroup as grouped:
        # One task failed and the other was cancelled: report the failure itself.
        failure = grouped.exceptions[0]
        if isinstance(failure, BrokerUnavailable):
            raise config.UsageError(str(failure)) from failure
        raise failure from None
    finally:
        remove_handlers()
    code = running.result()
    if args.until_idle is not None:
        _print_summary(worker.results, args.topics)
    return code


def _print_summary(results: Mapping[tuple[str, str], int], topics: Sequence[str]) -> None:
    """What a run to idleness did, per topic and result (the ruaj_ingest_records_total counts)."""
    total = sum(results.values())
    print(f"ingested {total:,} records")
    print(f"{'topic':<16}" + "".join(f"{r:>15}" for r in writer.RESULTS))
    for topic in topics:
        counts = [results.get((topic, result), 0) for result in writer.RESULTS]
        print(f"{topic:<16}" + "".join(f"{n:>15,}" for n in counts))
    sums = [sum(n for (_, r), n in results.items() if r == result) for result in writer.RESULTS]
    print(f"{'total':<16}" + "".join(f"{n:>15,}" for n in sums))
