"""Identity histories of the simulated population: who held what, when."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ingest import identifiers, population

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def test_every_subscriber_holds_valid_distinct_identities() -> None:
    people = population.build(random.Random(1), 300, START, END)
    assert len(people.subscribers) == 300
    for kind, valid in (("MSISDN", identifiers.MSISDN), ("IMSI", identifiers.IMSI),
                        ("ICCID", identifiers.ICCID)):  # fmt: skip
        values = [s.value(kind, START) for s in people.subscribers]
        assert all(v is not None and valid(v) for v in values)
        assert len(set(values)) == 300
    for subscriber in people.subscribers:
        for held in subscriber.holdings["IMEI"]:
            assert identifiers.imei(held.value) == held.value
        iccid = subscriber.value("ICCID", START)
        assert iccid is not None and identifiers.luhn_digit(iccid[:-1]) == int(iccid[-1])
    changed = [s for s in people.subscribers if s.handset_changes()]
    assert 0 < len(changed) < 300
    for subscriber in changed:
        change = subscriber.handset_changes()[0]
        before = subscriber.value("IMEI", change.start - timedelta(microseconds=1))
        assert before is not None and before != change.value
        assert subscriber.value("IMEI", change.start) == change.value


def test_reassign_closes_the_old_holding_and_traffic_can_follow() -> None:
    rng = random.Random(2)
    people = population.build(rng, 2, START, END)
    first, second = people.subscribers
    number = first.value("MSISDN", START)
    assert number is not None
    released = START + timedelta(days=10)
    recycled = START + timedelta(days=20)
    people.reassign(first, "MSISDN", people.new_msisdn(rng), released)
    people.reassign(second, "MSISDN", number, recycled)
    assert people.by_msisdn(number, released - timedelta(seconds=1)) is first
    assert people.by_msisdn(number, released + timedelta(days=1)) is None  # in quarantine
    assert people.by_msisdn(number, recycled) is second
    assert first.value("MSISDN", released) != number
    assert people.new_msisdn(rng) not in {number, first.value("MSISDN", END)}
