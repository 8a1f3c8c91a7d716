"""Coherent synthetic traffic of a `Population`: calls, SMS, IMEI observations, IP sessions.

`Traffic(population, seed).events(count)` yields exactly `count` good events in the order the
network would emit them (a CDR when its call ends, each accounting record at its own time), so
one subscriber's events reach their partition in time order. Two passes keep it exact and
reproducible: first every *activity* (a call, an SMS, a data session, an observation) is planned
at a uniform random instant of the period with the number of records it will produce — records
that would fall after the period's end are not planned, which leaves some data sessions open —
then the plans are expanded in time order through a heap.

Coherence, which tests check:
- a call has an ORIGINATING leg when the caller is ours, and a TERMINATING leg when the callee is
  ours — or, if the callee forwards it, a FORWARDED leg for the callee (with `forwarded_to`) and a
  TERMINATING leg for the third party when that one is ours. All legs of a call share start,
  end, calling and called number; each leg's served identities are its subscriber's at the start;
- an SMS has an MO leg for the sender and, a few seconds later, an MT leg for the recipient when
  ours (alphanumeric senders such as banks reach our subscribers as MT only);
- a data session is START, up to four INTERIMs and a STOP sharing a `session_id`, with a CGNAT
  port block that no other session holds on that public IP while it is open (blocks of open
  sessions are never reused); its private address is unique while the session lasts;
- the IMEI in every event is the handset the subscriber held at that instant; handset changes
  are reported as HANDSET_CHANGE observations; about one handset in five is reported as IMEISV.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest.population import NETWORK_ELEMENTS, Population, Subscriber

# Public addresses of the simulated CGNAT (RFC 2544 benchmarking range: never a real subscriber),
# private addresses from the shared address space of RFC 6598.
PUBLIC_POOL = ipaddress.IPv4Network("198.18.0.0/15")
PRIVATE_POOL = ipaddress.IPv4Network("100.64.0.0/10")
PORT_BLOCK = 512
FIRST_PORT = 1024
BLOCKS_PER_ADDRESS = (65536 - FIRST_PORT) // PORT_BLOCK
INTERIM_INTERVAL = timedelta(minutes=30)

OFF_NET_PREFIXES = ("38343", "38348", "35569", "4915", "4176")
SHORT_CODES = ("112", "192", "194", "1551")
ALPHANUMERIC_SENDERS = ("BANK KS", "TEB", "PROCREDIT", "RAIFFEISEN", "KEDS", "POSTA")
APNS = ("internet", "internet", "internet", "mms", "iot")
END_REASONS = ("NORMAL_CLEARING", "NORMAL_CLEARING", "USER_BUSY", "NO_ANSWER", "CALL_DROPPED")

# Activity kinds and their weights.
CALL, SMS, SESSION, OBSERVATION, HANDSET_CHANGE = "call", "sms", "session", "observation", "change"
_KINDS = (CALL, SMS, SESSION, OBSERVATION)
_WEIGHTS = (35, 25, 20, 20)


@dataclass(frozen=True, slots=True)
class Event:
    """One good event: its topic, Avro record (timestamps as datetimes) and Kafka key."""

    topic: str
    record: dict[str, Any]
    key: bytes
    at: datetime  # when the network emits it
    activity: int  # events of one call, SMS or session share it


@dataclass(frozen=True, slots=True)
class _Plan:
    start: datetime
    activity: int
    kind: str
    subscriber: int
    records: int
    detail: tuple[Any, ...]


class Traffic:
    """Generates the good events of a population (see the module docstring)."""

    def __init__(self, population: Population, seed: int | str) -> None:
        self.population = population
        self._plan_rng = random.Random(f"{seed}:plan")
        self._rng = random.Random(f"{seed}:fill")
        self._period_us = int((population.end - population.start) / timedelta(microseconds=1))
        self._blocks: list[tuple[int, int]] = []  # heap of (free from, µs since start; block)
        self._next_block = 0
        self._activity = 0

    # -- the plan -------------------------------------------------------------------------------

    def events(self, count: int) -> Iterator[Event]:
        """Exactly `count` good events, in emission order."""
        plans = self._plans(count)
        plans.sort(key=lambda p: (p.start, p.activity))
        pending: list[tuple[datetime, int, Event]] = []
        sequence = 0
        for plan in plans:
            while pending and pending[0][0] <= plan.start:
                yield heapq.heappop(pending)[2]
            for event in self._expand(plan):
                sequence += 1
                heapq.heappush(pending, (event.at, sequence, event))
        while pending:
            yield heapq.heappop(pending)[2]

    def _plans(self, count: int) -> list[_Plan]:
        plans: list[_Plan] = []
        changes = sorted(
            ((h.start, s.index) for s in self.population.subscribers for h in s.handset_changes()
             if self.population.start <= h.start < self.population.end),
        )  # fmt: skip
        for at, index in [c for c in changes if self._active(c[1], c[0])][:count]:
            plans.append(self._new_plan(at, HANDSET_CHANGE, index, 1, ()))
        remaining = count - len(plans)
        while remaining > 0:
            plan = self._draw()
            if plan is None:
                continue
            if plan.records > remaining:
                plan = self._observation(plan.start, plan.subscriber)
            plans.append(plan)
            remaining -= plan.records
        return plans

    def _new_plan(self, start: datetime, kind: str, subscriber: int, records: int,
                  detail: tuple[Any, ...]) -> _Plan:  # fmt: skip
        self._activity += 1
        return _Plan(start, self._activity, kind, subscriber, records, detail)

    def _instant(self) -> datetime:
        return self.population.start + timedelta(
            microseconds=self._plan_rng.randrange(self._period_us)
        )

    def _active(self, index: int, at: datetime) -> bool:
        subscriber = self.population.subscribers[index]
        return (
            subscriber.value("MSISDN", at) is not None and subscriber.value("IMSI", at) is not None
        )

    def _other(self, index: int, at: datetime) -> int | None:
        """Another subscriber of ours, active at `at`, or None (a party of another network)."""
        size = len(self.population.subscribers)
        if size < 2:
            return None
        other = (index + 1 + self._plan_rng.randrange(size - 1)) % size
        return other if self._active(other, at) else None

    def _draw(self) -> _Plan | None:
        rng = self._plan_rng
        kind = rng.choices(_KINDS, _WEIGHTS)[0]
        at = self._instant()
        index = rng.randrange(len(self.population.subscribers))
        if not self._active(index, at):
            return None
        if kind == CALL:
            return self._call(at, index)
        if kind == SMS:
            return self._sms(at, index)
        if kind == SESSION:
            return self._session(at, index)
        return self._observation(at, index)

    def _call(self, at: datetime, index: int) -> _Plan | None:
        rng = self._plan_rng
        answered = rng.random() > 0.1
        seconds = min(3600, max(1, int(rng.expovariate(1 / 90)))) if answered else 0
        end = at + timedelta(seconds=seconds, microseconds=rng.randrange(10**6) if answered else 0)
        if end >= self.population.end:
            return None
        incoming = rng.random() < 0.15  # from another network to our subscriber `index`
        caller = None if incoming else index
        callee = index if incoming else self._callee(at, index)
        forward: tuple[int | None, str] | None = None
        if callee is not None and rng.random() < 0.08:
            third = self._other(callee, at)
            forward = (third, "" if third is not None else self._off_net())
        legs = (
            (caller is not None) + (callee is not None) + bool(forward and forward[0] is not None)
        )
        if legs == 0:
            return None
        dialled = self._off_net() if callee is None else ""
        if callee is None and rng.random() < 0.05:
            dialled = rng.choice(SHORT_CODES)
        caller_number = self._off_net() if caller is None else ""
        detail = (end, caller, callee, forward, dialled, caller_number, answered)
        return self._new_plan(at, CALL, index, legs, detail)

    def _callee(self, at: datetime, index: int) -> int | None:
        return self._other(index, at) if self._plan_rng.random() < 0.6 else None

    def _off_net(self) -> str:
        prefix = self._plan_rng.choice(OFF_NET_PREFIXES)
        return prefix + "".join(
            str(self._plan_rng.randrange(10)) for _ in range(11 - len(prefix) + 1)
        )

    def _sms(self, at: datetime, index: int) -> _Plan | None:
        rng = self._plan_rng
        delivered = at + timedelta(seconds=rng.uniform(0.5, 30))
        if rng.random() < 0.1:  # an alphanumeric sender (a bank) to our subscriber: MT only
            if delivered >= self.population.end:
                return None
            return self._new_plan(at, SMS, index, 1, (None, index, rng.choice(ALPHANUMERIC_SENDERS),
                                                      "", delivered))  # fmt: skip
        recipient = self._other(index, at) if rng.random() < 0.7 else None
        terminating = recipient is not None and delivered < self.population.end
        detail = (index, recipient if terminating else None, "", self._off_net(), delivered)
        return self._new_plan(at, SMS, index, 1 + terminating, detail)

    def _session(self, at: datetime, index: int) -> _Plan:
        rng = self._plan_rng
        stays_open = rng.random() < 0.05
        duration = timedelta(seconds=min(4 * 3600, max(10, rng.expovariate(1 / 2700))))
        stop = None if stays_open else at + duration
        if stop is not None and stop >= self.population.end:
            stop = None  # it has not ended by the end of the period: still open
        limit = stop if stop is not None else min(self.population.end, at + 4 * INTERIM_INTERVAL)
        interims = 0
        while interims < 4 and at + (interims + 1) * INTERIM_INTERVAL < limit:
            if at + (interims + 1) * INTERIM_INTERVAL >= self.population.end:
                break
            interims += 1
        apn = rng.choice(APNS)
        return self._new_plan(at, SESSION, index, 1 + interims + (stop is not None),
                              (stop, interims, apn))  # fmt: skip

    def _observation(self, at: datetime, index: int) -> _Plan:
        return self._new_plan(at, OBSERVATION, index, 1, ())

    # -- expansion ------------------------------------------------------------------------------

    def _expand(self, plan: _Plan) -> list[Event]:
        if plan.kind == CALL:
            return self._call_legs(plan)
        if plan.kind == SMS:
            return self._sms_legs(plan)
        if plan.kind == SESSION:
            return self._session_records(plan)
        subscriber = self.population.subscribers[plan.subscriber]
        reason = "HANDSET_CHANGE" if plan.kind == HANDSET_CHANGE else None
        return [self.observation(subscriber, plan.start, plan.activity, reason)]

    def event_id(self) -> str:
        """A UUID (version 4) drawn from the seeded generator."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def imei_as_sent(self, subscriber: Subscriber, at: datetime) -> str | None:
        """The handset at `at`, as the network reports it (IMEISV for some handsets)."""
        held = subscriber.holding("IMEI", at)
        if held is None:
            return None
        if held.software_version is not None:
            return held.value[:14] + held.software_version
        return held.value

    def _cell(self, subscriber: Subscriber) -> str:
        draw = self._rng.random()
        if draw < 0.5:
            return subscriber.home_cell
        if draw < 0.8:
            return subscriber.work_cell
        return self._rng.choice(self.population.cells)

    def _element(self, kind: str) -> str:
        return self._rng.choice(NETWORK_ELEMENTS[kind])

    def _call_legs(self, plan: _Plan) -> list[Event]:
        end, caller, callee, forward, dialled, caller_number, answered = plan.detail
        subscribers = self.population.subscribers
        at = plan.start
        calling = caller_number or subscribers[caller].value("MSISDN", at)
        called = dialled or subscribers[callee].value("MSISDN", at)
        forwarded_to = None
        if forward is not None:
            third, number = forward
            forwarded_to = number or subscribers[third].value("MSISDN", at)
        legs: list[tuple[str, int]] = []
        if caller is not None:
            legs.append(("ORIGINATING", caller))
        if callee is not None:
            legs.append(("FORWARDED" if forward else "TERMINATING", callee))
        if forward is not None and forward[0] is not None:
            legs.append(("TERMINATING", forward[0]))
        call_type = "VIDEO" if self._rng.random() < 0.05 else "VOICE"
        reason = self._rng.choice(END_REASONS[:3] + END_REASONS[4:]) if answered else "NO_ANSWER"
        events = []
        for direction, index in legs:
            served = subscribers[index]
            cell = self._cell(served)
            record = {
                "event_id": self.event_id(),
                "start_time": at,
                "end_time": end,
                "call_type": call_type,
                "direction": direction,
                "calling_number": calling,
                "called_number": called,
                "forwarded_to": forwarded_to if direction == "FORWARDED" else None,
                "served_msisdn": served.value("MSISDN", at),
                "served_imsi": served.value("IMSI", at),
                "served_imei": self.imei_as_sent(served, at) if self._rng.random() > 0.03 else None,
                "cell_start": cell,
                "cell_end": cell if self._rng.random() < 0.8 else self._cell(served),
                "end_reason": reason if self._rng.random() > 0.05 else None,
                "network_element": self._element("msc"),
            }
            events.append(Event("ruaj.cdr", record, served.key, end, plan.activity))
        return events

    def _sms_legs(self, plan: _Plan) -> list[Event]:
        sender_index, recipient_index, alphanumeric, off_net, delivered = plan.detail
        subscribers = self.population.subscribers
        at = plan.start
        sender = alphanumeric or subscribers[sender_index].value("MSISDN", at)
        recipient = (subscribers[recipient_index].value("MSISDN", at)
                     if recipient_index is not None else off_net)  # fmt: skip
        message_type = "MMS" if self._rng.random() < 0.08 else "SMS"
        legs: list[tuple[str, int, datetime, str]] = []
        if sender_index is not None:
            legs.append(("MO", sender_index, at, "SUBMITTED"))
        if recipient_index is not None:
            status = "FAILED" if self._rng.random() < 0.05 else "DELIVERED"
            legs.append(("MT", recipient_index, delivered, status))
        events = []
        for direction, index, when, status in legs:
            served = subscribers[index]
            record = {
                "event_id": self.event_id(),
                "event_time": when,
                "direction": direction,
                "sender": sender,
                "recipient": recipient,
                "served_msisdn": served.value("MSISDN", at),
                "served_imsi": served.value("IMSI", at),
                "served_imei": self.imei_as_sent(served, at),
                "cell": self._cell(served) if self._rng.random() > 0.05 else None,
                "message_type": message_type,
                "delivery_status": status,
                "network_element": self._element("smsc"),
            }
            events.append(Event("ruaj.sms", record, served.key, when, plan.activity))
        return events

    def observation(self, subscriber: Subscriber, at: datetime, activity: int,
                    reason: str | None = None) -> Event:  # fmt: skip
        """An IMEI observation of `subscriber` at `at` (a random reason unless given)."""
        if reason is None:
            reason = self._rng.choices(("ATTACH", "LOCATION_UPDATE", "DETACH"), (3, 5, 2))[0]
        record = {
            "event_id": self.event_id(),
            "observed_at": at,
            "imei": self.imei_as_sent(subscriber, at),
            "imsi": subscriber.value("IMSI", at),
            "msisdn": subscriber.value("MSISDN", at) if self._rng.random() > 0.1 else None,
            "cell": self._cell(subscriber) if self._rng.random() > 0.05 else None,
            "reason": reason,
            "network_element": self._element("mme"),
        }
        return Event("ruaj.imei", record, subscriber.key, at, activity)

    def sample(self, topic: str, subscriber: Subscriber, at: datetime) -> dict[str, Any]:
        """One stand-alone record of `topic` for `subscriber` at `at` (the simulator's bad
        messages are made from these); it takes no port block and belongs to no activity."""
        msisdn = subscriber.value("MSISDN", at) or subscriber.holdings["MSISDN"][-1].value
        imsi = subscriber.value("IMSI", at) or subscriber.holdings["IMSI"][-1].value
        imei = self.imei_as_sent(subscriber, at) or subscriber.holdings["IMEI"][-1].value
        if topic == "ruaj.imei":
            return self.observation(subscriber, at, 0).record | {"imsi": imsi, "imei": imei}
        if topic == "ruaj.cdr":
            return {
                "event_id": self.event_id(), "start_time": at,
                "end_time": at + timedelta(minutes=1),
                "call_type": "VOICE", "direction": "ORIGINATING", "calling_number": msisdn,
                "called_number": self._off_net(), "forwarded_to": None, "served_msisdn": msisdn,
                "served_imsi": imsi, "served_imei": imei, "cell_start": subscriber.home_cell,
                "cell_end": subscriber.home_cell, "end_reason": "NORMAL_CLEARING",
                "network_element": self._element("msc"),
            }  # fmt: skip
        if topic == "ruaj.sms":
            return {
                "event_id": self.event_id(), "event_time": at, "direction": "MO",
                "sender": msisdn, "recipient": self._off_net(), "served_msisdn": msisdn,
                "served_imsi": imsi, "served_imei": imei, "cell": subscriber.work_cell,
                "message_type": "SMS", "delivery_status": "SUBMITTED",
                "network_element": self._element("smsc"),
            }  # fmt: skip
        return {
            "event_id": self.event_id(),
            "session_id": f"pgw-1:sample{self._rng.getrandbits(32):08x}",
            "status": "START", "event_time": at, "session_start": at, "session_end": None,
            "msisdn": msisdn, "imsi": imsi, "imei": imei, "apn": "internet",
            "private_ip": str(PRIVATE_POOL.broadcast_address - 1),
            "public_ip": str(PUBLIC_POOL.broadcast_address - 1),
            "public_port_first": FIRST_PORT, "public_port_last": FIRST_PORT + PORT_BLOCK - 1,
            "cell": subscriber.home_cell, "bytes_up": None, "bytes_down": None,
        }  # fmt: skip

    def _session_records(self, plan: _Plan) -> list[Event]:
        stop, interims, apn = plan.detail
        served = self.population.subscribers[plan.subscriber]
        start = plan.start
        public_ip, first_port, private_ip = self._allocate(start, stop)
        element = self._element("pgw")
        base = {
            "session_id": f"{element}:{plan.activity:010x}",
            "session_start": start,
            "msisdn": served.value("MSISDN", start),
            "imsi": served.value("IMSI", start),
            "imei": self.imei_as_sent(served, start),
            "apn": apn,
            "private_ip": private_ip,
            "public_ip": public_ip,
            "public_port_first": first_port,
            "public_port_last": first_port + PORT_BLOCK - 1,
            "cell": self._cell(served) if self._rng.random() > 0.05 else None,
        }
        times = [("START", start)]
        times += [("INTERIM", start + (k + 1) * INTERIM_INTERVAL) for k in range(interims)]
        if stop is not None:
            times.append(("STOP", stop))
        events = []
        up = down = 0
        for status, when in times:
            if status != "START":
                up += self._rng.randrange(10_000, 50_000_000)
                down += self._rng.randrange(100_000, 900_000_000)
            record = base | {
                "event_id": self.event_id(),
                "status": status,
                "event_time": when,
                "session_end": stop if status == "STOP" else None,
                "bytes_up": up if status != "START" else None,
                "bytes_down": down if status != "START" else None,
            }
            events.append(Event("ruaj.ipsession", record, served.key, when, plan.activity))
        return events

    def _allocate(self, start: datetime, stop: datetime | None) -> tuple[str, int, str]:
        """A port block free over `[start, stop]` (for ever if open): public IP, first port,
        and the private address that goes with the block."""
        begin = int((start - self.population.start) / timedelta(microseconds=1))
        until = (int((stop - self.population.start) / timedelta(microseconds=1))
                 if stop is not None else 1 << 62)  # fmt: skip
        if self._blocks and self._blocks[0][0] < begin:
            block = heapq.heapreplace(self._blocks, (until, self._blocks[0][1]))[1]
        else:
            block = self._next_block
            self._next_block += 1
            heapq.heappush(self._blocks, (until, block))
        address, slot = divmod(block, BLOCKS_PER_ADDRESS)
        public = PUBLIC_POOL.network_address + 1 + address
        private = PRIVATE_POOL.network_address + 1 + block
        return str(public), FIRST_PORT + slot * PORT_BLOCK, str(private)
