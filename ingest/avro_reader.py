"""Compiled Avro readers: one writer schema resolved against one reader schema, as Python code.

`Reader(writer, reader, fields)` checks, once, that records written with `writer` can be read
with `reader` (the resolution rules of the Avro specification, applied strictly: every branch of
a writer union must resolve, every reader field the writer lacks must have a default), then
generates a function that reads a record's binary body straight into a tuple of the requested
reader fields. Per message that is one call of plain Python with the varint fast path inline —
about twice as fast as fastavro's `schemaless_reader`, whose per-call setup (schema checks,
named-type tables, a file object) costs more than the decoding of a small record.

Values are returned raw, for the caller to convert once: `timestamp-*` fields as the integers on
the wire, enums as the reader's symbol, strings as `str` (strict UTF-8), bytes and fixed as
`bytes`. Writer fields the reader does not have are skipped, nested or not. Reader schemas are
flat records of primitives, enums and unions of them (what a table row needs); writer schemas may
hold anything, and what they hold beyond the reader's fields is skipped.

Errors in the data raise `PoisonRecord`: `malformed` (truncated, negative length, varint longer
than 10 bytes, bad union branch, invalid UTF-8, boolean not 0/1) or `invalid_enum` (an index
outside the writer's symbols, or a symbol the reader does not know and has no default for).
Schemas that do not resolve raise `SchemaError` when the reader is built, never per message.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest.errors import PoisonRecord, SchemaError

try:  # built by `make install` where a C compiler is found (setup.py); else the Python reader
    from ingest import _cavro
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _cavro = None  # type: ignore[assignment]  # tested for None before use

if TYPE_CHECKING:
    from ingest._cavro import Program as _Program

COMPILED = _cavro is not None  # whether readers run the C plan (else the generated Python)

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Writer type → reader types it may be read as (Avro "promotion").
_PROMOTIONS = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(eq=False, slots=True)
class Primitive:
    """A primitive type, with its logical type if any (`timestamp-micros`, …)."""

    kind: str
    logical: str | None = None


@dataclass(eq=False, slots=True)
class Enum:
    """An enum: full name, symbols, the reader's default for symbols it does not know."""

    name: str
    symbols: tuple[str, ...]
    default: str | None
    aliases: tuple[str, ...]


@dataclass(eq=False, slots=True)
class Fixed:
    """A fixed-size byte string."""

    name: str
    size: int
    aliases: tuple[str, ...]


@dataclass(eq=False, slots=True)
class Array:
    """An array of `items`."""

    items: AvroType


@dataclass(eq=False, slots=True)
class Map:
    """A map from strings to `values`."""

    values: AvroType


@dataclass(eq=False, slots=True)
class Union:
    """A union of `branches`."""

    branches: tuple[AvroType, ...]


@dataclass(eq=False, slots=True)
class Field:
    """A record field."""

    name: str
    type: AvroType
    default: Any
    has_default: bool
    aliases: tuple[str, ...]


@dataclass(eq=False, slots=True)
class Record:
    """A record: full name, fields, aliases (fields filled in after the name is known)."""

    name: str
    fields: list[Field]
    aliases: tuple[str, ...]


AvroType = Primitive | Enum | Fixed | Array | Map | Union | Record


def parse(schema: Any) -> AvroType:
    """The schema (parsed JSON) as a tree of types; named references point at their definition."""
    try:
        return _parse(schema, None, {})
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"not a valid Avro schema: {exc}") from exc


def _full_name(name: str, namespace: str | None) -> str:
    if not all(_NAME.fullmatch(part) for part in name.split(".")):
        raise SchemaError(f"invalid Avro name {name!r}")
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _namespace_of(full: str) -> str | None:
    return full.rpartition(".")[0] or None


