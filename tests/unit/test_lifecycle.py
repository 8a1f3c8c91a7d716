"""The simulator's registry events: coherent with the traffic they come with (no I/O)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest import avro, codec, lifecycle, simulator
from ruaj import cli
from ruaj.commands import simulate

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SCENARIO = simulator.Scenario(subscribers=300, events=6000, days=4, seed=23, registry=True,
                              bad_fraction=0.02, duplicate_fraction=0.02)  # fmt: skip
Ranges = dict[tuple[str, str], list[tuple[str, datetime, datetime | None]]]


@pytest.fixture(scope="module")
def sent() -> list[simulator.Message]:
    return list(simulator.messages(SCENARIO, end=END))


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _holdings(sent: list[simulator.Message]) -> Ranges:
    """(kind, value) → [(subscriber, from, to)] folded from the registry messages."""
    ranges: Ranges = defaultdict(list)
    open_: dict[tuple[str, str], tuple[str, datetime]] = {}
    for message in sent:
        if message.topic != lifecycle.TOPIC:
            continue
        fields = message.truth["fields"]
        key = (fields["identity_kind"], fields["identity_value"])
        at = _at(fields["event_time"])
        assert at is not None
        if fields["operation"] == "ASSIGN_IDENTITY":
            assert key not in open_, f"{key} assigned while held"
            open_[key] = (fields["subscriber_id"], at)
        elif fields["operation"] == "RELEASE_IDENTITY":
            holder, start = open_.pop(key)
            assert holder == fields["subscriber_id"]
            ranges[key].append((holder, start, at))
    for key, (holder, start) in open_.items():
        ranges[key].append((holder, start, None))
    return ranges


def _held(ranges: Ranges, kind: str, value: str, at: datetime) -> bool:
    return any(start <= at and (end is None or at < end) for _, start, end in ranges[(kind, value)])


def test_traffic_count_is_unchanged_and_registry_messages_come_on_top(
    sent: list[simulator.Message],
) -> None:
    traffic = [m for m in sent if m.topic in simulator.TOPICS]
    assert len(traffic) == SCENARIO.events
    registry = [m for m in sent if m.topic == lifecycle.TOPIC]
    operations = Counter(m.truth["fields"]["operation"] for m in registry)
    assert operations["UPSERT"] >= SCENARIO.subscribers
    assert operations["TERMINATE"] > 0
    assert operations["RELEASE_IDENTITY"] > 0
    assert all(m.truth["kind"] == "good" for m in registry)
    subject = codec.Codec(avro.load(), now=lambda: END)
    for message in registry:
        decoded = subject.decode(message.topic, message.value)
        assert decoded.table == "subscriber_change"
        assert decoded.row[0] == message.truth["event_id"]


def test_numbers_are_recycled_and_sims_swapped(sent: list[simulator.Message]) -> None:
    ranges = _holdings(sent)
    recycled = [k for k, held in ranges.items() if k[0] == "MSISDN" and len(held) > 1]
    assert recycled
    for key in recycled:
        (first, _, released), (second, assigned, _) = sorted(ranges[key], key=lambda r: r[1])
        assert first != second
        assert released is not None and assigned >= released + timedelta(hours=1)
    swapped = Counter(
        holder for (kind, _), held in ranges.items() if kind == "IMSI" for holder, _, _ in held
    )
    assert any(count > 1 for count in swapped.values())


def _uses(fields: dict[str, Any], topic: str) -> tuple[datetime, list[tuple[str, str]]]:
    """When a traffic record used our identities, and which (kind, value)."""
    if topic == "ruaj.cdr":
        at = fields["start_time"]
        used = [("MSISDN", fields["served_msisdn"]), ("IMSI", fields["served_imsi"])]
    elif topic == "ruaj.sms":
        at = fields["event_time"]
        used = [("MSISDN", fields["served_msisdn"]), ("IMSI", fields["served_imsi"])]
    elif topic == "ruaj.imei":
        at = fields["observed_at"]
        used = [("IMSI", fields["imsi"])] + (
            [("MSISDN", fields["msisdn"])] if fields["msisdn"] else []
        )
    else:
        at = fields["session_start"]
        used = [("MSISDN", fields["msisdn"]), ("IMSI", fields["imsi"])]
    instant = _at(at)
    assert instant is not None
    return instant, used


def test_every_identity_used_in_traffic_is_held_then_and_assigned_before(
    sent: list[simulator.Message],
) -> None:
    ranges = _holdings(sent)
    assigned_at: dict[tuple[str, str], int] = {}
    checked = 0
    for position, message in enumerate(sent):
        fields = message.truth.get("fields")
        if message.topic == lifecycle.TOPIC:
            if fields and fields["operation"] == "ASSIGN_IDENTITY":
                assigned_at.setdefault(
                    (fields["identity_kind"], fields["identity_value"]), position
                )
            continue
        if message.truth["kind"] != "good" or fields is None:
            continue
        at, used = _uses(fields, message.topic)
        for kind, value in used:
            # An MT SMS leg carries the identities of the instant its SMS was sent.
            slack = timedelta(seconds=31) if fields.get("direction") == "MT" else timedelta(0)
            assert _held(ranges, kind, value, at) or _held(ranges, kind, value, at - slack)
            assert assigned_at[(kind, value)] < position  # assigned earlier in the stream
            checked += 1
    assert checked > SCENARIO.events


def test_without_registry_the_traffic_is_what_it_was() -> None:
    plain = simulator.Scenario(subscribers=50, events=500, days=2, seed=5)
    sent = list(simulator.messages(plain, end=END))
    assert {m.topic for m in sent} <= set(simulator.TOPICS)
    assert len(sent) == 500


def test_the_command_line_asks_for_registry_events_with_a_flag() -> None:
    parser = cli.build_parser()
    assert simulate.scenario_of(parser.parse_args(["simulate", "--registry"])).registry
    assert not simulate.scenario_of(parser.parse_args(["simulate"])).registry
