"""The simulator's messages: reproducible, exact in their mix, and coherent (no I/O)."""

from __future__ import annotations

import argparse
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest import avro, codec, identifiers, simulator
from ingest.errors import PoisonRecord
from ruaj import cli, config
from ruaj.commands import simulate

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SCENARIO = simulator.Scenario(subscribers=150, events=4000, days=3, seed=11,
                              bad_fraction=0.08, duplicate_fraction=0.04)  # fmt: skip


@pytest.fixture(scope="module")
def sent() -> list[simulator.Message]:
    return list(simulator.messages(SCENARIO, end=END))


def _good(sent: list[simulator.Message], topic: str | None = None) -> list[dict[str, Any]]:
    return [
        m.truth["fields"]
        for m in sent
        if m.truth["kind"] == "good" and (topic is None or m.topic == topic)
    ]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_same_seed_sends_the_same_bytes(sent: list[simulator.Message]) -> None:
    again = list(simulator.messages(SCENARIO, end=END))
    assert [(m.topic, m.key, m.value) for m in again] == [(m.topic, m.key, m.value) for m in sent]
    other = list(simulator.messages(simulator.Scenario(**{**_fields(SCENARIO), "seed": 12}),
                                    end=END))  # fmt: skip
    assert {m.value for m in other}.isdisjoint({m.value for m in sent})


def _fields(scenario: simulator.Scenario) -> dict[str, Any]:
    return {name: getattr(scenario, name) for name in scenario.__dataclass_fields__}


def test_the_mix_is_exact(sent: list[simulator.Message]) -> None:
    kinds = Counter(m.truth["kind"] for m in sent)
    assert len(sent) == 4000
    assert kinds == Counter(good=4000 - 320 - 160, bad=320, duplicate=160)
    reasons = Counter(m.truth["reason"] for m in sent if m.truth["kind"] == "bad")
    assert set(reasons) == set(simulator.BAD_REASONS)
    assert max(reasons.values()) - min(reasons.values()) <= 1
    assert {m.topic for m in sent if m.truth["kind"] == "good"} == set(simulator.TOPICS)


def test_every_message_decodes_as_its_truth_says(sent: list[simulator.Message]) -> None:
    subject = codec.Codec(avro.load(), now=lambda: END)
    earlier: dict[str, bytes] = {}
    for message in sent:
        truth = message.truth
        if truth["kind"] == "bad":
            with pytest.raises(PoisonRecord) as caught:
                subject.decode(message.topic, message.value)
            assert caught.value.reason == truth["reason"]
            continue
        decoded = subject.decode(message.topic, message.value)
        assert decoded.row[0] == truth["event_id"]
        if truth["kind"] == "good":
            assert truth["event_id"] not in earlier
            earlier[truth["event_id"]] = message.value
        else:  # a duplicate: the very bytes of an earlier good message
            assert earlier[truth["event_id"]] == message.value


def test_events_lie_in_the_period_and_each_key_is_in_time_order(
    sent: list[simulator.Message],
) -> None:
    time_field = {"ruaj.cdr": "end_time", "ruaj.sms": "event_time", "ruaj.imei": "observed_at",
                  "ruaj.ipsession": "event_time"}  # fmt: skip
    last: dict[str, datetime] = {}
    instants = []
    for message in sent:
        if message.truth["kind"] != "good":
            continue
        at = _at(message.truth["fields"][time_field[message.topic]])
        instants.append(at)
        assert at >= last.get(message.truth["key"], at)
        last[message.truth["key"]] = at
    assert END - timedelta(days=3) <= min(instants) < END - timedelta(days=2)
    assert END - timedelta(days=1) < max(instants) < END


def test_imeis_are_valid_and_handset_changes_are_reported(sent: list[simulator.Message]) -> None:
    imeis = [f["imei"] for f in _good(sent, "ruaj.imei")]
    imeis += [f["served_imei"] for f in _good(sent, "ruaj.cdr") + _good(sent, "ruaj.sms")]
    imeis += [f["imei"] for f in _good(sent, "ruaj.ipsession")]
    present = [i for i in imeis if i is not None]
    assert all(identifiers.imei(i) is not None for i in present)
    lengths = Counter(len(i) for i in present)
    assert lengths[15] > 0 and lengths[16] > 0  # IMEIs and IMEISVs
    changes = [f for f in _good(sent, "ruaj.imei") if f["reason"] == "HANDSET_CHANGE"]
    assert changes
    # After a handset change, the subscriber's events carry the new handset.
    for change in changes:
        later = [f for f in _good(sent, "ruaj.imei") if f["imsi"] == change["imsi"]
                 and f["observed_at"] > change["observed_at"]]  # fmt: skip
        for observation in later[:1]:
            if observation["reason"] != "HANDSET_CHANGE":
                assert identifiers.imei(observation["imei"]) == identifiers.imei(change["imei"])


