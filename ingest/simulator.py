"""`ruaj simulate`: synthetic network traffic into Kafka, with bad and re-sent messages.

The library API is what `ruaj simulate`, `ruaj demo` and the tests use:
- `messages(scenario, end=…)` — the messages, a pure and reproducible generator (the same
  scenario, seed and end give the same bytes, event ids included);
- `produce(settings, scenario, …)` — creates the topics and produces the messages, writing the
  truth file, and returns a `Summary`.

A scenario of `events` messages holds exactly round(events * bad_fraction) bad messages,
round(events * duplicate_fraction) duplicates and good events for the rest, interleaved at
random. Good events come from `ingest.traffic` over a `ingest.population` of `subscribers`,
spread over the `days` before `end` (never after it). Bad messages cover every reason the
pipeline must dead-letter (`BAD_REASONS`): random bytes and truncated bodies (`malformed`), an
unknown fingerprint, trailing bytes, an enum index beyond the symbols, a bad IMEI Luhn digit, a
timestamp 30 days ahead, an end before its start, an MSISDN in national format. A duplicate is
a good message sent again: the same key and bytes, so the same event id.

With `registry`, the SubscriberChange events of the population's history (`ingest.lifecycle`)
go to `ruaj.subscriber` as well, each before the first traffic message at or after its time.

The truth file has one JSON object per message, in production order: `topic`, `partition`,
`offset`, `kind` (`good`, `bad`, `duplicate`), `key`; for good ones `event_id`, `activity` (what
the legs of one call, SMS or session share; 0 for registry events) and `fields` — every Avro
field as sent, timestamps as RFC 3339 UTC with microseconds; for bad ones the expected `reason`;
for duplicates the `event_id` they repeat.

Production uses aiokafka with `acks="all"` and without the idempotent producer (the embedded
broker cannot grant producer ids); messages are keyed by subscriber, so one subscriber's events
stay in order within a partition.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import fastavro
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from ingest import avro, identifiers, lifecycle, population, traffic
from ingest.errors import IngestError
from ingest.settings import IngestSettings

TOPICS = ("ruaj.cdr", "ruaj.sms", "ruaj.imei", "ruaj.ipsession")
# Every topic the simulator may send to: traffic, and the registry's SubscriberChange events.
ALL_TOPICS = (*TOPICS, lifecycle.TOPIC)
BAD_REASONS = ("malformed", "unknown_schema", "trailing_bytes", "invalid_enum", "invalid_imei",
               "future_time", "invalid_time", "invalid_identifier")  # fmt: skip
_TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_DUPLICATE_WINDOW = 1000  # duplicates repeat one of the last this many good messages
# Enum fields given an extra symbol to make `invalid_enum` messages, per topic.
_EXTRA_SYMBOL = {
    "ruaj.cdr": ("call_type", "FAX"),
    "ruaj.sms": ("message_type", "RCS"),
    "ruaj.imei": ("reason", "PAGING"),
    "ruaj.ipsession": ("status", "ACCOUNTING_ON"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """What to simulate (DESIGN §10 options of `ruaj simulate`)."""

    subscribers: int = 1000
    events: int = 10_000  # messages in all: good + bad + duplicates
    rate: float | None = None  # messages per second; None: as fast as the broker takes them
    days: int = 7
    seed: int
    bad_fraction: float = 0.0
    duplicate_fraction: float = 0.0
    # Also send the registry's SubscriberChange events (contract starts, identity assignments
    # and releases, SIM swaps, recycled numbers, contract ends: `ingest.lifecycle`), in
    # addition to the `events` messages.
    registry: bool = False

    def __post_init__(self) -> None:
        if self.subscribers < 1:
            raise ValueError("--subscribers must be at least 1")
        if self.events < 0:
            raise ValueError("--events must not be negative")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("--rate must be a positive number")
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        for name in ("bad_fraction", "duplicate_fraction"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if self.bad + self.duplicates > self.events:
            raise ValueError("--bad-fraction and --duplicate-fraction add up to more than 1")
        if self.duplicates and self.good == 0:
            raise ValueError("duplicates need at least one good event to repeat")

    @property
    def bad(self) -> int:
        """Number of bad messages."""
        return round(self.events * self.bad_fraction)

    @property
    def duplicates(self) -> int:
        """Number of duplicates."""
        return round(self.events * self.duplicate_fraction)

    @property
    def good(self) -> int:
        """Number of good events."""
        return self.events - self.bad - self.duplicates


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message to produce and its truth record."""

    topic: str
    key: bytes
    value: bytes
    truth: dict[str, Any]


