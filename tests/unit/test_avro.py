"""Schemas, fingerprints, single-object framing and the compiled readers (no I/O)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import pytest

import schemas as bundled
from ingest import avro, avro_reader
from ingest.errors import PoisonRecord, SchemaError
from tests import samples
from tests.support import ROOT

V2_DIR = ROOT / "tests" / "data" / "avro"
ALL_FIELDS = {name: tuple(f["name"] for f in avro.load().reader(name).schema["fields"])
              for name in avro.load().names}  # fmt: skip


def _decoder(schemas: avro.Schemas | None = None) -> avro.Decoder:
    schemas = schemas or avro.load()
    fields = {name: tuple(f["name"] for f in schemas.reader(name).schema["fields"])
              for name in schemas.names}  # fmt: skip
    return avro.Decoder(schemas, fields)


def _micros(value: Any) -> Any:
    """A datetime as the microseconds on the wire; anything else as it is."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1)
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_the_five_records_are_loaded_as_version_1() -> None:
    schemas = avro.load()
    assert schemas.names == ("cdr", "imei", "ipsession", "sms", "subscriber")
    for name in schemas.names:
        (only,) = schemas.versions(name)
        assert only.version == 1
        assert schemas.reader(name) is only
        assert only.topic == f"ruaj.{name}"
        assert only.record_name.startswith("ruaj.events.")


def test_fingerprint_is_crc64_avro_of_the_canonical_form() -> None:
    # Avro specification test vector: the fingerprint of "null" is 0x63dd24e7cc258f8a.
    assert avro.crc64_avro(b'"null"') == 0x63DD24E7CC258F8A
    for version in (v for n in avro.load().names for v in avro.load().versions(n)):
        expected = fastavro.schema.fingerprint(version.canonical, "CRC-64-AVRO")
        assert version.fingerprint.to_bytes(8, "little").hex() == expected
        assert version.header == b"\xc3\x01" + bytes.fromhex(expected)
        assert version.canonical == fastavro.schema.to_parsing_canonical_form(dict(version.schema))


@pytest.mark.parametrize("name", sorted(samples.BY_SCHEMA))
def test_decode_returns_every_field_as_encoded(name: str) -> None:
    record = samples.BY_SCHEMA[name]()
    payload = avro.load().encode(name, record)
    values = _decoder().decode(name, payload)
    assert values == tuple(_micros(record[f]) for f in ALL_FIELDS[name])


@pytest.mark.parametrize("name", sorted(samples.BY_SCHEMA))
def test_decode_agrees_with_fastavro_with_every_optional_field_null(name: str) -> None:
    schemas = avro.load()
    reader = schemas.reader(name)
    optional = [f["name"] for f in reader.schema["fields"] if isinstance(f["type"], list)]
    record = samples.BY_SCHEMA[name](**dict.fromkeys(optional))
    if name == "ipsession":
        record["status"] = "START"
    payload = schemas.encode(name, record)
    expected = fastavro.schemaless_reader(io.BytesIO(payload[10:]), dict(reader.schema), None)
    assert isinstance(expected, dict)
    values = _decoder(schemas).decode(name, payload)
    assert dict(zip(ALL_FIELDS[name], values, strict=True)) == {
        k: _micros(v) for k, v in expected.items()
    }
    assert all(values[ALL_FIELDS[name].index(f)] is None for f in optional)


def test_decoder_returns_the_fields_asked_for_in_that_order() -> None:
    schemas = avro.load()
    decoder = avro.Decoder(schemas, {"imei": ("reason", "imei", "event_id")})
    payload = schemas.encode("imei", samples.imei())
    assert decoder.decode("imei", payload) == ("ATTACH", samples.IMEI, samples.imei()["event_id"])


