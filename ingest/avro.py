"""The Avro contract: the schemas of `schemas/`, their fingerprints, message framing, decoding.

Schemas. Every file `<name>.v<N>.avsc` of the schema directories is version N of record `<name>`,
carried on topic `ruaj.<name>`. Each version is known by the CRC-64-AVRO fingerprint of its
Parsing Canonical Form. The *reader* schema of a record is its highest version; every older
version must resolve against it, or loading fails (`SchemaError`) — a deployment with a schema
that cannot be read stops at start, not message by message.

Framing. A message is either
- Avro single-object encoding: `C3 01`, the writer schema's 8-byte little-endian fingerprint,
  the binary body. The fingerprint must be one of the versions of the topic's record; or
- Confluent framing, `00` + 4-byte big-endian schema id + body, accepted only when a schema
  registry is configured (`RUAJ_SCHEMA_REGISTRY_URL`). The registry's writer schema must resolve
  against the reader schema of the topic's record.

Decoding reads the body with the writer schema resolved against the reader schema (so v1
messages are read under a v2 reader that adds an optional field, which takes its default) and
must end exactly at the end of the message: fastavro and most readers ignore trailing bytes,
here they are poison. Decoding is synchronous and never does I/O.

Schema registry. Lookups are network I/O, so they never happen during `decode`: it answers
from a cache, and a Confluent message whose id is not cached yet raises `SchemaNotFetched` (not a
poison record). The consumer awaits `Decoder.prefetch(payloads)` before decoding a batch, which
fetches the missing ids in worker threads. A registry that cannot be reached (or answers an error
other than 404) raises `SchemaRegistryUnavailable` from `prefetch`: transient, the consumer
retries, the message is never dead-lettered for it. An id the registry does not know (404), a
non-Avro schema, or a schema that does not resolve against the reader is poison `unknown_schema`.

Poison reasons raised here: `malformed` (too short, unknown magic, a body that does not decode),
`unknown_schema`, `trailing_bytes`, `invalid_enum` (see `ingest.avro_reader`).

Encoding (`Schemas.encode`) uses fastavro; the simulator and the tests produce with it, which
also keeps the hand-compiled readers honest against an independent writer.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema

import schemas as bundled
from ingest import avro_reader
from ingest.errors import PoisonRecord, SchemaError
from ingest.schema_registry import SchemaRegistry

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
TOPIC_PREFIX = "ruaj."
_FILE = re.compile(r"(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc")

_CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_CRC64_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """The CRC-64-AVRO fingerprint of `data` (Avro specification, "Schema Fingerprints")."""
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _CRC64_TABLE[(fp ^ byte) & 0xFF]
    return fp


def canonical_form(schema: Any) -> str:
    """The Parsing Canonical Form of a schema (parsed JSON)."""
    text: str = fastavro.schema.to_parsing_canonical_form(schema)
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaVersion:
    """One version of one record schema."""

    name: str  # the record's file name: cdr, sms, imei, ipsession, subscriber
    version: int
    schema: Mapping[str, Any] = field(repr=False)  # the parsed .avsc JSON
    canonical: str = field(repr=False)
    fingerprint: int  # CRC-64-AVRO of `canonical`
    origin: str = ""  # where it was loaded from, for error messages
    parsed: avro_reader.AvroType = field(repr=False, compare=False)
    _fastavro: Any = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, name: str, version: int, schema: Mapping[str, Any], origin: str = "") -> (
        SchemaVersion
    ):  # fmt: skip
        """A version from its parsed JSON (checks that it is a valid record schema)."""
        try:
            canonical = canonical_form(dict(schema))
            compiled = fastavro.parse_schema(dict(schema))
        except Exception as exc:  # fastavro raises a variety of types for a bad schema
            raise SchemaError(f"{origin or name}: not a valid Avro schema: {exc}") from exc
        parsed = avro_reader.parse(schema)
        if not isinstance(parsed, avro_reader.Record):
            raise SchemaError(f"{origin or name}: the schema is not a record")
        return cls(
            name=name,
            version=version,
            schema=schema,
            canonical=canonical,
            fingerprint=crc64_avro(canonical.encode()),
            origin=origin,
            parsed=parsed,
            _fastavro=compiled,
        )

    @property
    def topic(self) -> str:
        """The topic that carries this record: `ruaj.<name>`."""
        return TOPIC_PREFIX + self.name

    @property
    def record_name(self) -> str:
        """The record's full Avro name, e.g. `ruaj.events.Cdr`."""
        return str(self.schema.get("namespace", "") + "." + self.schema["name"]).lstrip(".")

    @property
    def header(self) -> bytes:
        """The single-object encoding header: `C3 01` + fingerprint, little-endian."""
        return SINGLE_OBJECT_MAGIC + self.fingerprint.to_bytes(8, "little")

    def encode_body(self, record: Mapping[str, Any]) -> bytes:
        """The Avro binary body of `record` (timestamps as datetimes or microseconds)."""
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self._fastavro, dict(record))
        return buffer.getvalue()

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """`record` in single-object encoding."""
        return self.header + self.encode_body(record)