@dataclass(slots=True)
class Summary:
    """What a simulation produced."""

    seed: int
    messages: int = 0
    seconds: float = 0.0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, kind) → n
    reasons: Counter[str] = field(default_factory=Counter)  # bad reason → n


def new_seed() -> int:
    """A fresh random seed (print it: it reproduces the run)."""
    return secrets.randbelow(2**31)


def rfc3339(instant: datetime) -> str:
    """`instant` as RFC 3339 UTC text with microseconds, as in the truth file."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in record.items()}


def messages(scenario: Scenario, *, end: datetime, schemas: avro.Schemas | None = None,
             people: population.Population | None = None) -> Iterator[Message]:  # fmt: skip
    """The scenario's messages in production order (see the module docstring).

    `people` replaces the population built from the seed; it must span `[end - days, end)`.
    With `scenario.registry`, the subscriber lifecycle (`ingest.lifecycle`) is applied to it
    and each SubscriberChange message is sent before the first traffic message at or after
    its event time (the history before the period first of all).
    """
    schemas = schemas or avro.load()
    start = end - timedelta(days=scenario.days)
    if people is None:
        people = population.build(random.Random(f"{scenario.seed}:population"),
                                  scenario.subscribers, start, end)  # fmt: skip
        if scenario.registry:
            lifecycle.apply(people, random.Random(f"{scenario.seed}:lifecycle"))
    registry = _RegistryMessages(people, scenario, schemas)
    generator = traffic.Traffic(people, scenario.seed)
    bad = _BadMessages(generator, schemas, random.Random(f"{scenario.seed}:bad"), end)
    mix = random.Random(f"{scenario.seed}:mix")
    good_events = generator.events(scenario.good)
    recent: deque[Message] = deque(maxlen=_DUPLICATE_WINDOW)
    left = {"bad": scenario.bad, "duplicate": scenario.duplicates, "good": scenario.good}
    for position in range(scenario.events):
        draw = mix.random() * (scenario.events - position)
        if draw < left["bad"]:
            left["bad"] -= 1
            yield bad.next()
        elif (draw < left["bad"] + left["duplicate"] and recent) or not left["good"]:
            left["duplicate"] -= 1
            original = mix.choice(recent)
            truth = {"topic": original.topic, "kind": "duplicate", "key": original.truth["key"],
                     "event_id": original.truth["event_id"]}  # fmt: skip
            yield Message(original.topic, original.key, original.value, truth)
        else:
            left["good"] -= 1
            event = next(good_events)
            yield from registry.until(event.at)
            name = event.topic.removeprefix(avro.TOPIC_PREFIX)
            truth = {"topic": event.topic, "kind": "good", "key": event.key.decode(),
                     "event_id": event.record["event_id"], "activity": event.activity,
                     "fields": _jsonable(event.record)}  # fmt: skip
            message = Message(event.topic, event.key, schemas.encode(name, event.record), truth)
            recent.append(message)
            yield message
    yield from registry.until(None)


class _RegistryMessages:
    """The SubscriberChange messages of a scenario, handed out in time order."""

    def __init__(self, people: population.Population, scenario: Scenario,
                 schemas: avro.Schemas) -> None:  # fmt: skip
        self._schemas = schemas
        self._pending = (iter(lifecycle.changes(people, scenario.seed)) if scenario.registry
                         else iter(()))  # fmt: skip
        self._next = next(self._pending, None)

    def until(self, instant: datetime | None) -> Iterator[Message]:
        """The messages of changes at or before `instant` not sent yet (all when None)."""
        while self._next is not None and (instant is None or self._next[0] <= instant):
            _, record, key = self._next
            self._next = next(self._pending, None)
            truth = {"topic": lifecycle.TOPIC, "kind": "good", "key": key.decode(),
                     "event_id": record["event_id"], "activity": 0,
                     "fields": _jsonable(record)}  # fmt: skip
            name = lifecycle.TOPIC.removeprefix(avro.TOPIC_PREFIX)
            yield Message(lifecycle.TOPIC, key, self._schemas.encode(name, record), truth)


class _BadMessages:
    """One bad message of each reason in turn (topics and details at random)."""

    def __init__(self, generator: traffic.Traffic, schemas: avro.Schemas, rng: random.Random,
                 end: datetime) -> None:  # fmt: skip
        self._traffic = generator
        self._schemas = schemas
        self._rng = rng
        self._end = end
        self._turn = 0
        self._subscriber = generator.population.subscribers[0]
        self._makers: dict[str, Callable[[], tuple[str, bytes]]] = {
            "malformed": self._malformed,
            "unknown_schema": self._unknown_schema,
            "trailing_bytes": self._trailing_bytes,
            "invalid_enum": self._invalid_enum,
            "invalid_imei": self._invalid_imei,
            "future_time": self._future_time,
            "invalid_time": self._invalid_time,
            "invalid_identifier": self._invalid_identifier,
        }

    def next(self) -> Message:
        reason = BAD_REASONS[self._turn % len(BAD_REASONS)]
        self._turn += 1
        self._subscriber = subscriber = self._rng.choice(self._traffic.population.subscribers)
        topic, value = self._makers[reason]()
        truth = {"topic": topic, "kind": "bad", "key": subscriber.subscriber_id, "reason": reason}
        return Message(topic, subscriber.key, value, truth)

    def _record(self, topic: str | None = None, at: datetime | None = None) -> (
        tuple[str, dict[str, Any]]
    ):  # fmt: skip
        topic = topic or self._rng.choice(TOPICS)
        if at is None:
            start = self._traffic.population.start
            at = start + (self._end - start) * self._rng.random()
        return topic, self._traffic.sample(topic, self._subscriber, at)

    def _encode(self, topic: str, record: dict[str, Any]) -> bytes:
        return self._schemas.encode(topic.removeprefix(avro.TOPIC_PREFIX), record)

    def _malformed(self) -> tuple[str, bytes]:
        topic, record = self._record()
        if self._rng.random() < 0.5:
            junk = bytes([self._rng.choice(range(1, 0xC3))])
            junk += self._rng.randbytes(self._rng.randrange(8, 80))
            return topic, junk
        value = self._encode(topic, record)
        return topic, value[: self._rng.randrange(10, len(value))]

    def _unknown_schema(self) -> tuple[str, bytes]:
        topic, record = self._record()
        while True:
            fingerprint = self._rng.getrandbits(64)
            if self._schemas.by_fingerprint(fingerprint) is None:
                break
        value = self._encode(topic, record)
        header = avro.SINGLE_OBJECT_MAGIC + fingerprint.to_bytes(8, "little")
        return topic, header + value[10:]

    def _trailing_bytes(self) -> tuple[str, bytes]:
        topic, record = self._record()
        extra = self._rng.randbytes(self._rng.randrange(1, 5))
        return topic, self._encode(topic, record) + extra

    def _invalid_enum(self) -> tuple[str, bytes]:
        topic, record = self._record()
        name = topic.removeprefix(avro.TOPIC_PREFIX)
        reader = self._schemas.reader(name)
        field_name, symbol = _EXTRA_SYMBOL[topic]
        schema = json.loads(json.dumps(reader.schema))
        for spec in schema["fields"]:
            if spec["name"] == field_name:
                spec["type"]["symbols"].append(symbol)
        body = io.BytesIO()
        fastavro.schemaless_writer(
            body, fastavro.parse_schema(schema), record | {field_name: symbol}
        )
        return topic, reader.header + body.getvalue()

    def _invalid_imei(self) -> tuple[str, bytes]:
        topic, record = self._record(self._rng.choice(("ruaj.imei", "ruaj.cdr")))
        column = "imei" if topic == "ruaj.imei" else "served_imei"
        imei = record[column] or population.TACS[0] + "0000000"
        imei = imei[:14]  # an IMEI, not an IMEISV, with its check digit made wrong
        good = identifiers.luhn_digit(imei)
        record[column] = imei + str((good + self._rng.randrange(1, 10)) % 10)
        return topic, self._encode(topic, record)

    def _future_time(self) -> tuple[str, bytes]:
        ahead = self._end + timedelta(days=30, seconds=self._rng.randrange(86400))
        topic, record = self._record(self._rng.choice(("ruaj.imei", "ruaj.sms")), ahead)
        return topic, self._encode(topic, record)

    def _invalid_time(self) -> tuple[str, bytes]:
        topic, record = self._record("ruaj.cdr")
        record["end_time"] = record["start_time"] - timedelta(seconds=self._rng.randrange(1, 600))
        return topic, self._encode(topic, record)

    def _invalid_identifier(self) -> tuple[str, bytes]:
        topic, record = self._record(self._rng.choice(("ruaj.cdr", "ruaj.sms")))
        msisdn = record["served_msisdn"]
        record["served_msisdn"] = "0" + msisdn[len(population.COUNTRY_CODE) :]  # national format
        return topic, self._encode(topic, record)


async def create_topics(settings: IngestSettings, topics: tuple[str, ...] = ALL_TOPICS) -> None:
    """Create `topics` with `kafka_topic_partitions` partitions; existing ones are left alone.

    The replication factor is 3, or the number of brokers when the cluster is smaller.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
    except KafkaError as exc:
        raise IngestError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        cluster = await admin.describe_cluster()
        replicas = max(1, min(3, len(cluster.get("brokers", []))))
        response = await admin.create_topics(
            [NewTopic(t, settings.kafka_topic_partitions, replicas) for t in topics]
        )
        for topic, code, *detail in response.topic_errors:
            if code not in (0, _TOPIC_EXISTS):
                raise IngestError(f"cannot create topic {topic}: Kafka error {code} {detail}")
    finally:
        await admin.close()


