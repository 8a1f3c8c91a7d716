"""`ruaj simulate`: produce synthetic traffic to the broker (DESIGN §10)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ingest import simulator
from ingest.settings import IngestSettings
from ruaj import config, progress

DESCRIPTION = """\
Produces coherent synthetic traffic for N subscribers to ruaj.cdr, ruaj.sms, ruaj.imei and
ruaj.ipsession (creating the topics with RUAJ_KAFKA_TOPIC_PARTITIONS partitions if missing):
calls with their legs, SMS, IMEI observations and handset changes, IP sessions with CGNAT port
blocks, spread over the DAYS before now. The same --seed gives the same events; without one a
random seed is used and printed. --bad-fraction adds messages the pipeline must dead-letter (one
of each reason in turn), --duplicate-fraction re-sends good ones, --truth writes a JSON line per
message sent. With --registry, the subscribers' registry history goes to ruaj.subscriber as
well (in addition to the --events messages): contract starts with KYC data, MSISDN/IMSI/ICCID
assignments and releases, SIM swaps, contract ends, and numbers recycled to new subscribers —
each identity assigned before traffic uses it."""


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    parse.__name__ = kind.__name__
    return parse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj simulate`."""
    parser = commands.add_parser(
        "simulate", help="produce synthetic traffic to the broker", description=DESCRIPTION
    )
    parser.add_argument(
        "--subscribers",
        type=_positive(int),
        default=1000,
        metavar="N",
        help="subscribers of the simulated network (default 1000)",
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--events",
        type=int,
        metavar="N",
        help="messages to send in all, as fast as the broker takes them (default 10000)",
    )
    amount.add_argument(
        "--rate", type=_positive(float), metavar="R", help="messages per second (with --duration)"
    )
    parser.add_argument(
        "--duration", type=_positive(float), metavar="S", help="seconds to send at --rate"
    )
    parser.add_argument(
        "--days",
        type=_positive(int),
        default=7,
        metavar="D",
        help="days before now that events are spread over (default 7)",
    )
    parser.add_argument(
        "--seed", type=int, metavar="S", help="seed of the generator (default: random, printed)"
    )
    parser.add_argument(
        "--bad-fraction",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="fraction of messages that are bad (default 0)",
    )
    parser.add_argument(
        "--duplicate-fraction",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="fraction of messages that re-send a good event (default 0)",
    )
    parser.add_argument(
        "--registry",
        action="store_true",
        help="also send the subscribers' SubscriberChange events to ruaj.subscriber",
    )
    parser.add_argument("--truth", type=Path, metavar="FILE",
                        help="write one JSON line per message sent")  # fmt: skip
    parser.set_defaults(handler=_simulate)


def scenario_of(args: argparse.Namespace) -> simulator.Scenario:
    """The scenario the command line asks for; `config.UsageError` if it is inconsistent."""
    if (args.rate is None) != (args.duration is None):
        raise config.UsageError("--rate and --duration go together")
    if args.events is not None and args.events < 0:
        raise config.UsageError("--events must not be negative")
    events = args.events if args.events is not None else 10_000
    if args.rate is not None:
        events = round(args.rate * args.duration)
    try:
        return simulator.Scenario(
            subscribers=args.subscribers,
            events=events,
            rate=args.rate,
            days=args.days,
            seed=args.seed if args.seed is not None else simulator.new_seed(),
            bad_fraction=args.bad_fraction,
            duplicate_fraction=args.duplicate_fraction,
            registry=args.registry,
        )
    except ValueError as exc:
        raise config.UsageError(str(exc)) from exc


async def _simulate(args: argparse.Namespace) -> int:
    scenario = scenario_of(args)
    settings = config.load(IngestSettings)
    meter = progress.Progress("simulate", scenario.events)
    try:
        summary = await simulator.produce(settings, scenario, truth=args.truth, progress=meter.set)
    finally:
        meter.close()
    _print(summary, args.truth)
    return 0


def _print(summary: simulator.Summary, truth: Path | None) -> None:
    print(f"sent {summary.messages:,} messages in {summary.seconds:.1f} s "
          f"(seed {summary.seed}: --seed {summary.seed} sends the same events again)")  # fmt: skip
    kinds = ("good", "bad", "duplicate")
    print(f"{'topic':<16}" + "".join(f"{k:>11}" for k in kinds))
    for topic in simulator.ALL_TOPICS:
        if topic not in simulator.TOPICS and not any(summary.counts[(topic, k)] for k in kinds):
            continue  # the registry topic, when not simulated
        print(f"{topic:<16}" + "".join(f"{summary.counts[(topic, k)]:>11,}" for k in kinds))
    totals = [sum(n for (_, k), n in summary.counts.items() if k == kind) for kind in kinds]
    print(f"{'total':<16}" + "".join(f"{n:>11,}" for n in totals))
    if summary.reasons:
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(summary.reasons.items()))
        print(f"bad by reason: {reasons}")
    if truth is not None:
        print(f"truth: {truth}")
