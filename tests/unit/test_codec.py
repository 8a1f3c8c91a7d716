"""Validation and row building of `ingest.codec` (no I/O)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

import pytest

from ingest import avro, codec
from ingest.errors import PoisonRecord
from ingest.settings import IngestSettings
from store import wire
from tests import samples

SCHEMAS = avro.load()


def _codec(skew: timedelta = timedelta(minutes=5)) -> codec.Codec:
    return codec.Codec(SCHEMAS, now=lambda: samples.NOW, future_skew=skew)


CODEC = _codec()


def _decode(name: str, **changes: Any) -> codec.Decoded:
    payload = SCHEMAS.encode(name, samples.BY_SCHEMA[name](**changes))
    return CODEC.decode(samples.TOPIC_OF[name], payload)


def _row(name: str, **changes: Any) -> dict[str, object]:
    decoded = _decode(name, **changes)
    return codec.readable(decoded.table, decoded.row)


def _reason(name: str, **changes: Any) -> str:
    with pytest.raises(PoisonRecord) as caught:
        _decode(name, **changes)
    return caught.value.reason


def test_topics_and_columns_cover_every_record() -> None:
    assert set(codec.TOPICS.values()) == set(codec.COLUMNS)
    assert codec.TOPICS["ruaj.imei"] == "imei_observation"
    assert codec.TOPICS["ruaj.ipsession"] == "ip_session"
    for topic, table in codec.TOPICS.items():
        reader = SCHEMAS.reader(topic.removeprefix("ruaj."))
        assert set(codec.COLUMNS[table]) == {f["name"] for f in reader.schema["fields"]}


@pytest.mark.parametrize("name", sorted(samples.BY_SCHEMA))
def test_a_valid_record_becomes_its_row(name: str) -> None:
    record = samples.BY_SCHEMA[name]()
    decoded = _decode(name)
    assert decoded.table == codec.TOPICS[samples.TOPIC_OF[name]]
    row = codec.readable(decoded.table, decoded.row)
    for column, value in row.items():
        sent = record[column]
        if column in ("private_ip", "public_ip"):
            assert value == ipaddress.ip_address(sent)
        else:
            assert value == sent, column
            if isinstance(sent, datetime):
                assert value.utcoffset() == timedelta(0), column  # type: ignore[attr-defined]
    time_column = {"cdr": "start_time", "imei_observation": "observed_at"}.get(
        decoded.table, "event_time"
    )
    assert wire.instant(decoded.event_time) == record[time_column]


def test_row_representations_are_the_fast_ones_for_copy() -> None:
    decoded = _decode("ipsession", event_id="6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB",
                      public_ip="2001:db8::7")  # fmt: skip
    row = dict(zip(codec.COLUMNS["ip_session"], decoded.row, strict=True))
    assert row["event_id"] == "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"
    # PostgreSQL's binary inet: family, prefix bits, is_cidr, length, address
    assert row["private_ip"] == bytes([2, 32, 0, 4, 100, 64, 12, 34])
    assert row["public_ip"] == bytes([3, 128, 0, 16]) + ipaddress.IPv6Address("2001:db8::7").packed
    # timestamps: microseconds since 2000-01-01 UTC, PostgreSQL's epoch
    sent = samples.BY_SCHEMA["ipsession"]()
    assert row["event_time"] == (sent["event_time"] - wire.PG_EPOCH) // timedelta(microseconds=1)
    assert decoded.event_time == row["event_time"]
    assert row["session_end"] is None or isinstance(row["session_end"], int)


def test_imeisv_is_stored_as_its_imei() -> None:
    assert _row("cdr", served_imei=samples.IMEISV)["served_imei"] == samples.IMEI
    assert _row("imei", imei=samples.IMEISV)["imei"] == samples.IMEI
    assert _row("ipsession", imei=samples.IMEISV)["imei"] == samples.IMEI


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        ("cdr", {"event_id": "not-a-uuid"}, "invalid_identifier"),
        ("cdr", {"event_id": "6f1c2d3e4a5b4c6d8e7f0123456789ab"}, "invalid_identifier"),
        ("cdr", {"calling_number": "038344123456"}, "invalid_identifier"),
        ("cdr", {"calling_number": "+38344123456"}, "invalid_identifier"),
        ("cdr", {"calling_number": "383441"}, "invalid_identifier"),  # 6 digits
        ("cdr", {"calling_number": "3834412345678901"}, "invalid_identifier"),  # 16 digits
        ("cdr", {"calling_number": "٣٨٣٤٤١٢٣٤٥٦"}, "invalid_identifier"),  # Arabic-Indic digits
        ("cdr", {"called_number": ""}, "invalid_identifier"),
        ("cdr", {"called_number": "*100#"}, "invalid_identifier"),
        ("cdr", {"forwarded_to": "0044"}, "invalid_identifier"),
        ("cdr", {"served_msisdn": "abc"}, "invalid_identifier"),
        ("cdr", {"served_imsi": "22102123456789"}, "invalid_identifier"),
        ("cdr", {"served_imei": "490154203237519"}, "invalid_imei"),  # bad Luhn
        ("cdr", {"served_imei": "49015420323751"}, "invalid_imei"),
        ("cdr", {"served_imei": "4901542032375A01"}, "invalid_imei"),
        ("cdr", {"cell_start": "221-02-01234-5"}, "invalid_identifier"),  # leading zero
        ("cdr", {"cell_end": "221-2-1234-5"}, "invalid_identifier"),
        ("cdr", {"cell_end": "221-02-16777216-5"}, "invalid_identifier"),  # TAC > 24 bits
        ("cdr", {"cell_end": "221-02-1-68719476736"}, "invalid_identifier"),  # CI > 36 bits
        ("cdr", {"end_time": samples.NOW - timedelta(minutes=4)}, "invalid_time"),
        ("cdr", {"end_time": samples.NOW + timedelta(minutes=6)}, "future_time"),
        ("cdr", {"start_time": samples.NOW - timedelta(days=10_000)}, "invalid_time"),
        ("cdr", {"network_element": ""}, "invalid_identifier"),
        ("cdr", {"network_element": "msc\x001"}, "malformed"),
        ("cdr", {"end_reason": "x" * 256}, "invalid_identifier"),
        ("sms", {"sender": "ALPHABANK123"}, "invalid_identifier"),  # 12 characters
        ("sms", {"sender": "BANK-X"}, "invalid_identifier"),
        ("sms", {"recipient": "BANK"}, "invalid_identifier"),
        ("sms", {"event_time": samples.NOW + timedelta(minutes=5, seconds=1)}, "future_time"),
        ("imei", {"imei": "490154203237510"}, "invalid_imei"),
        ("imei", {"imsi": "2210212345678901"}, "invalid_identifier"),
        ("imei", {"msisdn": "0038344"}, "invalid_identifier"),
        ("ipsession", {"private_ip": "100.64.012.34"}, "invalid_identifier"),
        ("ipsession", {"public_ip": "203.0.113"}, "invalid_identifier"),
        ("ipsession", {"public_ip": "fe80::1%eth0"}, "invalid_identifier"),
        ("ipsession", {"public_port_first": 40256}, "invalid_identifier"),
        ("ipsession", {"public_port_last": 65536}, "invalid_identifier"),
        ("ipsession", {"public_port_first": -1}, "invalid_identifier"),
        ("ipsession", {"bytes_up": -5}, "invalid_identifier"),
        ("ipsession", {"apn": ""}, "invalid_identifier"),
        ("ipsession", {"session_end": None}, "invalid_time"),  # a STOP without end
        ("ipsession", {"status": "INTERIM"}, "invalid_time"),  # an end without STOP
        ("ipsession", {"session_end": samples.NOW - timedelta(hours=3)}, "invalid_time"),
        ("ipsession", {"event_time": samples.NOW - timedelta(hours=3)}, "invalid_time"),
        ("ipsession", {"session_end": samples.NOW + timedelta(hours=1),
                       "event_time": samples.NOW + timedelta(hours=1)}, "future_time"),
        ("subscriber", {"subscriber_id": ""}, "invalid_identifier"),
        ("subscriber", {"subscriber_id": "x" * 65}, "invalid_identifier"),
        ("subscriber", {"subscriber_id": "CUST\n42"}, "invalid_identifier"),
        ("subscriber", {"address": "a\x00b"}, "malformed"),
        ("subscriber", {"contract_end": samples.NOW - timedelta(days=500)}, "invalid_time"),
        ("subscriber", {"event_time": samples.NOW + timedelta(hours=1)}, "future_time"),
        ("subscriber", {"identity_kind": "MSISDN", "identity_value": samples.MSISDN},
         "invalid_identifier"),  # UPSERT carries no identity
        ("subscriber", {"operation": "ASSIGN_IDENTITY"}, "invalid_identifier"),
        ("subscriber", {"operation": "ASSIGN_IDENTITY", "identity_kind": "MSISDN",
                        "identity_value": "0123"}, "invalid_identifier"),
        ("subscriber", {"operation": "RELEASE_IDENTITY", "identity_kind": "IMSI",
                        "identity_value": samples.MSISDN}, "invalid_identifier"),
        ("subscriber", {"operation": "ASSIGN_IDENTITY", "identity_kind": "ICCID",
                        "identity_value": "8838302123456789012"}, "invalid_identifier"),
    ],
)  # fmt: skip
def test_each_rule_gives_its_reason(name: str, changes: dict[str, Any], reason: str) -> None:
    assert _reason(name, **changes) == reason


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("cdr", {"called_number": "112"}),
        ("cdr", {"called_number": "0"}),
        ("cdr", {"direction": "FORWARDED", "forwarded_to": "38345111222"}),
        ("cdr", {"served_imei": None, "cell_start": None, "cell_end": None, "end_reason": None}),
        ("cdr", {"cell_start": "001-001-0-0"}),
        ("cdr", {"end_time": samples.NOW + timedelta(minutes=5)}),  # exactly the skew
        ("sms", {"sender": "ALPHA BANK"}),
        ("sms", {"sender": "1234"}),
        ("ipsession", {"status": "START", "session_end": None, "bytes_up": None,
                       "bytes_down": None}),
        ("ipsession", {"private_ip": "fd00::1", "public_ip": "::ffff:203.0.113.9"}),
        ("ipsession", {"public_port_first": 0, "public_port_last": 65535}),
        ("subscriber", {"operation": "ASSIGN_IDENTITY", "identity_kind": "ICCID",
                        "identity_value": "8938302123456789012", "given_name": None}),
        ("subscriber", {"operation": "RELEASE_IDENTITY", "identity_kind": "IMSI",
                        "identity_value": samples.IMSI}),
        ("subscriber", {"operation": "TERMINATE",
                        "contract_end": samples.NOW + timedelta(days=30)}),  # ends later: fine
    ],
)  # fmt: skip
def test_valid_variants_are_accepted(name: str, changes: dict[str, Any]) -> None:
    assert _decode(name, **changes).row


def test_the_skew_is_configurable() -> None:
    payload = SCHEMAS.encode("sms", samples.sms(event_time=samples.NOW + timedelta(seconds=10)))
    assert _codec(timedelta(seconds=10)).decode("ruaj.sms", payload).table == "sms"
    with pytest.raises(PoisonRecord, match="future_time"):
        _codec(timedelta(seconds=9)).decode("ruaj.sms", payload)


def test_the_future_limit_follows_the_clock() -> None:
    clock = [samples.NOW]
    subject = codec.Codec(SCHEMAS, now=lambda: clock[0], future_skew=timedelta(minutes=5))
    later = SCHEMAS.encode("sms", samples.sms(event_time=samples.NOW + timedelta(minutes=6)))
    with pytest.raises(PoisonRecord, match="future_time"):
        subject.decode("ruaj.sms", later)
    clock[0] = samples.NOW + timedelta(minutes=1)  # the worker's next fetch
    assert subject.decode("ruaj.sms", later).table == "sms"
    clock[0] = samples.NOW  # a clock set back is followed too
    with pytest.raises(PoisonRecord, match="future_time"):
        subject.decode("ruaj.sms", later)


def test_poison_details_never_hold_the_value() -> None:
    bad = "38344999999x"
    with pytest.raises(PoisonRecord) as caught:
        _decode("cdr", served_msisdn=bad)
    assert caught.value.detail == "served_msisdn is not an E.164 number"
    assert bad not in str(caught.value)


def test_an_unknown_topic_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not an event topic"):
        CODEC.decode("ruaj.dlq", b"")


def test_a_cached_bad_imei_stays_bad() -> None:
    subject = _codec()
    payload = SCHEMAS.encode("imei", samples.imei(imei="490154203237519"))
    for _ in range(2):
        with pytest.raises(PoisonRecord, match="invalid_imei"):
            subject.decode("ruaj.imei", payload)


def test_from_settings_wires_skew_and_registry() -> None:
    settings = IngestSettings(kafka_bootstrap="localhost:9092", future_skew_seconds=60,
                              schema_registry_url="http://registry.example:8081/")  # fmt: skip
    made = codec.Codec.from_settings(settings, now=lambda: samples.NOW)
    assert made.decoder.registry is not None
    assert made.decoder.registry.url == "http://registry.example:8081"
    payload = SCHEMAS.encode("sms", samples.sms(event_time=samples.NOW + timedelta(seconds=61)))
    with pytest.raises(PoisonRecord, match="future_time"):
        made.decode("ruaj.sms", payload)
    plain = codec.Codec.from_settings(IngestSettings(kafka_bootstrap="localhost:9092"))
    assert plain.decoder.registry is None


def test_the_named_tuples_built_field_by_position_keep_their_fields() -> None:
    # codec._decoded and consumer.Worker._item build these with tuple.__new__, by position.
    from store import writer

    assert codec.Decoded._fields == ("table", "event_time", "row")
    assert writer.Item._fields == (
        "topic", "partition", "offset", "table", "row", "event_time", "reason"
    )  # fmt: skip
    decoded = _decode("sms")
    assert decoded == codec.Decoded(decoded.table, decoded.event_time, decoded.row)