def _parse(schema: Any, namespace: str | None, named: dict[str, AvroType]) -> AvroType:
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return Primitive(schema)
        full = _full_name(schema, namespace)
        if full not in named:
            raise SchemaError(f"unknown type {schema!r}")
        return named[full]
    if isinstance(schema, list):
        return Union(tuple(_parse(branch, namespace, named) for branch in schema))
    kind = schema["type"]
    if kind in PRIMITIVES:
        return Primitive(kind, schema.get("logicalType"))
    if kind == "array":
        return Array(_parse(schema["items"], namespace, named))
    if kind == "map":
        return Map(_parse(schema["values"], namespace, named))
    if kind not in ("record", "error", "enum", "fixed"):
        return _parse(kind, namespace, named)
    return _parse_named(schema, namespace, named)


def _parse_named(schema: Any, namespace: str | None, named: dict[str, AvroType]) -> AvroType:
    kind = schema["type"]
    full = _full_name(schema["name"], schema.get("namespace", namespace))
    if full in named:
        raise SchemaError(f"type {full} is defined twice")
    aliases = tuple(_full_name(a, _namespace_of(full)) for a in schema.get("aliases", ()))
    if kind == "enum":
        symbols = tuple(schema["symbols"])
        default = schema.get("default")
        if len(set(symbols)) != len(symbols) or (default is not None and default not in symbols):
            raise SchemaError(f"enum {full} has duplicate symbols or a default not among them")
        named[full] = Enum(full, symbols, default, aliases)
        return named[full]
    if kind == "fixed":
        named[full] = Fixed(full, int(schema["size"]), aliases)
        return named[full]
    record = Record(full, [], aliases)
    named[full] = record
    for spec in schema["fields"]:
        record.fields.append(
            Field(
                name=_full_name(spec["name"], None),
                type=_parse(spec["type"], _namespace_of(full), named),
                default=spec.get("default"),
                has_default="default" in spec,
                aliases=tuple(spec.get("aliases", ())),
            )
        )
    return record


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _same_name(writer: Enum | Fixed | Record, reader: Enum | Fixed | Record) -> bool:
    names = {_short(reader.name), *(_short(a) for a in reader.aliases)}
    return _short(writer.name) in names


def matches(writer: AvroType, reader: AvroType) -> bool:
    """Whether a (non-union) writer type is read by a (non-union) reader type (Avro's "match")."""
    if isinstance(writer, Primitive) and isinstance(reader, Primitive):
        if writer.logical != reader.logical:
            return False
        return writer.kind == reader.kind or reader.kind in _PROMOTIONS.get(writer.kind, ())
    if isinstance(writer, Enum) and isinstance(reader, Enum):
        return _same_name(writer, reader)
    if isinstance(writer, Fixed) and isinstance(reader, Fixed):
        return _same_name(writer, reader) and writer.size == reader.size
    return False


def _scalar(reader: AvroType) -> bool:
    if isinstance(reader, Union):
        return all(isinstance(b, Primitive | Enum | Fixed) for b in reader.branches)
    return isinstance(reader, Primitive | Enum | Fixed)


def default_value(field: Field) -> Any:
    """A reader field's default as the value a read would give (first union branch's type)."""
    kind = field.type.branches[0] if isinstance(field.type, Union) else field.type
    value = field.default
    if isinstance(kind, Primitive):
        if kind.kind in ("bytes",) and isinstance(value, str):
            return value.encode("latin-1")
        if kind.kind in ("float", "double") and isinstance(value, int):
            return float(value)
        return value
    if isinstance(kind, Enum) and value not in kind.symbols:
        raise SchemaError(f"default of field {field.name} is not a symbol of {kind.name}")
    if isinstance(kind, Fixed) and isinstance(value, str):
        return value.encode("latin-1")
    return value