def test_a_v2_reader_reads_v1_messages_with_the_new_field_defaulted() -> None:
    schemas = avro.load(bundled.directory(), V2_DIR)
    assert [v.version for v in schemas.versions("cdr")] == [1, 2]
    assert schemas.reader("cdr").version == 2
    decoder = avro.Decoder(schemas, {"cdr": ("event_id", "roaming_country", "called_number")})
    old = schemas.encode("cdr", samples.cdr(), version=1)
    new = schemas.encode("cdr", samples.cdr(roaming_country="AL"), version=2)
    assert old[2:10] != new[2:10]
    assert decoder.decode("cdr", old) == (samples.cdr()["event_id"], None, samples.OTHER_MSISDN)
    assert decoder.decode("cdr", new) == (samples.cdr()["event_id"], "AL", samples.OTHER_MSISDN)


def test_an_older_version_that_does_not_resolve_stops_loading(tmp_path: Path) -> None:
    schema = json.loads((bundled.directory() / "cdr.v1.avsc").read_text())
    schema["fields"].append({"name": "roaming_country", "type": "string"})  # no default
    (tmp_path / "cdr.v2.avsc").write_text(json.dumps(schema))
    with pytest.raises(SchemaError, match=r"roaming_country .*no default"):
        avro.load(bundled.directory(), tmp_path)


def test_schema_files_must_be_named_by_version(tmp_path: Path) -> None:
    (tmp_path / "sms.avsc").write_text((bundled.directory() / "sms.v1.avsc").read_text())
    with pytest.raises(SchemaError, match=r"<name>\.v<N>\.avsc"):
        avro.load(tmp_path)


def test_the_same_schema_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sms.v2.avsc").write_text((bundled.directory() / "sms.v1.avsc").read_text())
    with pytest.raises(SchemaError, match="same canonical form"):
        avro.load(bundled.directory(), tmp_path)


DECODER = _decoder()


def _poison(name: str, payload: bytes) -> PoisonRecord:
    with pytest.raises(PoisonRecord) as caught:
        DECODER.decode(name, payload)
    return caught.value


def test_trailing_bytes_are_poison() -> None:
    payload = avro.load().encode("sms", samples.sms())
    assert _poison("sms", payload + b"\x00").reason == "trailing_bytes"


def test_every_truncation_is_malformed() -> None:
    payload = avro.load().encode("ipsession", samples.ipsession())
    reasons = {_poison("ipsession", payload[:cut]).reason for cut in range(len(payload))}
    # Cutting inside the fingerprint makes an unknown (or short) header: never a decoded record.
    assert reasons <= {"malformed", "unknown_schema"}
    assert {_poison("ipsession", payload[:cut]).reason for cut in range(10, len(payload))} == {
        "malformed"
    }


def test_unknown_fingerprint_and_other_topics_schema_are_unknown_schema() -> None:
    schemas = avro.load()
    payload = schemas.encode("sms", samples.sms())
    forged = payload[:2] + bytes(8) + payload[10:]
    assert _poison("sms", forged).reason == "unknown_schema"
    misrouted = _poison("cdr", payload)
    assert misrouted.reason == "unknown_schema"
    assert "sms v1" in misrouted.detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed"),
        (b"\xc3", "malformed"),
        (b"\xc3\x01\x00", "malformed"),
        (b'{"event_id": 1}', "malformed"),
        (b"\x00\x00\x00\x00\x07rest", "unknown_schema"),  # Confluent, but no registry
    ],
)
def test_bytes_that_are_no_message(payload: bytes, reason: str) -> None:
    assert _poison("sms", payload).reason == reason


def _with_enum_symbol(name: str, field: str, extra: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((bundled.directory() / f"{name}.v1.avsc").read_text())
    for spec in schema["fields"]:
        if spec["name"] == field:
            spec["type"]["symbols"].append(extra)
    return schema


def test_an_enum_index_beyond_the_symbols_is_invalid_enum() -> None:
    writer = fastavro.parse_schema(_with_enum_symbol("cdr", "call_type", "FAX"))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer, samples.cdr(call_type="FAX"))
    payload = avro.load().reader("cdr").header + body.getvalue()
    poison = _poison("cdr", payload)
    assert poison.reason == "invalid_enum"
    assert "call_type" in poison.detail


