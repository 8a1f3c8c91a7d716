"""From Kafka message bytes to a validated row: decode (ingest.avro), check, convert.

`Codec.decode(topic, payload)` returns a `Decoded` (table, event time, row tuple in
`COLUMNS[table]` order, ready for asyncpg's binary COPY) or raises `PoisonRecord` with one of a
bounded set of reasons — a metric label and a DLQ header; the detail names a field, never a
value, so nothing personal reaches a log:

- `malformed`: bad framing or body (truncated, invalid UTF-8, bad union branch, ...), or a NUL
  character in a text field (PostgreSQL text cannot hold it);
- `unknown_schema`: a fingerprint or registry id that is not a schema of the topic's record;
- `trailing_bytes`: bytes left after the record;
- `invalid_enum`: an enum symbol the reader schema does not know;
- `invalid_identifier`: an identifier, or another field value, breaking its rule below;
- `invalid_imei`: neither 15 digits with a valid Luhn check digit nor a 16-digit IMEISV;
- `invalid_time`: an end before its start, a time before the floor, a STOP record without end or
  an end on a record that is not a STOP;
- `future_time`: a timestamp more than the skew (`RUAJ_FUTURE_SKEW_SECONDS`, 300) after now.

Rules (`ingest.identifiers` holds the syntax):
- MSISDN (`served_msisdn`, `msisdn`, `calling_number`, `forwarded_to`): E.164 without '+',
  7-15 ASCII digits, no leading 0. `called_number`: 1-15 digits (short codes, 112). SMS
  `sender`: 1-15 digits or an alphanumeric sender id (1-11 of `[A-Za-z0-9 ]`); `recipient`: 1-15
  digits.
- IMSI: exactly 15 digits. IMEI: 15 digits with a valid Luhn check digit; an IMEISV (16 digits)
  is stored as its IMEI (first 14 digits + computed check digit: the last two IMEISV digits are
  the software version, not a check digit).
- Cell: `MCC-MNC-LAC/TAC-CI`, decimal without leading zeros, LAC/TAC ≤ 2^24-1, CI ≤ 2^36-1.
- `event_id`: a UUID as 8-4-4-4-12 hex text (either case); stored lowercased.
- IPs: IPv4 dotted quad or IPv6 text (no zone id). Ports 0-65535, first ≤ last. Byte counters
  0 ≤ n < 2^63.
- Times: `end_time ≥ start_time` (CDR); `session_end ≥ session_start`, `event_time ≥
  session_start`, `session_end` present exactly on STOP records (IP sessions). Event-table times
  are ≥ 2000-01-01 (the partition floor), subscriber times ≥ 1970-01-01; no event timestamp more
  than the skew in the future (a subscriber's `contract_end` may be: contracts end later).
- Names (`network_element`, `apn`, `session_id`, `end_reason`): printable, ≤ 255 characters; all
  but `end_reason` non-empty. `subscriber_id`: 1-64 printable characters. KYC free text: no NUL.
- SubscriberChange: ASSIGN_IDENTITY / RELEASE_IDENTITY need `identity_kind` and
  `identity_value` (MSISDN rule, IMSI rule, or ICCID: 19-20 digits starting 89, check digit not
  verified — see `identifiers.iccid`); UPSERT and TERMINATE carry neither. `contract_end ≥
  contract_start` when both are given.

Row values are what asyncpg's binary COPY takes fastest for the 0001 column types: `uuid` as the
canonical text (asyncpg parses it in C), `timestamptz` and `inet` in the wire forms of
`store.wire` (an `int` of microseconds since 2000-01-01 UTC; PostgreSQL's binary inet bytes),
sent as they are on a connection prepared by `store.wire.use`, `integer`/`bigint` as `int`,
`text` as `str`. `readable(table, row)` gives a row's values as datetimes and addresses.

Speed: this is the hot path (about 50 000 records/s are needed on a core shared with
PostgreSQL). pydantic stays at the edges (settings, documents): here each record is one call of
a compiled Avro reader (`ingest.avro_reader`), then precompiled regular expressions and plain
comparisons on the raw integers, and one tuple. Identifiers repeat (a subscriber's numbers, a
handset, cells, element names), so each rule remembers the values that passed it (bounded) and
a repeat costs one set look-up; times stay integers throughout. `python -m
bench decode` gives about 7-14 µs per record, half of it the reader.
The codec does not decide retention expiry: the pipeline does, from `event_time`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from ingest import avro, identifiers
from ingest.errors import PoisonRecord
from ingest.schema_registry import SchemaRegistry
from ingest.settings import IngestSettings
from store import wire


class Decoded(NamedTuple):
    """One valid event, ready to write."""

    table: str  # "cdr" | "sms" | "imei_observation" | "ip_session" | "subscriber_change"
    event_time: int  # the table's partition column (event time), a store.wire timestamp
    row: tuple[object, ...]  # values in COLUMNS[table] order, ready for asyncpg COPY


# Exactly the columns of the 0001 tables, in order; for subscriber_change, the Avro fields.
COLUMNS: dict[str, tuple[str, ...]] = {
    "cdr": (
        "event_id", "start_time", "end_time", "call_type", "direction", "calling_number",
        "called_number", "forwarded_to", "served_msisdn", "served_imsi", "served_imei",
        "cell_start", "cell_end", "end_reason", "network_element",
    ),
    "sms": (
        "event_id", "event_time", "direction", "sender", "recipient", "served_msisdn",
        "served_imsi", "served_imei", "cell", "message_type", "delivery_status",
        "network_element",
    ),
    "imei_observation": (
        "event_id", "observed_at", "imei", "imsi", "msisdn", "cell", "reason", "network_element",
    ),
    "ip_session": (
        "event_id", "session_id", "status", "event_time", "session_start", "session_end",
        "msisdn", "imsi", "imei", "apn", "private_ip", "public_ip", "public_port_first",
        "public_port_last", "cell", "bytes_up", "bytes_down",
    ),
    "subscriber_change": (
        "event_id", "event_time", "subscriber_id", "operation", "given_name", "family_name",
        "personal_number", "address", "city", "email", "contact_number", "contract_start",
        "contract_end", "identity_kind", "identity_value",
    ),
}  # fmt: skip

TOPICS: dict[str, str] = {
    "ruaj.cdr": "cdr",
    "ruaj.sms": "sms",
    "ruaj.imei": "imei_observation",
    "ruaj.ipsession": "ip_session",
    "ruaj.subscriber": "subscriber_change",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_EVENT_FLOOR_US = (datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_US
_SUBSCRIBER_FLOOR_US = 0
_CEILING_US = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // _ONE_US
_MAX_BIGINT = (1 << 63) - 1
_CACHE_SIZE = 1 << 16
_PG = wire.UNIX_TO_PG_US  # Avro times count from 1970, PostgreSQL's from 2000
# Columns of each table in the wire forms of store.wire, for `readable`.
_TIMESTAMPS = frozenset({
    "start_time", "end_time", "event_time", "observed_at", "session_start", "session_end",
    "contract_start", "contract_end",
})  # fmt: skip
_ADDRESSES = frozenset({"private_ip", "public_ip"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _bad(reason: str, detail: str) -> PoisonRecord:
    return PoisonRecord(reason, detail)


def readable(table: str, row: tuple[object, ...]) -> dict[str, object]:
    """A codec row as a dict of column → value, its wire values as datetimes and addresses."""
    values: dict[str, object] = {}
    for column, value in zip(COLUMNS[table], row, strict=True):
        if value is not None and column in _TIMESTAMPS:
            assert isinstance(value, int)
            value = wire.instant(value)
        elif value is not None and column in _ADDRESSES:
            assert isinstance(value, bytes)
            value = wire.ip(value)
        values[column] = value
    return values


def _uuid(value: str) -> str:
    if identifiers.UUID(value) is None:
        raise _bad("invalid_identifier", "event_id is not a UUID")
    return value.lower()


def _is_name(value: str) -> bool:
    """A name-like text: 1-255 printable characters (NUL is `malformed`, not just invalid)."""
    if "\x00" in value:
        raise _bad("malformed", "NUL character in a text field")
    return 0 < len(value) <= 255 and value.isprintable()


def _free_text(values: Iterable[str | None], fields: tuple[str, ...]) -> None:
    for value, field in zip(values, fields, strict=True):
        if value is not None and "\x00" in value:
            raise _bad("malformed", f"NUL character in {field}")


class _Rule(set[str]):
    """The values that passed one rule, remembered so that a repeat costs one set look-up.

    Identifiers repeat (a subscriber's numbers, cells, handsets, network element names): the
    hot path tests `value in rule` and calls `check` only for a value not seen yet. At most
    `_CACHE_SIZE` values are kept; then the memory starts again.
    """

    def __init__(self, valid: Callable[[str], object], problem: str) -> None:
        super().__init__()
        self._valid = valid
        self._problem = problem

    def check(self, value: str, field: str) -> None:
        """Raise `invalid_identifier` naming `field` unless `value` passes; remember it."""
        if not self._valid(value):
            raise _bad("invalid_identifier", f"{field} {self._problem}")
        if len(self) >= _CACHE_SIZE:
            self.clear()
        self.add(value)


# Built by tuple.__new__ directly: a named tuple's own __new__ is a Python function, and one
# Decoded is made per message.
_new_tuple = tuple.__new__


def _decoded(table: str, event_time: int, row: tuple[object, ...]) -> Decoded:
    return _new_tuple(Decoded, (table, event_time, row))


class Codec:
    """Decodes and validates messages of the `TOPICS` into rows (see the module docstring)."""

    def __init__(self, schemas: avro.Schemas, *, now: Callable[[], datetime] = _utc_now,
                 future_skew: timedelta = timedelta(minutes=5),
                 registry: SchemaRegistry | None = None) -> None:  # fmt: skip
        outputs = {topic.removeprefix(avro.TOPIC_PREFIX): COLUMNS[t] for topic, t in TOPICS.items()}
        self.decoder = avro.Decoder(schemas, outputs, registry)
        self._now = now
        self._skew_us = future_skew // _ONE_US
        self._limit_at: datetime | None = None  # the instant `_limit` was worked out for
        self._limit = 0
        self._imeis: dict[str, str] = {}  # IMEI or IMEISV as sent → IMEI
        self._addresses: dict[str, bytes] = {}  # IP address text → wire inet
        self._msisdns = _Rule(identifiers.MSISDN, "is not an E.164 number")
        self._imsis = _Rule(identifiers.IMSI, "is not a 15-digit IMSI")
        self._dialled = _Rule(identifiers.DIALLED, "is not 1-15 digits")
        self._senders = _Rule(identifiers.SENDER, "is neither digits nor an alphanumeric id")
        self._cells = _Rule(identifiers.cell, "is not MCC-MNC-LAC-CI")
        self._names = _Rule(_is_name, "is not 1-255 printable characters")
        self._builders: dict[str, tuple[str, Callable[[tuple[Any, ...]], Decoded]]] = {
            "ruaj.cdr": ("cdr", self._cdr),
            "ruaj.sms": ("sms", self._sms),
            "ruaj.imei": ("imei", self._imei_observation),
            "ruaj.ipsession": ("ipsession", self._ip_session),
            "ruaj.subscriber": ("subscriber", self._subscriber_change),
        }

    @classmethod
    def from_settings(cls, settings: IngestSettings, *, schemas: avro.Schemas | None = None,
                      now: Callable[[], datetime] = _utc_now) -> Codec:  # fmt: skip
        """A codec for the installed schemas (or `schemas`) and the registry of `settings`."""
        registry = None
        if settings.schema_registry_url:
            registry = SchemaRegistry(
                settings.schema_registry_url, timeout=settings.schema_registry_timeout_seconds
            )
        return cls(
            schemas if schemas is not None else avro.load(),
            now=now,
            future_skew=timedelta(seconds=settings.future_skew_seconds),
            registry=registry,
        )

    def decode(self, topic: str, payload: bytes) -> Decoded:
        """The row of one message of `topic`; raises `PoisonRecord` if it cannot be stored.

        Raises `SchemaNotFetched` for a Confluent-framed message whose schema id was not
        prefetched (await `prefetch` for the batch first).
        """
        try:
            name, build = self._builders[topic]
        except KeyError:
            known = ", ".join(TOPICS)
            raise ValueError(f"not an event topic: {topic!r} (known: {known})") from None
        return build(self.decoder.decode(name, payload))

    async def prefetch(self, payloads: Iterable[bytes]) -> None:
        """Fetch registry schemas named by Confluent-framed `payloads` (no-op without registry).

        Raises `SchemaRegistryUnavailable` when the registry cannot answer: retry later.
        """
        await self.decoder.prefetch(payloads)

    # -- shared checks -------------------------------------------------------------------------

    def _limit_us(self) -> int:
        """The latest acceptable timestamp, in microseconds since the epoch.

        Worked out again only when the clock gives another instant (the worker reads its clock
        once per fetch, not per record)."""
        now = self._now()
        if now is not self._limit_at:
            self._limit_at = now
            self._limit = (now - _EPOCH) // _ONE_US + self._skew_us
        return self._limit

    def _imei(self, value: str, field: str) -> str:
        """The IMEI of an IMEI or IMEISV not seen yet (repeats are looked up by the caller)."""
        found = identifiers.imei(value)
        if found is None:
            raise _bad("invalid_imei", f"{field} is not an IMEI with a valid check digit")
        if len(self._imeis) >= _CACHE_SIZE:
            self._imeis.clear()
        self._imeis[value] = found
        return found

    def _address(self, value: str, field: str) -> bytes:
        """The wire inet of an IP address not seen yet (repeats are looked up by the caller)."""
        packed = identifiers.ip_packed(value)
        if packed is None:
            raise _bad("invalid_identifier", f"{field} is not an IP address")
        if len(self._addresses) >= _CACHE_SIZE:
            self._addresses.clear()
        found = self._addresses[value] = wire.address(packed)
        return found

    @staticmethod
    def _times(first: int, last: int, limit: int, names: str) -> None:
        """`first` ≤ `last` are event times: not before the floor, `last` not after `limit`."""
        if first < _EVENT_FLOOR_US:
            raise _bad("invalid_time", f"{names} before 2000-01-01")
        if last > limit:
            raise _bad("future_time", f"{names} in the future")

    def _session_times(self, status: str, at: int, start: int, end: int | None) -> None:
        if at < start:
            raise _bad("invalid_time", "event_time is before session_start")
        if (end is None) != (status != "STOP"):
            raise _bad("invalid_time", "session_end must be given on STOP records only")
        if end is not None and end < start:
            raise _bad("invalid_time", "session_end is before session_start")
        last = at if end is None or at > end else end
        self._times(start, last, self._limit_us(), "session times")

    # -- one builder per record ---------------------------------------------------------------
    # Each check is written `if value not in rule: rule.check(value, field)`: the membership
    # test is all a repeated identifier costs.

    def _cdr(self, v: tuple[Any, ...]) -> Decoded:
        (event_id, start, end, call_type, direction, calling, called, forwarded_to, msisdn,
         imsi, imei, cell_start, cell_end, end_reason, element) = v  # fmt: skip
        event_id = _uuid(event_id)
        if end < start:
            raise _bad("invalid_time", "end_time is before start_time")
        self._times(start, end, self._limit_us(), "start_time/end_time")
        msisdns = self._msisdns
        if calling not in msisdns:
            msisdns.check(calling, "calling_number")
        if called not in self._dialled:
            self._dialled.check(called, "called_number")
        if forwarded_to is not None and forwarded_to not in msisdns:
            msisdns.check(forwarded_to, "forwarded_to")
        if msisdn not in msisdns:
            msisdns.check(msisdn, "served_msisdn")
        if imsi not in self._imsis:
            self._imsis.check(imsi, "served_imsi")
        if imei is not None:
            imei = self._imeis.get(imei) or self._imei(imei, "served_imei")
        cells = self._cells
        if cell_start is not None and cell_start not in cells:
            cells.check(cell_start, "cell_start")
        if cell_end is not None and cell_end not in cells:
            cells.check(cell_end, "cell_end")
        names = self._names
        if end_reason and end_reason not in names:
            names.check(end_reason, "end_reason")
        if element not in names:
            names.check(element, "network_element")
        start_time = start - _PG
        row = (event_id, start_time, end - _PG, call_type, direction,
               calling, called, forwarded_to, msisdn, imsi, imei, cell_start, cell_end,
               end_reason, element)  # fmt: skip
        return _decoded("cdr", start_time, row)

    def _sms(self, v: tuple[Any, ...]) -> Decoded:
        (event_id, at, direction, sender, recipient, msisdn, imsi, imei, cell, message_type,
         status, element) = v  # fmt: skip
        event_id = _uuid(event_id)
        self._times(at, at, self._limit_us(), "event_time")
        if sender not in self._senders:
            self._senders.check(sender, "sender")
        if recipient not in self._dialled:
            self._dialled.check(recipient, "recipient")
        if msisdn not in self._msisdns:
            self._msisdns.check(msisdn, "served_msisdn")
        if imsi not in self._imsis:
            self._imsis.check(imsi, "served_imsi")
        if imei is not None:
            imei = self._imeis.get(imei) or self._imei(imei, "served_imei")
        if cell is not None and cell not in self._cells:
            self._cells.check(cell, "cell")
        if element not in self._names:
            self._names.check(element, "network_element")
        event_time = at - _PG
        row = (event_id, event_time, direction, sender, recipient, msisdn, imsi, imei, cell,
               message_type, status, element)  # fmt: skip
        return _decoded("sms", event_time, row)

    def _imei_observation(self, v: tuple[Any, ...]) -> Decoded:
        event_id, at, imei, imsi, msisdn, cell, reason, element = v
        event_id = _uuid(event_id)
        self._times(at, at, self._limit_us(), "observed_at")
        imei = self._imeis.get(imei) or self._imei(imei, "imei")
        if imsi not in self._imsis:
            self._imsis.check(imsi, "imsi")
        if msisdn is not None and msisdn not in self._msisdns:
            self._msisdns.check(msisdn, "msisdn")
        if cell is not None and cell not in self._cells:
            self._cells.check(cell, "cell")
        if element not in self._names:
            self._names.check(element, "network_element")
        observed_at = at - _PG
        row = (event_id, observed_at, imei, imsi, msisdn, cell, reason, element)
        return _decoded("imei_observation", observed_at, row)

    def _ip_session(self, v: tuple[Any, ...]) -> Decoded:
        (event_id, session_id, status, at, start, end, msisdn, imsi, imei, apn, private_ip,
         public_ip, port_first, port_last, cell, bytes_up, bytes_down) = v  # fmt: skip
        event_id = _uuid(event_id)
        names = self._names
        if session_id not in names:
            names.check(session_id, "session_id")
        self._session_times(status, at, start, end)
        if msisdn not in self._msisdns:
            self._msisdns.check(msisdn, "msisdn")
        if imsi not in self._imsis:
            self._imsis.check(imsi, "imsi")
        if imei is not None:
            imei = self._imeis.get(imei) or self._imei(imei, "imei")
        if apn not in names:
            names.check(apn, "apn")
        addresses = self._addresses
        private = addresses.get(private_ip) or self._address(private_ip, "private_ip")
        public = addresses.get(public_ip) or self._address(public_ip, "public_ip")
        if not 0 <= port_first <= port_last <= 65535:
            raise _bad("invalid_identifier", "public port block is not 0 <= first <= last <= 65535")
        if cell is not None and cell not in self._cells:
            self._cells.check(cell, "cell")
        for count, field in ((bytes_up, "bytes_up"), (bytes_down, "bytes_down")):
            if count is not None and not 0 <= count <= _MAX_BIGINT:
                raise _bad("invalid_identifier", f"{field} is not a byte count")
        event_time = at - _PG
        row = (event_id, session_id, status, event_time, start - _PG,
               None if end is None else end - _PG, msisdn, imsi, imei, apn,
               private, public, port_first, port_last, cell, bytes_up, bytes_down)  # fmt: skip
        return _decoded("ip_session", event_time, row)

    def _subscriber_change(self, v: tuple[Any, ...]) -> Decoded:
        (event_id, at, subscriber_id, operation, given_name, family_name, personal_number,
         address, city, email, contact_number, contract_start, contract_end, kind,
         value) = v  # fmt: skip
        event_id = _uuid(event_id)
        if at < _SUBSCRIBER_FLOOR_US:
            raise _bad("invalid_time", "event_time is before 1970")
        if at > self._limit_us():
            raise _bad("future_time", "event_time is in the future")
        if not (0 < len(subscriber_id) <= 64 and subscriber_id.isprintable()):
            raise _bad("invalid_identifier", "subscriber_id is not 1-64 printable characters")
        _free_text(
            (given_name, family_name, personal_number, address, city, email, contact_number),
            ("given_name", "family_name", "personal_number", "address", "city", "email",
             "contact_number"),
        )  # fmt: skip
        for stamp, field in ((contract_start, "contract_start"), (contract_end, "contract_end")):
            if stamp is not None and not _SUBSCRIBER_FLOOR_US <= stamp <= _CEILING_US:
                raise _bad("invalid_time", f"{field} is out of range")
        if (
            contract_start is not None
            and contract_end is not None
            and contract_end < contract_start
        ):
            raise _bad("invalid_time", "contract_end is before contract_start")
        _identity(operation, kind, value)
        event_time = at - _PG
        row = (event_id, event_time, subscriber_id, operation, given_name, family_name,
               personal_number, address, city, email, contact_number,
               None if contract_start is None else contract_start - _PG,
               None if contract_end is None else contract_end - _PG, kind, value)  # fmt: skip
        return _decoded("subscriber_change", event_time, row)


def _identity(operation: str, kind: str | None, value: str | None) -> None:
    if operation not in ("ASSIGN_IDENTITY", "RELEASE_IDENTITY"):
        if kind is not None or value is not None:
            raise _bad("invalid_identifier", f"{operation} carries no identity")
        return
    if kind is None or value is None:
        raise _bad("invalid_identifier", f"{operation} needs identity_kind and identity_value")
    valid = {
        "MSISDN": identifiers.MSISDN(value) is not None,
        "IMSI": identifiers.IMSI(value) is not None,
        "ICCID": identifiers.iccid(value),
    }.get(kind, False)
    if not valid:
        raise _bad("invalid_identifier", f"identity_value is not a valid {kind}")