class _Code:
    """Python source of one reader function, and the constants it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = ["def read(b, p):", "    L = len(b)"]
        self.names: dict[str, Any] = {
            "_varint": _varint,
            "_long8": _long8,
            "_skip": skip,
            "_float": struct.Struct("<f").unpack_from,
            "_double": struct.Struct("<d").unpack_from,
            "_malformed": _malformed,
            "_bad_enum": _bad_enum,
        }
        self._count = 0

    def const(self, value: Any) -> str:
        self._count += 1
        name = f"C{self._count}"
        self.names[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _emit_varint(code: _Code, depth: int, kind: str = "int") -> None:
    code.emit(depth, "n = b[p]; p += 1")
    code.emit(depth, f"if n > 127: n, p = {'_long8' if kind == 'long' else '_varint'}(b, p - 1)")


def _emit_primitive(code: _Code, depth: int, kind: str, target: str | None, to: str) -> None:
    """Read a writer primitive `kind` as reader primitive `to` into `target` (None: skip it)."""
    if kind == "null":
        if target:
            code.emit(depth, f"{target} = None")
    elif kind == "boolean":
        code.emit(depth, "n = b[p]; p += 1")
        code.emit(depth, "if n > 1: raise _malformed('boolean is neither 0 nor 1')")
        if target:
            code.emit(depth, f"{target} = n == 1")
    elif kind in ("int", "long"):
        _emit_varint(code, depth, kind)
        if target:
            value = "(n >> 1) ^ -(n & 1)"
            code.emit(
                depth, f"{target} = {f'float({value})' if to in ('float', 'double') else value}"
            )
    elif kind in ("float", "double"):
        size = 4 if kind == "float" else 8
        if target:  # unpack_from raises struct.error past the end
            code.emit(depth, f"{target} = _{kind}(b, p)[0]")
        code.emit(depth, f"p += {size}")
    else:  # bytes, string
        _emit_varint(code, depth)
        code.emit(depth, "if n & 1: raise _malformed('negative length')")
        # A slice past the end is short, not an error: the position then passes the end, and
        # the next read or the final check of `read` reports the truncation.
        code.emit(depth, "e = p + (n >> 1)")
        if target:
            decode = ".decode()" if to == "string" else ""
            code.emit(depth, f"{target} = b[p:e]{decode}")
        code.emit(depth, "p = e")


def _emit_read(code: _Code, depth: int, writer: AvroType, reader: AvroType | None,
               target: str | None, field: str) -> None:  # fmt: skip
    """Read a value of `writer` as `reader` into `target`; reader None skips the value."""
    if isinstance(writer, Union):
        _emit_varint(code, depth)  # the branch index, compared still zig-zag encoded (2i)
        for index, option in enumerate(writer.branches):
            code.emit(depth, f"{'if' if index == 0 else 'elif'} n == {2 * index}:")
            code.emit(depth + 1, "pass")
            _emit_read(code, depth + 1, option, _target_type(option, reader, field), target, field)
        code.emit(depth, "else: raise _malformed('union branch out of range')")
        return
    if reader is None:
        if isinstance(writer, Array | Map | Record):
            code.emit(depth, f"p = _skip({code.const(writer)}, b, p)")
            return
    else:
        reader = _target_type(writer, reader, field)
    if isinstance(writer, Primitive):
        to = reader.kind if isinstance(reader, Primitive) else writer.kind
        _emit_primitive(code, depth, writer.kind, target if reader is not None else None, to)
    elif isinstance(writer, Enum):
        # The index stays zig-zag encoded: symbol i is 2i; odd values are negative indexes.
        _emit_varint(code, depth)
        limit = 2 * len(writer.symbols)
        if reader is not None and target:
            assert isinstance(reader, Enum)
            code.emit(depth, f"if n >= {limit}: raise _bad_enum({field!r}, n)")
            code.emit(depth, f"{target} = {code.const(_enum_table(writer, reader))}[n]")
            code.emit(depth, f"if {target} is None: raise _bad_enum({field!r}, n)")
        else:
            code.emit(depth, f"if n >= {limit} or n & 1: raise _bad_enum({field!r}, n)")
    elif isinstance(writer, Fixed):
        code.emit(depth, f"e = p + {writer.size}")
        if reader is not None and target:
            code.emit(depth, f"{target} = b[p:e]")
        code.emit(depth, "p = e")


def _enum_table(writer: Enum, reader: Enum) -> tuple[str | None, ...]:
    """The reader's symbol for each zig-zag-encoded writer index (symbol i is 2i; odd values,
    negative indexes, and symbols the reader lacks with no default are None)."""
    by_raw: list[str | None] = []
    for symbol in writer.symbols:
        by_raw += [symbol if symbol in reader.symbols else reader.default, None]
    return tuple(by_raw)


def _target_type(writer: AvroType, reader: AvroType | None, field: str) -> AvroType | None:
    """The reader type (a branch, if the reader is a union) that a writer value resolves to."""
    if reader is None:
        return None
    options = reader.branches if isinstance(reader, Union) else (reader,)
    for option in options:
        if matches(writer, option):
            return option
    raise SchemaError(f"field {field}: a writer value of {_describe(writer)} cannot be read as "
                      f"{_describe(reader)}")  # fmt: skip


def _describe(kind: AvroType) -> str:
    if isinstance(kind, Primitive):
        return f"{kind.kind}({kind.logical})" if kind.logical else kind.kind
    if isinstance(kind, Union):
        return "[" + ", ".join(_describe(b) for b in kind.branches) + "]"
    if isinstance(kind, Enum | Fixed | Record):
        return kind.name
    return type(kind).__name__.lower()


class Reader:
    """Reads bodies written with one schema as values of the reader schema's `fields`."""

    __slots__ = ("_read", "compiled", "fields", "python", "source")

    def __init__(self, writer: AvroType, reader: AvroType, fields: Sequence[str], *,
                 compiled: bool = True) -> None:  # fmt: skip
        if not isinstance(writer, Record) or not isinstance(reader, Record):
            raise SchemaError("writer and reader schemas must be records")
        if not _same_name(writer, reader):
            raise SchemaError(f"writer record {writer.name} is not reader record {reader.name}")
        by_name = {f.name: f for f in reader.fields}
        missing = [name for name in fields if name not in by_name]
        if missing:
            raise SchemaError(f"reader {reader.name} has no field {', '.join(missing)}")
        self.fields = tuple(fields)
        code = _Code()
        targets: dict[str, str] = {}
        for position, wfield in enumerate(writer.fields):
            rfield = _reader_field(reader, wfield.name)
            if rfield is not None:
                if rfield.name in targets:
                    raise SchemaError(f"two writer fields are read as field {rfield.name}")
                if not _scalar(rfield.type):
                    raise SchemaError(f"reader field {rfield.name} is not a primitive or enum")
                targets[rfield.name] = f"v{position}"
            target = targets.get(rfield.name) if rfield is not None else None
            _emit_read(code, 1, wfield.type, rfield.type if rfield else None, target, wfield.name)
        for rfield in reader.fields:
            if rfield.name not in targets:
                if not rfield.has_default:
                    raise SchemaError(f"field {rfield.name} of {reader.name} is missing from the "
                                      "writer schema and has no default")  # fmt: skip
                targets[rfield.name] = code.const(default_value(rfield))
        values = [targets[name] for name in self.fields]
        code.emit(1, "if p > L: raise _malformed('truncated')")
        code.emit(1, f"return ({', '.join(values)}{',' if len(values) == 1 else ''}), p")
        self.source = "\n".join(code.lines)
        namespace = dict(code.names)
        exec(compile(self.source, f"<avro reader {writer.name}>", "exec"), namespace)
        self.python: Callable[[bytes, int], tuple[tuple[Any, ...], int]] = namespace["read"]
        self.compiled = _program(writer, reader, self.fields) if compiled else None
        self._read: Callable[[bytes, int], tuple[tuple[Any, ...], int]] = (
            self.python if self.compiled is None else self.compiled.read
        )

    def read(self, data: bytes, start: int) -> tuple[tuple[Any, ...], int]:
        """The values of one record body starting at `start`, and the position after it."""
        try:
            return self._read(data, start)
        except IndexError:
            raise PoisonRecord("malformed", "truncated") from None
        except UnicodeDecodeError:
            raise PoisonRecord("malformed", "string is not valid UTF-8") from None
        except struct.error:
            raise PoisonRecord("malformed", "truncated") from None
        except RecursionError as exc:
            raise PoisonRecord("malformed", type(exc).__name__) from None