def test_invalid_utf8_is_malformed() -> None:
    payload = avro.load().encode("imei", samples.imei(network_element="mme-x"))
    broken = payload.replace(b"mme-x", b"mme-\xff")
    assert _poison("imei", broken).reason == "malformed"


def test_overlong_varint_is_malformed() -> None:
    header = avro.load().reader("imei").header
    assert _poison("imei", header + b"\xff" * 11 + b"\x01").reason == "malformed"


# -- resolution beyond our own schemas (writer schemas from a registry may differ more) --------


def _read(writer: dict[str, Any], reader: dict[str, Any], record: dict[str, Any],
          fields: tuple[str, ...]) -> tuple[Any, ...]:  # fmt: skip
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(writer), record)
    data = body.getvalue()
    compiled = avro_reader.Reader(avro_reader.parse(writer), avro_reader.parse(reader), fields)
    values, end = compiled.read(data, 0)
    assert end == len(data)
    return values


def _record(*fields: dict[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def test_promotions_union_reordering_and_skipped_complex_fields() -> None:
    writer = _record(
        {"name": "a", "type": "int"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "b", "type": ["string", "null"]},
        {"name": "attrs", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "nested", "type": _record({"name": "x", "type": "double"}, name="N")},
        {"name": "c", "type": "float"},
        {"name": "blob", "type": {"type": "fixed", "name": "F", "size": 3}},
        {"name": "flag", "type": "boolean"},
    )
    reader = _record(
        {"name": "flag", "type": "boolean"},
        {"name": "a", "type": "long"},
        {"name": "b", "type": ["null", "string"]},
        {"name": "c", "type": "double"},
        {"name": "d", "type": "string", "default": "dflt"},
    )
    record = {"a": -7, "tags": ["x", "yy"], "b": "héllo", "attrs": {"k": 1, "n": None},
              "nested": {"x": 1.5}, "c": 0.25, "blob": b"abc", "flag": True}  # fmt: skip
    assert _read(writer, reader, record, ("a", "b", "c", "d", "flag")) == (
        -7, "héllo", 0.25, "dflt", True,
    )  # fmt: skip


def test_enum_symbols_unknown_to_the_reader_take_its_default() -> None:
    writer = _record({"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}})
    reader = _record(
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "Z"], "default": "Z"}}
    )
    assert _read(writer, reader, {"e": "B"}, ("e",)) == ("Z",)
    strict = _record({"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}})
    with pytest.raises(PoisonRecord, match="invalid_enum"):
        _read(writer, strict, {"e": "B"}, ("e",))
    assert _read(writer, strict, {"e": "A"}, ("e",)) == ("A",)


@pytest.mark.parametrize(
    ("writer_type", "reader_type"),
    [
        ("long", "int"),  # no demotion
        ("string", "long"),
        (["null", "string"], "string"),  # a null the reader cannot hold
        ({"type": "long", "logicalType": "timestamp-millis"},
         {"type": "long", "logicalType": "timestamp-micros"}),
        ({"type": "array", "items": "long"}, "long"),
    ],
)  # fmt: skip
def test_types_that_do_not_resolve_are_refused(writer_type: Any, reader_type: Any) -> None:
    writer = _record({"name": "f", "type": writer_type})
    reader = _record({"name": "f", "type": reader_type})
    with pytest.raises(SchemaError):
        avro_reader.Reader(avro_reader.parse(writer), avro_reader.parse(reader), ("f",))


def test_a_record_of_another_name_does_not_resolve() -> None:
    writer = _record({"name": "f", "type": "long"}, name="Other")
    reader = _record({"name": "f", "type": "long"})
    with pytest.raises(SchemaError, match="is not reader record"):
        avro_reader.Reader(avro_reader.parse(writer), avro_reader.parse(reader), ("f",))
