"""What the simulator sent, read back from its `--truth` file (`ingest.simulator`).

`ruaj demo` checks the pipeline against it: the rows stored equal the distinct good events, the
dead letters equal the bad messages by reason, and what an order for one MSISDN releases equals
what the simulator sent naming that MSISDN in the order's range. The parties of an event are the
fields the guarded functions of disclosure match an MSISDN against (migration 0009), so "sent
for this MSISDN" means the same here as there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ingest import codec, lifecycle, population

# The fields naming an MSISDN as a party, and the event's time, per event topic.
PARTIES: dict[str, tuple[str, ...]] = {
    "ruaj.cdr": ("calling_number", "called_number", "forwarded_to", "served_msisdn"),
    "ruaj.sms": ("sender", "recipient", "served_msisdn"),
    "ruaj.imei": ("msisdn",),
    "ruaj.ipsession": ("msisdn",),
}
TIME_FIELD: dict[str, str] = {
    "ruaj.cdr": "start_time",
    "ruaj.sms": "event_time",
    "ruaj.imei": "observed_at",
    "ruaj.ipsession": "event_time",
}
TABLE_OF_TOPIC: dict[str, str] = dict(codec.TOPICS)


class TruthError(Exception):
    """The truth file cannot be read or is not one the simulator wrote."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One good message as sent: its topic, event id, time and fields (truth-file form)."""

    topic: str
    event_id: str
    at: datetime
    fields: dict[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """A subscriber's holding of an identity, as the registry events told it: [start, end)."""

    subscriber_id: str
    start: datetime
    end: datetime | None


def instant(text: str) -> datetime:
    """A truth-file time (RFC 3339 UTC with a Z) as an aware datetime."""
    return datetime.fromisoformat(text)


class Truth:
    """The messages of one simulation: counts by kind, topic and reason; good events."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()  # good, bad, duplicate
        self.good: Counter[str] = Counter()  # topic → distinct good events
        self.bad_reasons: Counter[str] = Counter()  # reason the pipeline must give → n
        self.events: dict[str, list[Event]] = {}  # event topic → its good events
        self.registry: list[dict[str, object]] = []  # SubscriberChange fields, in order

    @classmethod
    def read(cls, path: Path) -> Truth:
        """Parse a truth file."""
        truth = cls()
        try:
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    truth._add(json.loads(line))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TruthError(f"cannot read the truth file {path}: {exc}") from exc
        return truth

    def _add(self, entry: dict[str, object]) -> None:
        kind = str(entry["kind"])
        topic = str(entry["topic"])
        self.kinds[kind] += 1
        if kind == "bad":
            self.bad_reasons[str(entry["reason"])] += 1
        if kind != "good":
            return
        self.good[topic] += 1
        fields = entry["fields"]
        if not isinstance(fields, dict):
            raise TypeError("a good entry's fields are an object")
        if topic == lifecycle.TOPIC:
            self.registry.append(fields)
            return
        self.events.setdefault(topic, []).append(
            Event(topic=topic, event_id=str(entry["event_id"]),
                  at=instant(str(fields[TIME_FIELD[topic]])), fields=fields)
        )  # fmt: skip

    @property
    def messages(self) -> int:
        """Messages sent in all."""
        return sum(self.kinds.values())

    def good_by_table(self) -> dict[str, int]:
        """Distinct good events per table they are stored in (`subscriber_change` for the
        registry topic)."""
        return {TABLE_OF_TOPIC[topic]: n for topic, n in self.good.items()}

    def _naming(self, topic: str, msisdn: str) -> Iterator[Event]:
        for event in self.events.get(topic, ()):
            if any(event.fields.get(name) == msisdn for name in PARTIES[topic]):
                yield event

    def busiest_msisdn(self) -> str:
        """The subscriber MSISDN that is a party to the most calls (ties: the smallest)."""
        counts: Counter[str] = Counter()
        for event in self.events.get("ruaj.cdr", ()):
            for name in PARTIES["ruaj.cdr"]:
                value = event.fields.get(name)
                if isinstance(value, str) and value.startswith(population.COUNTRY_CODE):
                    counts[value] += 1
        if not counts:
            raise TruthError("the simulation sent no call between subscribers")
        return min(counts, key=lambda msisdn: (-counts[msisdn], msisdn))

    def sent(self, topic: str, msisdn: str, start: datetime, end: datetime) -> set[str]:
        """Event ids of the good events of `topic` naming `msisdn` as a party, timed in
        [start, end)."""
        return {e.event_id for e in self._naming(topic, msisdn) if start <= e.at < end}

    def period(self) -> tuple[datetime, datetime]:
        """The first and the last time of the traffic sent."""
        times = [e.at for events in self.events.values() for e in events]
        if not times:
            raise TruthError("the simulation sent no traffic")
        return min(times), max(times)

    def holdings(self, kind: str, value: str) -> list[Holding]:
        """Who held the identity `kind` (MSISDN, IMSI, ICCID) `value`, as the registry events
        assigned and released it."""
        found: list[Holding] = []
        open_since: dict[str, datetime] = {}
        for fields in self.registry:
            if fields.get("identity_kind") != kind or fields.get("identity_value") != value:
                continue
            subscriber = str(fields["subscriber_id"])
            at = instant(str(fields["event_time"]))
            if fields.get("operation") == "ASSIGN_IDENTITY":
                open_since[subscriber] = at
            elif fields.get("operation") == "RELEASE_IDENTITY" and subscriber in open_since:
                found.append(Holding(subscriber_id=subscriber, start=open_since.pop(subscriber),
                                     end=at))  # fmt: skip
        found += [Holding(subscriber_id=s, start=at, end=None) for s, at in open_since.items()]
        return sorted(found, key=lambda h: (h.start, h.subscriber_id))

    def holders(self, kind: str, value: str, start: datetime, end: datetime) -> list[str]:
        """Subscriber ids of the holdings of an identity that overlap [start, end), in order."""
        return [
            h.subscriber_id
            for h in self.holdings(kind, value)
            if h.start < end and (h.end is None or h.end > start)
        ]