def test_call_legs_are_consistent(sent: list[simulator.Message]) -> None:
    calls: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for message in sent:
        if message.truth["kind"] == "good" and message.topic == "ruaj.cdr":
            calls[message.truth["activity"]].append(message.truth["fields"])
    directions = Counter(tuple(sorted(leg["direction"] for leg in legs)) for legs in calls.values())
    assert directions[("ORIGINATING", "TERMINATING")] > 0  # both parties ours
    assert directions[("ORIGINATING",)] > 0  # to another network
    assert directions[("TERMINATING",)] > 0  # from another network
    assert any("FORWARDED" in d for d in directions)
    for legs in calls.values():
        shared = {(leg["start_time"], leg["end_time"], leg["calling_number"],
                   leg["called_number"], leg["call_type"]) for leg in legs}  # fmt: skip
        assert len(shared) == 1
        assert _at(legs[0]["end_time"]) >= _at(legs[0]["start_time"])
        by_direction = {leg["direction"]: leg for leg in legs}
        assert len(by_direction) == len(legs)
        if "ORIGINATING" in by_direction:
            leg = by_direction["ORIGINATING"]
            assert leg["served_msisdn"] == leg["calling_number"]
        if "FORWARDED" in by_direction:
            leg = by_direction["FORWARDED"]
            assert leg["served_msisdn"] == leg["called_number"]
            assert leg["forwarded_to"]
            if "TERMINATING" in by_direction:
                assert by_direction["TERMINATING"]["served_msisdn"] == leg["forwarded_to"]
        elif "TERMINATING" in by_direction:
            leg = by_direction["TERMINATING"]
            assert leg["served_msisdn"] == leg["called_number"]


def test_sms_legs_are_consistent(sent: list[simulator.Message]) -> None:
    messages: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for message in sent:
        if message.truth["kind"] == "good" and message.topic == "ruaj.sms":
            messages[message.truth["activity"]].append(message.truth["fields"])
    alphanumeric = 0
    for legs in messages.values():
        assert len({(leg["sender"], leg["recipient"]) for leg in legs}) == 1
        for leg in legs:
            expected = leg["sender"] if leg["direction"] == "MO" else leg["recipient"]
            assert leg["served_msisdn"] == expected
        if len(legs) == 2:
            mo, mt = sorted(legs, key=lambda leg: leg["direction"])
            assert (mo["direction"], mt["direction"]) == ("MO", "MT")
            assert mt["event_time"] > mo["event_time"]
        alphanumeric += not legs[0]["sender"].isdigit()
    assert alphanumeric > 0


def test_sessions_and_port_blocks(sent: list[simulator.Message]) -> None:
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fields in _good(sent, "ruaj.ipsession"):
        sessions[fields["session_id"]].append(fields)
    still_open = 0
    spans = []
    for records in sessions.values():
        statuses = [r["status"] for r in records]
        assert statuses[0] == "START"
        assert set(statuses[1:-1]) <= {"INTERIM"}
        constant = {(r["session_start"], r["msisdn"], r["imsi"], r["public_ip"],
                     r["public_port_first"], r["public_port_last"], r["private_ip"])
                    for r in records}  # fmt: skip
        assert len(constant) == 1
        assert records[0]["public_port_last"] - records[0]["public_port_first"] == 511
        stop = records[-1]["session_end"] if statuses[-1] == "STOP" else None
        still_open += stop is None
        end = _at(stop) if stop else END + timedelta(days=365)
        spans.append((records[0]["public_ip"], records[0]["public_port_first"],
                      records[0]["private_ip"], _at(records[0]["session_start"]), end))  # fmt: skip
    assert still_open > 0
    assert len(sessions) > 100
    # No two sessions hold one port block (or one private address) at the same instant.
    for key in ((0, 1), (2,)):
        holders: dict[tuple[Any, ...], list[tuple[datetime, datetime]]] = defaultdict(list)
        for span in spans:
            holders[tuple(span[i] for i in key)].append((span[3], span[4]))
        for intervals in holders.values():
            intervals.sort()
            for (_, first_end), (second_start, _) in itertools.pairwise(intervals):
                assert first_end < second_start


def test_scenario_rules() -> None:
    with pytest.raises(ValueError, match="add up to more than 1"):
        simulator.Scenario(seed=1, events=10, bad_fraction=0.7, duplicate_fraction=0.4)
    with pytest.raises(ValueError, match="at least one good event"):
        simulator.Scenario(seed=1, events=10, bad_fraction=0.5, duplicate_fraction=0.5)
    with pytest.raises(ValueError, match="--days"):
        simulator.Scenario(seed=1, days=0)
    only_bad = list(simulator.messages(simulator.Scenario(seed=1, events=9, bad_fraction=1.0),
                                       end=END))  # fmt: skip
    assert [m.truth["kind"] for m in only_bad] == ["bad"] * 9
    assert list(simulator.messages(simulator.Scenario(seed=1, events=0), end=END)) == []


def _args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["simulate", *argv])


def test_the_command_line_gives_the_scenario() -> None:
    scenario = simulate.scenario_of(_args("--subscribers", "10", "--rate", "250", "--duration",
                                          "4", "--seed", "5", "--bad-fraction", "0.1"))  # fmt: skip
    assert (scenario.subscribers, scenario.events, scenario.rate, scenario.seed) == (
        10,
        1000,
        250,
        5,
    )
    assert scenario.bad == 100
    default = simulate.scenario_of(_args())
    assert (default.events, default.subscribers, default.days) == (10_000, 1000, 7)
    assert default.seed != simulate.scenario_of(_args()).seed  # random unless given
    with pytest.raises(config.UsageError, match="go together"):
        simulate.scenario_of(_args("--rate", "10"))
    with pytest.raises(config.UsageError, match="more than 1"):
        simulate.scenario_of(_args("--bad-fraction", "0.6", "--duplicate-fraction", "0.6"))
    for wrong in (["--events", "5", "--rate", "1", "--duration", "1"], ["--bad-fraction", "2"]):
        with pytest.raises(SystemExit):
            _args(*wrong)