class _NotCompilable(Exception):
    """A writer schema the C reader does not take (it skips an array, map or record field)."""


_KEEP_NONE = -1  # slot: read past the value
_KEEP_CHECKED = -2  # slot: read and check the value as the reader would, then drop it


def _program(writer: Record, reader: Record, fields: tuple[str, ...]) -> _Program | None:
    """The plan of `Reader` for `ingest._cavro.Program`, or None where the C reader is not
    built (no compiler at install) or does not take the schemas (fields asked for twice; a
    writer field of array, map or record type that the reader skips)."""
    if _cavro is None or len(set(fields)) != len(fields):
        return None
    slots = {name: index for index, name in enumerate(fields)}
    steps = []
    matched: set[str] = set()
    try:
        for wfield in writer.fields:
            rfield = _reader_field(reader, wfield.name)
            if rfield is None:
                steps.append(_step(wfield.type, None, _KEEP_NONE, wfield.name))
                continue
            matched.add(rfield.name)
            slot = slots.get(rfield.name, _KEEP_CHECKED)
            steps.append(_step(wfield.type, rfield.type, slot, wfield.name))
    except _NotCompilable:
        return None
    defaults = tuple(
        (slots[f.name], default_value(f))
        for f in reader.fields
        if f.name not in matched and f.name in slots
    )
    return _cavro.Program(tuple(steps), len(fields), defaults, _malformed, _bad_enum)


