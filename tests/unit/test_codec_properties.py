"""Properties over generated input: the compiled reader agrees with fastavro, and no bytes make
the codec fail with anything but a poison record (which would block a partition)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import avro, codec
from ingest.errors import PoisonRecord
from tests import samples

SCHEMAS = avro.load()
NAMES = sorted(SCHEMAS.names)
FIELDS = {n: tuple(f["name"] for f in SCHEMAS.reader(n).schema["fields"]) for n in NAMES}
CODEC = codec.Codec(SCHEMAS, now=lambda: samples.NOW, future_skew=timedelta(minutes=5))
DECODER = avro.Decoder(SCHEMAS, FIELDS)
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_INT = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def _value(kind: Any) -> st.SearchStrategy[Any]:
    """Values of an Avro type as fastavro writes them (timestamps as integers)."""
    if isinstance(kind, list):
        return st.one_of(*(_value(branch) for branch in kind))
    if isinstance(kind, dict):
        if kind["type"] == "enum":
            return st.sampled_from(kind["symbols"])
        return _value(kind["type"])
    return {
        "null": st.none(),
        "string": st.text(max_size=30),
        "long": _LONG,
        "int": _INT,
    }[kind]


def _records(name: str) -> st.SearchStrategy[dict[str, Any]]:
    spec = SCHEMAS.reader(name).schema["fields"]
    return st.fixed_dictionaries({f["name"]: _value(f["type"]) for f in spec})


def _raw_schema(name: str) -> Any:
    """The reader schema without logical types, so integers are written as they are."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("logicalType"):
                return node["type"]
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return fastavro.parse_schema(strip(dict(SCHEMAS.reader(name).schema)))


RAW = {name: _raw_schema(name) for name in NAMES}


def _encode(name: str, record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, RAW[name], record)
    return SCHEMAS.reader(name).header + body.getvalue()


@st.composite
def _named_record(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(NAMES))
    return name, draw(_records(name))


@PROPERTY
@given(_named_record())
def test_the_compiled_reader_reads_what_fastavro_wrote(case: tuple[str, dict[str, Any]]) -> None:
    name, record = case
    assert DECODER.decode(name, _encode(name, record)) == tuple(record[f] for f in FIELDS[name])


@PROPERTY
@given(_named_record())
def test_any_record_gives_a_row_or_a_poison_record(case: tuple[str, dict[str, Any]]) -> None:
    name, record = case
    try:
        decoded = CODEC.decode(avro.TOPIC_PREFIX + name, _encode(name, record))
    except PoisonRecord as poison:
        assert poison.reason in {"invalid_identifier", "invalid_imei", "invalid_time",
                                 "future_time", "malformed"}  # fmt: skip
        return
    assert len(decoded.row) == len(codec.COLUMNS[decoded.table])
    assert all("\x00" not in v for v in decoded.row if isinstance(v, str))


@PROPERTY
@given(st.sampled_from(NAMES), st.data())
def test_any_corruption_gives_a_row_or_a_poison_record(name: str, data: st.DataObject) -> None:
    payload = bytearray(SCHEMAS.encode(name, samples.BY_SCHEMA[name]()))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload) + 3))
    mangled = bytes(payload[:cut]) + bytes(max(0, cut - len(payload)))
    try:
        CODEC.decode(avro.TOPIC_PREFIX + name, mangled)
    except PoisonRecord as poison:
        assert poison.reason in {"malformed", "unknown_schema", "trailing_bytes", "invalid_enum",
                                 "invalid_identifier", "invalid_imei", "invalid_time",
                                 "future_time"}  # fmt: skip


@PROPERTY
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_a_known_header_never_crash(body: bytes) -> None:
    for name in NAMES:
        try:
            CODEC.decode(avro.TOPIC_PREFIX + name, SCHEMAS.reader(name).header + body)
        except PoisonRecord:
            pass
