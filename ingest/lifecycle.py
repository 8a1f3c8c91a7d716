"""Subscriber lifecycle of a simulated `Population`, and the SubscriberChange events telling it.

`apply(population, rng)` changes the population before traffic is generated (so traffic follows
the new holders): during the period some contracts end (their MSISDN, IMSI and ICCID are
released), some of those numbers are recycled to new subscribers after a quarantine, and some
subscribers swap their SIM (a new IMSI and ICCID at one instant). `changes(population)` then
gives the events the CRM/HLR would send to `ruaj.subscriber` for the whole history: an UPSERT
with the KYC data at each contract start, ASSIGN_IDENTITY / RELEASE_IDENTITY at every start and
end of an MSISDN, IMSI or ICCID holding, and a TERMINATE at each contract end — in time order,
so an identity is assigned before traffic uses it and released before it is given to someone
else. Handsets (IMEI) are not registry data: the network reports them (IMEI observations).

The quarantine of a recycled number (real operators keep one for months) is hours here, which
still puts the release and the new assignment far apart in the stream: they are keyed by two
different subscribers, so they may sit in two partitions of the topic.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from ingest import avro
from ingest.population import Population, Subscriber

TOPIC = "ruaj.subscriber"
REGISTRY_KINDS = ("MSISDN", "IMSI", "ICCID")
TERMINATE_FRACTION = 0.03  # of subscribers, over the period
RECYCLE_FRACTION = 0.6  # of released numbers, given to a new subscriber
SIM_SWAP_FRACTION = 0.03
QUARANTINE = (timedelta(hours=1), timedelta(hours=24))

GIVEN_NAMES = ("Arta", "Blerim", "Drita", "Fatmir", "Jeta", "Kushtrim", "Liridona", "Mentor",
               "Nora", "Petrit", "Rina", "Shpend", "Teuta", "Valon", "Zana", "Agon")  # fmt: skip
FAMILY_NAMES = ("Krasniqi", "Gashi", "Berisha", "Morina", "Shala", "Hoxha", "Kelmendi",
                "Bytyqi", "Rexhepi", "Hasani", "Ahmeti", "Mustafa")  # fmt: skip
CITIES = ("Prishtina", "Prizren", "Peja", "Gjakova", "Mitrovica", "Ferizaj", "Gjilan")
STREETS = ("Rr. Nëna Terezë", "Rr. Agim Ramadani", "Rr. UÇK", "Rr. Garibaldi", "Rr. Fehmi Agani")


def apply(population: Population, rng: random.Random) -> None:
    """Add contract ends, recycled numbers and SIM swaps inside the period (see above)."""
    period = population.end - population.start
    original = list(population.subscribers)
    for subscriber in original:
        draw = rng.random()
        if draw < TERMINATE_FRACTION:
            at = population.start + period * rng.uniform(0.05, 0.9)
            _terminate(population, subscriber, at, rng)
        elif draw < TERMINATE_FRACTION + SIM_SWAP_FRACTION:
            at = _second(population.start + period * rng.uniform(0.05, 0.95))
            population.reassign(subscriber, "IMSI", population.new_imsi(rng), at)
            population.reassign(subscriber, "ICCID", population.new_iccid(rng), at)


def _second(at: datetime) -> datetime:
    return at.replace(microsecond=0)


def _terminate(population: Population, subscriber: Subscriber, at: datetime,
               rng: random.Random) -> None:  # fmt: skip
    at = _second(at)
    subscriber.contract_end = at
    for kind in (*REGISTRY_KINDS, "IMEI"):
        history = subscriber.holdings.get(kind, [])
        if history and history[-1].end is None and history[-1].start < at:
            history[-1].end = at
    if rng.random() >= RECYCLE_FRACTION:
        return
    low, high = QUARANTINE
    start = _second(at + low + (high - low) * rng.random())
    if start >= population.end:
        return
    msisdn = subscriber.holdings["MSISDN"][-1].value
    newcomer = Subscriber(
        index=len(population.subscribers),
        subscriber_id=f"S{len(population.subscribers):08d}",
        contract_start=start,
        home_cell=rng.choice(population.cells),
        work_cell=rng.choice(population.cells),
    )
    population.reassign(newcomer, "MSISDN", msisdn, start)
    population.reassign(newcomer, "IMSI", population.new_imsi(rng), start)
    population.reassign(newcomer, "ICCID", population.new_iccid(rng), start)
    population.reassign(newcomer, "IMEI", population.new_imei(rng), start)
    population.subscribers.append(newcomer)


def _kyc(subscriber: Subscriber) -> dict[str, Any]:
    """Stable synthetic KYC data of a subscriber (from its index, so re-runs agree)."""
    rng = random.Random(f"kyc:{subscriber.subscriber_id}")
    given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
    return {
        "given_name": given,
        "family_name": family,
        "personal_number": f"{rng.randrange(10**9, 10**10)}",
        "address": f"{rng.choice(STREETS)} {rng.randrange(1, 200)}",
        "city": rng.choice(CITIES),
        "email": f"{given.lower()}.{family.lower()}{rng.randrange(100)}@example.net",
        "contact_number": f"3834{rng.randrange(10**7):07d}",
    }


def changes(population: Population, seed: int | str) -> Iterator[tuple[datetime, dict[str, Any],
                                                                          bytes]]:  # fmt: skip
    """Every SubscriberChange of the population's history, in time order: (at, record, key).

    Event ids come from a generator seeded by `seed`, so the same scenario sends the same
    events.
    """
    rng = random.Random(f"{seed}:registry")
    names = avro_fields()
    out: list[tuple[datetime, int, dict[str, Any], bytes]] = []

    def add(at: datetime, order: int, subscriber: Subscriber, **fields: Any) -> None:
        record: dict[str, Any] = dict.fromkeys(names)
        record.update(event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      event_time=at, subscriber_id=subscriber.subscriber_id, **fields)  # fmt: skip
        out.append((at, order, record, subscriber.key))

    for subscriber in population.subscribers:
        add(subscriber.contract_start, 0, subscriber, operation="UPSERT",
            contract_start=subscriber.contract_start, **_kyc(subscriber))  # fmt: skip
        for kind in REGISTRY_KINDS:
            for held in subscriber.holdings.get(kind, []):
                add(held.start, 2, subscriber, operation="ASSIGN_IDENTITY", identity_kind=kind,
                    identity_value=held.value)  # fmt: skip
                if held.end is not None:
                    add(held.end, 1, subscriber, operation="RELEASE_IDENTITY",
                        identity_kind=kind, identity_value=held.value)  # fmt: skip
        if subscriber.contract_end is not None:
            add(subscriber.contract_end, 3, subscriber, operation="TERMINATE",
                contract_end=subscriber.contract_end)  # fmt: skip
    # At one instant: releases before assignments (a SIM swap, a hand-over), the UPSERT that
    # opens a contract before its assignments, the TERMINATE last.
    out.sort(key=lambda item: (item[0], item[1], item[2]["subscriber_id"]))
    for at, _, record, key in out:
        yield at, record, key


def avro_fields() -> tuple[str, ...]:
    """The SubscriberChange fields, in schema order."""
    return tuple(f["name"] for f in avro.load().reader("subscriber").schema["fields"])
