"""The simulated subscribers: who holds which MSISDN, IMSI, ICCID and handset, and when.

A `Population` is built once per simulation from the seeded RNG, over the simulated period.
Every identity a subscriber holds is a `Holding` with a validity range, kept in time order per
kind, so traffic generation asks "who held this at instant t" and never assumes an identity is
forever. This simulator uses that for handsets (a subscriber changes phone now and then, and the
network then reports a HANDSET_CHANGE); subscriber lifecycle events (SIM swaps, number
recycling, contract ends) are added on top by closing a holding and opening another with
`reassign`, before traffic is generated — traffic then follows the new holders, and a subscriber
with no MSISDN or IMSI at an instant makes no traffic then.

Identifiers are synthetic but shaped like the real ones: MSISDNs of Kosovo (+383 44/45/49…),
IMSIs of MCC 221 / MNC 02, ICCIDs `89 383 02 …` with a Luhn digit, IMEIs from a few real-looking
type allocation codes with a valid Luhn digit. Cells are `221-02-TAC-CI` of LTE-sized ranges.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ingest import identifiers

COUNTRY_CODE = "383"
MOBILE_PREFIXES = ("44", "45", "49")
MCC_MNC = "22102"
ICCID_PREFIX = "8938302"
# Type allocation codes (first 8 IMEI digits) of the simulated handsets.
TACS = ("35693803", "35332510", "86723804", "01332700", "35391110", "49015420", "35875411")
NETWORK_ELEMENTS = {
    "msc": ("msc-prishtina-1", "msc-prizren-1", "msc-peja-1"),
    "smsc": ("smsc-1", "smsc-2"),
    "mme": ("mme-prishtina-1", "mme-prizren-1"),
    "pgw": ("pgw-1", "pgw-2"),
}


@dataclass(slots=True, kw_only=True)
class Holding:
    """One identity held over `[start, end)`; `end` None means still held."""

    kind: str  # MSISDN | IMSI | ICCID | IMEI
    value: str
    start: datetime
    end: datetime | None = None
    # Handsets only: the 2-digit software version, when the network reports an IMEISV.
    software_version: str | None = None

    def covers(self, instant: datetime) -> bool:
        """Whether the identity was held at `instant`."""
        return self.start <= instant and (self.end is None or instant < self.end)


@dataclass(slots=True, kw_only=True)
class Subscriber:
    """A contract holder and the identities they held over time."""

    index: int
    subscriber_id: str
    contract_start: datetime
    contract_end: datetime | None = None
    holdings: dict[str, list[Holding]] = field(default_factory=dict)  # kind → time-ordered
    home_cell: str
    work_cell: str

    def holding(self, kind: str, instant: datetime) -> Holding | None:
        """The holding of `kind` that covers `instant`, if any."""
        history = self.holdings.get(kind, [])
        position = bisect.bisect_right([h.start for h in history], instant) - 1
        if position >= 0 and history[position].covers(instant):
            return history[position]
        return None

    def value(self, kind: str, instant: datetime) -> str | None:
        """The identity of `kind` held at `instant`, if any."""
        held = self.holding(kind, instant)
        return held.value if held is not None else None

    def handset_changes(self) -> list[Holding]:
        """The handsets taken into use after the first one (each is a HANDSET_CHANGE)."""
        return self.holdings.get("IMEI", [])[1:]

    @property
    def key(self) -> bytes:
        """The Kafka message key of this subscriber's events (keeps them in one partition)."""
        return self.subscriber_id.encode()