def _step(writer: AvroType, reader: AvroType | None, slot: int, field: str) -> tuple[Any, ...]:
    """One step of the C plan: `_emit_read` of the same types, as data."""
    assert _cavro is not None
    if reader is None:
        slot = _KEEP_NONE
    if isinstance(writer, Union):
        branches = tuple(
            _step(option, _target_type(option, reader, field), slot, field)
            for option in writer.branches
        )
        return (_cavro.UNION, slot, 0, branches)
    if reader is not None:
        reader = _target_type(writer, reader, field)
    if isinstance(writer, Primitive):
        to = reader.kind if isinstance(reader, Primitive) else writer.kind
        kinds = {
            "null": _cavro.NULL, "boolean": _cavro.BOOL, "float": _cavro.FLOAT,
            "double": _cavro.DOUBLE,
            "int": _cavro.LONG_F if to in ("float", "double") else _cavro.LONG,
            "long": _cavro.LONG_F if to in ("float", "double") else _cavro.LONG,
            "string": _cavro.STRING if to == "string" else _cavro.BYTES,
            "bytes": _cavro.STRING if to == "string" else _cavro.BYTES,
        }  # fmt: skip
        return (kinds[writer.kind], slot, 0, None)
    if isinstance(writer, Enum):
        table = None
        if reader is not None:
            assert isinstance(reader, Enum)
            table = _enum_table(writer, reader)
        return (_cavro.ENUM, slot, 2 * len(writer.symbols), (table, field))
    if isinstance(writer, Fixed):
        return (_cavro.FIXED, slot, writer.size, None)
    raise _NotCompilable(field)


def _reader_field(reader: Record, name: str) -> Field | None:
    for field in reader.fields:
        if field.name == name or name in field.aliases:
            return field
    return None


def _malformed(detail: str) -> PoisonRecord:
    return PoisonRecord("malformed", detail)