class Schemas:
    """Every version of every record schema, by name and by fingerprint."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self._versions: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[int, SchemaVersion] = {}
        for version in versions:
            other = self._by_fingerprint.get(version.fingerprint)
            if other is not None:
                raise SchemaError(f"{version.origin} and {other.origin} have the same canonical "
                                  "form: one version too many")  # fmt: skip
            self._by_fingerprint[version.fingerprint] = version
            known = self._versions.setdefault(version.name, [])
            if any(v.version == version.version for v in known):
                raise SchemaError(f"{version.name} version {version.version} is defined twice")
            known.append(version)
        for known in self._versions.values():
            known.sort(key=lambda v: v.version)
            reader = known[-1]
            for older in known[:-1]:
                try:
                    avro_reader.Reader(older.parsed, reader.parsed, ())
                except SchemaError as exc:
                    raise SchemaError(f"{older.origin} cannot be read with {reader.origin}: "
                                      f"{exc}") from exc  # fmt: skip

    @classmethod
    def load(cls, *directories: Traversable | Path) -> Schemas:
        """Every `<name>.v<N>.avsc` of `directories` (default: the installed `schemas/`)."""
        versions = []
        for directory in directories or (bundled.directory(),):
            for entry in sorted(directory.iterdir(), key=lambda e: e.name):
                if not entry.name.endswith(".avsc"):
                    continue
                match = _FILE.fullmatch(entry.name)
                if match is None:
                    raise SchemaError(f"{entry}: schema files are named <name>.v<N>.avsc")
                try:
                    schema = json.loads(entry.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise SchemaError(f"{entry}: not JSON: {exc}") from exc
                name, number = match["name"], int(match["version"])
                versions.append(SchemaVersion.from_json(name, number, schema, str(entry)))
        return cls(versions)

    @property
    def names(self) -> tuple[str, ...]:
        """The record names, sorted."""
        return tuple(sorted(self._versions))

    def versions(self, name: str) -> tuple[SchemaVersion, ...]:
        """Every version of `name`, oldest first."""
        return tuple(self._known(name))

    def reader(self, name: str) -> SchemaVersion:
        """The reader schema of `name`: its highest version."""
        return self._known(name)[-1]

    def by_fingerprint(self, fingerprint: int) -> SchemaVersion | None:
        """The version with this fingerprint, if any."""
        return self._by_fingerprint.get(fingerprint)

    def encode(self, name: str, record: Mapping[str, Any], *, version: int | None = None) -> bytes:
        """`record` in single-object encoding with version `version` (default: the reader)."""
        chosen = self.reader(name) if version is None else self._version(name, version)
        return chosen.encode(record)

    def _version(self, name: str, version: int) -> SchemaVersion:
        for candidate in self._known(name):
            if candidate.version == version:
                return candidate
        raise KeyError(f"{name} has no version {version}")

    def _known(self, name: str) -> list[SchemaVersion]:
        try:
            return self._versions[name]
        except KeyError:
            raise KeyError(f"no schema {name!r} (known: {', '.join(self.names)})") from None


def load(*directories: Traversable | Path) -> Schemas:
    """`Schemas.load`: every schema version of `directories` (default: the installed ones)."""
    return Schemas.load(*directories)


class Decoder:
    """Decodes framed messages into tuples of reader-schema fields, chosen per record name.

    `outputs` maps each record name to decode to the reader fields wanted, in order; decoding a
    message of that record returns their values in that order (see `ingest.avro_reader` for
    their Python types).
    """

    def __init__(self, schemas: Schemas, outputs: Mapping[str, Sequence[str]],
                 registry: SchemaRegistry | None = None) -> None:  # fmt: skip
        self.schemas = schemas
        self.registry = registry
        self._outputs = {name: tuple(fields) for name, fields in outputs.items()}
        # name → fingerprint (8 bytes, as on the wire) → compiled reader
        self._readers: dict[str, dict[bytes, avro_reader.Reader]] = {}
        for name, fields in self._outputs.items():
            reader = schemas.reader(name)
            self._readers[name] = {
                v.fingerprint.to_bytes(8, "little"): avro_reader.Reader(
                    v.parsed, reader.parsed, fields
                )
                for v in schemas.versions(name)
            }
        # (name, registry schema id) → compiled reader, or the poison (reason, detail) it gives
        self._registered: dict[tuple[str, int], avro_reader.Reader | tuple[str, str]] = {}

    def readers(self, name: str) -> Mapping[bytes, avro_reader.Reader]:
        """The readers of record `name`'s known versions, by fingerprint as on the wire."""
        return self._readers[name]

    def decode(self, name: str, payload: bytes) -> tuple[Any, ...]:
        """The values of one message of record `name`; raises `PoisonRecord` if it is bad.

        Raises `SchemaNotFetched` for a Confluent-framed message whose schema id has not been
        prefetched.
        """
        if payload[:2] == SINGLE_OBJECT_MAGIC:
            reader = self._readers[name].get(payload[2:10])
            if reader is None:
                raise self._unknown_fingerprint(name, payload)
            start = 10
        elif payload[:1] == CONFLUENT_MAGIC:
            reader = self._registered_reader(name, payload)
            start = 5
        else:
            raise PoisonRecord("malformed", "neither Avro single-object nor Confluent framing")
        values, end = reader.read(payload, start)
        if end != len(payload):
            raise PoisonRecord("trailing_bytes", f"{len(payload) - end} bytes after the record")
        return values

    async def prefetch(self, payloads: Iterable[bytes]) -> None:
        """Fetch the registry schemas that Confluent-framed `payloads` name and are not cached.

        Does nothing without a registry. Raises `SchemaRegistryUnavailable` (transient).
        """
        if self.registry is None:
            return
        registry = self.registry
        ids = {
            int.from_bytes(p[1:5], "big")
            for p in payloads
            if p[:1] == CONFLUENT_MAGIC and len(p) >= 5
        }
        await registry.prefetch(i for i in ids if registry.needs(i))

    def _unknown_fingerprint(self, name: str, payload: bytes) -> PoisonRecord:
        if len(payload) < 10:
            return PoisonRecord("malformed", "shorter than a single-object header")
        fingerprint = int.from_bytes(payload[2:10], "little")
        known = self.schemas.by_fingerprint(fingerprint)
        if known is not None:
            return PoisonRecord("unknown_schema", f"fingerprint of {known.name} v{known.version}, "
                                f"not a schema of topic {TOPIC_PREFIX}{name}")  # fmt: skip
        return PoisonRecord(
            "unknown_schema", f"fingerprint {fingerprint:016x} is not a known schema"
        )

    def _registered_reader(self, name: str, payload: bytes) -> avro_reader.Reader:
        if len(payload) < 5:
            raise PoisonRecord("malformed", "shorter than a Confluent header")
        schema_id = int.from_bytes(payload[1:5], "big")
        if self.registry is None:
            raise PoisonRecord("unknown_schema", f"Confluent framing (schema id {schema_id}) but "
                               "no schema registry is configured")  # fmt: skip
        found = self._registered.get((name, schema_id))
        if found is None:
            found = self._compile_registered(name, schema_id, self.registry.lookup(schema_id))
            self._registered[(name, schema_id)] = found
        if isinstance(found, tuple):
            raise PoisonRecord(*found)
        return found

    def _compile_registered(self, name: str, schema_id: int, text: str) -> (
        avro_reader.Reader | tuple[str, str]
    ):  # fmt: skip
        reader = self.schemas.reader(name)
        try:
            writer = avro_reader.parse(json.loads(text))
            return avro_reader.Reader(writer, reader.parsed, self._outputs[name])
        except (SchemaError, ValueError, RecursionError) as exc:
            return ("unknown_schema", f"registry schema id {schema_id} does not resolve against "
                    f"{name} v{reader.version}: {exc}")  # fmt: skip