async def produce(settings: IngestSettings, scenario: Scenario, *, end: datetime | None = None,
                  truth: Path | None = None, progress: Callable[[int], None] | None = None,
                  people: population.Population | None = None) -> Summary:  # fmt: skip
    """Create the topics and produce the scenario's messages; returns what was sent.

    `end` is the end of the simulated period (default now); `progress` is called with the
    number of messages acknowledged so far.
    """
    end = end or datetime.now(UTC)
    summary = Summary(seed=scenario.seed)
    started = time.monotonic()
    await create_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        with _TruthWriter(truth) as writer:
            pending: list[tuple[Message, asyncio.Future[Any]]] = []
            for count, message in enumerate(messages(scenario, end=end, people=people), 1):
                future = await producer.send(message.topic, message.value, key=message.key)
                pending.append((message, future))
                if len(pending) >= 2000:
                    await _settle(pending, writer, summary, progress)
                if scenario.rate is not None:
                    await _pace(started, count, scenario.rate)
            await _settle(pending, writer, summary, progress)
    finally:
        await producer.stop()
    summary.seconds = time.monotonic() - started
    return summary


async def _pace(started: float, sent: int, rate: float) -> None:
    ahead = started + sent / rate - time.monotonic()
    if ahead > 0.005:
        await asyncio.sleep(ahead)


async def _settle(pending: list[tuple[Message, asyncio.Future[Any]]], writer: _TruthWriter,
                  summary: Summary, progress: Callable[[int], None] | None) -> None:  # fmt: skip
    """Wait for the acknowledgements of `pending`, record them, and empty it."""
    results = await asyncio.gather(*(future for _, future in pending))
    for (message, _), metadata in zip(pending, results, strict=True):
        writer.write(message.truth | {"partition": metadata.partition, "offset": metadata.offset})
        summary.messages += 1
        summary.counts[(message.topic, message.truth["kind"])] += 1
        if message.truth["kind"] == "bad":
            summary.reasons[message.truth["reason"]] += 1
    pending.clear()
    if progress is not None:
        progress(summary.messages)


class _TruthWriter:
    """JSON lines to a file, or nothing when there is no file."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def __enter__(self) -> _TruthWriter:
        if self._path is not None:
            self._file = self._path.open("w", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, entry: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
