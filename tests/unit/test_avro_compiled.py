"""The C reader (ingest/_cavro.c) against the generated Python reader: the same values and the
same reasons, on good records and on every kind of damage."""

from __future__ import annotations

import importlib.util
import random
import shutil
import struct
import sysconfig
from typing import Any

import pytest

from ingest import avro, avro_reader
from ingest.errors import PoisonRecord
from tests import samples
from tests.support import varint

_compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
_built = importlib.util.find_spec("ingest._cavro") is not None
needs_c = pytest.mark.skipif(not _built, reason="C reader not built here")


def test_the_c_reader_is_built_where_there_is_a_compiler() -> None:
    if shutil.which(_compiler) is None:
        pytest.skip("no C compiler on this machine: the Python reader is the one in use")
    assert _built, "make install did not build ingest._cavro"
    schemas = avro.load()
    for name in schemas.names:
        version = schemas.reader(name)
        reader = avro_reader.Reader(version.parsed, version.parsed, _fields(version))
        assert reader.compiled is not None


def _fields(version: avro.SchemaVersion) -> tuple[str, ...]:
    return tuple(f["name"] for f in version.schema["fields"])


def _outcome(read: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", repr(read(data, 0))  # repr: a damaged float may be NaN
    except PoisonRecord as exc:
        return "poison", exc.reason


def _pair(
    writer: Any, reader: Any, fields: tuple[str, ...]
) -> tuple[avro_reader.Reader, avro_reader.Reader]:
    """The C reader of the schemas, and the Python one."""
    types = avro_reader.parse(writer), avro_reader.parse(reader)
    subject = avro_reader.Reader(*types, fields)
    python = avro_reader.Reader(*types, fields, compiled=False)
    assert subject.compiled is not None and python.compiled is None
    return subject, python


def _agree(subject: avro_reader.Reader, python: avro_reader.Reader, data: bytes) -> None:
    assert _outcome(python.read, data) == _outcome(subject.read, data)


def _damaged(body: bytes, rng: random.Random) -> list[bytes]:
    out = [body[:cut] for cut in range(len(body))]  # every truncation
    out += [body + b"\x00"]
    for _ in range(300):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        out.append(bytes(damaged))
    out += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))) for _ in range(200)]
    out += [b"\xff" * 11, b"\x80" * 9 + b"\x02", b"\x80" * 9 + b"\x01"]  # varint limits
    return out


@needs_c
@pytest.mark.parametrize("name", sorted(samples.BY_SCHEMA))
def test_event_records_read_alike_whole_and_damaged(name: str) -> None:
    schemas = avro.load()
    version = schemas.reader(name)
    subject, python = _pair(version.schema, version.schema, _fields(version))
    rng = random.Random(name)
    bodies = [version.encode_body(samples.BY_SCHEMA[name]())]
    for body in bodies:
        assert subject.read(body, 0) == subject.python(body, 0)
        for data in _damaged(body, rng):
            _agree(subject, python, data)


_KINDS = ["A", "B", "C"]
WRITER = {
    "type": "record", "name": "T", "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "ratio", "type": "float"},
        {"name": "exact", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": _KINDS}},
        {"name": "maybe", "type": ["null", "string", "long"]},
        {"name": "gone", "type": {"type": "enum", "name": "Gone", "symbols": ["X", "Y"]}},
        {"name": "gone_text", "type": ["null", "string"]},
        {"name": "unasked", "type": "string"},
    ],
}  # fmt: skip
READER = {
    "type": "record", "name": "T", "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "double"},  # int promoted
        {"name": "ratio", "type": "double"},  # float promoted
        {"name": "exact", "type": "double"},
        {"name": "blob", "type": "string"},  # bytes read as string
        {"name": "text", "type": "bytes"},  # string read as bytes
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "C", "Z"],
                                  "default": "Z"}},
        {"name": "maybe", "type": ["null", "string", "long"]},
        {"name": "unasked", "type": "string"},
        {"name": "added", "type": "long", "default": 7},
    ],
}  # fmt: skip
FIELDS = ("added", "maybe", "kind", "tag", "text", "blob", "exact", "ratio", "small", "flag")


def _zz(value: int) -> bytes:
    return varint((value << 1) ^ (value >> 63))


def _string(value: bytes) -> bytes:
    return _zz(len(value)) + value


def _body(rng: random.Random) -> bytes:
    maybe = rng.choice([_zz(0), _zz(1) + _string("ü".encode()), _zz(2) + _zz(-(1 << 40))])
    return b"".join([
        bytes([rng.randint(0, 1)]), _zz(rng.randint(-(1 << 31), (1 << 31) - 1)),
        struct.pack("<f", 1.5), struct.pack("<d", rng.random()),
        _string(b"plain"), _string("zürich".encode()), b"abc", _zz(rng.randrange(3)), maybe,
        _zz(rng.randrange(2)), rng.choice([_zz(0), _zz(1) + _string(b"x")]),
        _string(b"not returned"),
    ])  # fmt: skip


@needs_c
def test_every_kind_of_step_reads_alike_whole_and_damaged() -> None:
    subject, python = _pair(WRITER, READER, FIELDS)
    rng = random.Random(17)
    for _ in range(40):
        body = _body(rng)
        values, end = subject.read(body, 0)
        assert (values, end) == subject.python(body, 0)
        assert values[0] == 7 and end == len(body)
        for data in _damaged(body, rng)[:120]:
            _agree(subject, python, data)


@needs_c
def test_an_unknown_symbol_is_the_default_and_a_bad_one_is_invalid_enum() -> None:
    subject, python = _pair(WRITER, READER, FIELDS)
    head = b"".join([b"\x01", _zz(5), b"\x00\x00\xc0?", b"\x00" * 8, _string(b"p"),
                     _string(b"t"), b"abc"])  # fmt: skip
    tail = _zz(0) + _zz(0) + _zz(0) + _string(b"u")
    assert subject.read(head + _zz(1) + tail, 0)[0][2] == "Z"  # B: not in the reader, default
    for raw in (_zz(3), _zz(-1)):  # beyond the writer's symbols; negative
        with pytest.raises(PoisonRecord) as caught:
            subject.read(head + raw + tail, 0)
        assert caught.value.reason == "invalid_enum"
        _agree(subject, python, head + raw + tail)


@needs_c
def test_invalid_utf8_in_a_checked_but_unasked_field_is_malformed_in_both() -> None:
    subject, python = _pair(WRITER, READER, FIELDS[:3])
    body = _body(random.Random(5))
    bad = body[: -len(_string(b"not returned"))] + _string(b"\xff\xfe")
    with pytest.raises(PoisonRecord) as caught:
        subject.read(bad, 0)
    assert caught.value.reason == "malformed"
    _agree(subject, python, bad)


def test_schemas_the_c_reader_does_not_take_use_the_python_reader() -> None:
    writer = {"type": "record", "name": "T", "fields": [
        {"name": "a", "type": "long"},
        {"name": "skipped", "type": {"type": "array", "items": "string"}},
    ]}  # fmt: skip
    reader = {"type": "record", "name": "T", "fields": [{"name": "a", "type": "long"}]}
    subject = avro_reader.Reader(avro_reader.parse(writer), avro_reader.parse(reader), ("a",))
    assert subject.compiled is None
    assert subject.read(_zz(-3) + _zz(1) + _string(b"x") + _zz(0), 0) == ((-3,), 5)