@dataclass(slots=True, kw_only=True)
class Population:
    """The subscribers of one simulation, the cells, and the numbers already in use."""

    subscribers: list[Subscriber]
    cells: tuple[str, ...]
    start: datetime
    end: datetime
    used: set[str] = field(default_factory=set)  # every MSISDN, IMSI, ICCID and IMEI handed out

    def by_msisdn(self, msisdn: str, instant: datetime) -> Subscriber | None:
        """Who held `msisdn` at `instant` (a linear search: for tests and rare look-ups)."""
        for subscriber in self.subscribers:
            if subscriber.value("MSISDN", instant) == msisdn:
                return subscriber
        return None

    def new_msisdn(self, rng: random.Random) -> str:
        """An MSISDN of ours that nobody held yet."""
        return self._fresh(lambda: COUNTRY_CODE + rng.choice(MOBILE_PREFIXES)
                           + f"{rng.randrange(10**6):06d}")  # fmt: skip

    def new_imsi(self, rng: random.Random) -> str:
        """An IMSI of ours that no SIM had yet."""
        return self._fresh(lambda: MCC_MNC + f"{rng.randrange(10**10):010d}")

    def new_iccid(self, rng: random.Random) -> str:
        """A 19-digit ICCID (with its Luhn digit) that no SIM had yet."""

        def make() -> str:
            body = ICCID_PREFIX + f"{rng.randrange(10**11):011d}"
            return body + str(identifiers.luhn_digit(body))

        return self._fresh(make)

    def new_imei(self, rng: random.Random) -> str:
        """A handset IMEI (valid Luhn) not seen before."""

        def make() -> str:
            body = rng.choice(TACS) + f"{rng.randrange(10**6):06d}"
            return body + str(identifiers.luhn_digit(body))

        return self._fresh(make)

    def _fresh(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value

    def reassign(self, subscriber: Subscriber, kind: str, value: str, at: datetime,
                 software_version: str | None = None) -> Holding:  # fmt: skip
        """Close `subscriber`'s current holding of `kind` at `at` and open one of `value`."""
        history = subscriber.holdings.setdefault(kind, [])
        if history and history[-1].end is None:
            history[-1].end = at
        held = Holding(kind=kind, value=value, start=at, software_version=software_version)
        history.append(held)
        self.used.add(value)
        return held


def _cells(rng: random.Random, count: int) -> tuple[str, ...]:
    tacs = [rng.randrange(1000, 60000) for _ in range(max(2, count // 20))]
    found: set[str] = set()
    while len(found) < count:
        found.add(f"221-02-{rng.choice(tacs)}-{rng.randrange(1, 1 << 28)}")
    return tuple(sorted(found))


def build(rng: random.Random, count: int, start: datetime, end: datetime) -> Population:
    """`count` subscribers active over `[start, end)`; some change handset during it."""
    cells = _cells(rng, max(16, count // 40))
    population = Population(subscribers=[], cells=cells, start=start, end=end)
    period = (end - start).total_seconds()
    for index in range(count):
        contract_start = start - timedelta(days=rng.randrange(30, 3000))
        subscriber = Subscriber(
            index=index,
            subscriber_id=f"S{index:08d}",
            contract_start=contract_start,
            home_cell=rng.choice(cells),
            work_cell=rng.choice(cells),
        )
        population.reassign(subscriber, "MSISDN", population.new_msisdn(rng), contract_start)
        population.reassign(subscriber, "IMSI", population.new_imsi(rng), contract_start)
        population.reassign(subscriber, "ICCID", population.new_iccid(rng), contract_start)
        population.reassign(subscriber, "IMEI", population.new_imei(rng), contract_start,
                            _software_version(rng))  # fmt: skip
        changes = sorted(rng.uniform(0, period) for _ in range(_handset_changes(rng)))
        for offset in changes:
            at = start + timedelta(seconds=int(offset))
            population.reassign(subscriber, "IMEI", population.new_imei(rng), at,
                                _software_version(rng))  # fmt: skip
        population.subscribers.append(subscriber)
    return population


def _handset_changes(rng: random.Random) -> int:
    draw = rng.random()
    return 2 if draw < 0.02 else 1 if draw < 0.15 else 0


def _software_version(rng: random.Random) -> str | None:
    """About one handset in five is reported as an IMEISV by the network."""
    return f"{rng.randrange(100):02d}" if rng.random() < 0.2 else None