def _bad_enum(field: str, raw: int) -> PoisonRecord:
    index = (raw >> 1) ^ -(raw & 1)
    return PoisonRecord(
        "invalid_enum", f"field {field}: symbol {index} is not in the reader's enum"
    )


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag-encoded varint at `pos` (not yet unzigzagged) and the position after it."""
    value = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >> 64:
                raise _malformed("varint beyond 64 bits")
            return value, pos
        shift += 7
        if shift > 63:
            raise _malformed("varint longer than 10 bytes")


# The last four bytes of 8-byte varints seen, → the bits they stand for (bits 28-55). Every
# timestamp-micros of this century is an 8-byte varint, and its last four bytes change once
# every 2^28 µs (4.5 minutes): `_long8` reads the first four and looks the rest up.
_LONG8_HIGH: dict[bytes, int] = {}
_LONG8_KEPT = 4096


def _long8(data: bytes, pos: int) -> tuple[int, int]:
    """`_varint` for a long: an 8-byte varint whose high half was seen before costs four byte
    reads and one look-up instead of a loop of eight."""
    high = _LONG8_HIGH.get(data[pos + 4 : pos + 8])
    if high is not None:
        # The key's three continuation bits are set and its last byte ends the varint; the
        # first four must continue it.
        b0, b1, b2, b3 = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
        if b0 > 127 and b1 > 127 and b2 > 127 and b3 > 127:
            low = (b0 & 127) | (b1 & 127) << 7 | (b2 & 127) << 14 | (b3 & 127) << 21
            return high | low, pos + 8
    value, end = _varint(data, pos)
    if end == pos + 8:
        if len(_LONG8_HIGH) >= _LONG8_KEPT:
            _LONG8_HIGH.clear()
        key = data[pos + 4 : end]
        _LONG8_HIGH[key] = ((key[0] & 127) << 28 | (key[1] & 127) << 35 | (key[2] & 127) << 42
                            | key[3] << 49)  # fmt: skip
    return value, end


def _long(data: bytes, pos: int) -> tuple[int, int]:
    raw, pos = _varint(data, pos)
    return (raw >> 1) ^ -(raw & 1), pos


_SIZES = {"null": 0, "boolean": 1, "float": 4, "double": 8}


def skip(kind: AvroType, data: bytes, pos: int) -> int:
    """The position after a value of `kind` at `pos` (writer fields the reader does not read)."""
    if isinstance(kind, Primitive):
        if kind.kind in _SIZES:
            pos += _SIZES[kind.kind]
        elif kind.kind in ("int", "long"):
            _, pos = _varint(data, pos)
        else:
            length, pos = _long(data, pos)
            if length < 0:
                raise _malformed("negative length")
            pos += length
    elif isinstance(kind, Enum):
        _, pos = _varint(data, pos)
    elif isinstance(kind, Fixed):
        pos += kind.size
    elif isinstance(kind, Union):
        branch, pos = _long(data, pos)
        if not 0 <= branch < len(kind.branches):
            raise _malformed("union branch out of range")
        pos = skip(kind.branches[branch], data, pos)
    elif isinstance(kind, Record):
        for field in kind.fields:
            pos = skip(field.type, data, pos)
    else:
        pos = _skip_blocks(kind, data, pos)
    if pos > len(data):
        raise _malformed("truncated")
    return pos


def _skip_blocks(kind: Array | Map, data: bytes, pos: int) -> int:
    while True:
        count, pos = _long(data, pos)
        if count == 0:
            return pos
        if count < 0:  # a block that also gives its size in bytes
            size, pos = _long(data, pos)
            if size < 0:
                raise _malformed("negative block size")
            pos += size
            continue
        if count > len(data):  # also bounds the loop for items of no size (null)
            raise _malformed("block count beyond the message")
        for _ in range(count):
            if isinstance(kind, Map):
                pos = skip(Primitive("string"), data, pos)
            pos = skip(kind.items if isinstance(kind, Array) else kind.values, data, pos)
