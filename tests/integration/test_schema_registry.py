"""Confluent framing against a small HTTP server that answers as a schema registry does."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fastavro
import pytest

from ingest import avro, codec
from ingest.errors import PoisonRecord, SchemaNotFetched, SchemaRegistryUnavailable
from ingest.schema_registry import SchemaRegistry
from ruaj import stack
from tests import samples

pytestmark = pytest.mark.integration

SCHEMAS = avro.load()
SMS_V1 = dict(SCHEMAS.reader("sms").schema)
# A producer's own variant of the record: fields reordered, one more field (skipped on read).
SMS_PRODUCER = {
    **SMS_V1,
    "fields": [*reversed(SMS_V1["fields"]), {"name": "smsc_queue", "type": "long"}],
}
CDR_V1 = dict(SCHEMAS.reader("cdr").schema)


@dataclass
class Registry:
    """What the fake registry serves and how often it was asked."""

    url: str
    schemas: dict[int, dict[str, Any]] = field(default_factory=dict)
    failing: set[int] = field(default_factory=set)
    requests: Counter[int] = field(default_factory=Counter)


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A registry on a free port: ids 1 (sms v1), 2 (sms variant), 3 (cdr), 4 (protobuf)."""
    port = stack.free_port()
    state = Registry(url=f"http://127.0.0.1:{port}/")
    state.schemas = {
        1: {"schema": json.dumps(SMS_V1)},
        2: {"schema": json.dumps(SMS_PRODUCER), "schemaType": "AVRO"},
        3: {"schema": json.dumps(CDR_V1)},
        4: {"schema": 'syntax = "proto3";', "schemaType": "PROTOBUF"},
    }
    state.failing = {500}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            prefix = "/schemas/ids/"
            schema_id = int(self.path[len(prefix) :]) if self.path.startswith(prefix) else -1
            state.requests[schema_id] += 1
            if schema_id in state.failing:
                self._answer(500, {"error_code": 50001, "message": "Error in the backend"})
            elif schema_id in state.schemas:
                self._answer(200, state.schemas[schema_id])
            else:
                self._answer(404, {"error_code": 40403, "message": "Schema not found"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _confluent(schema_id: int, writer: dict[str, Any], record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(writer), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()


def _codec(url: str) -> codec.Codec:
    return codec.Codec(SCHEMAS, now=lambda: samples.NOW, registry=SchemaRegistry(url, timeout=2))


async def test_confluent_messages_decode_after_prefetch(registry: Registry) -> None:
    subject = _codec(registry.url)
    plain = _confluent(1, SMS_V1, samples.sms())
    variant = _confluent(2, SMS_PRODUCER, samples.sms(sender="BANK KS") | {"smsc_queue": 7})
    with pytest.raises(SchemaNotFetched) as caught:
        subject.decode("ruaj.sms", plain)
    assert caught.value.schema_id == 1
    await subject.prefetch([plain, variant, plain])
    assert subject.decode("ruaj.sms", plain).row == subject.decode("ruaj.sms", plain).row
    row = codec.readable("sms", subject.decode("ruaj.sms", variant).row)
    assert row["sender"] == "BANK KS"
    assert row["event_time"] == samples.sms()["event_time"]
    # Single-object messages still decode beside Confluent ones, without the registry.
    assert subject.decode("ruaj.sms", SCHEMAS.encode("sms", samples.sms())).table == "sms"
    # Each id was fetched once, however many messages named it.
    await subject.prefetch([plain, variant])
    assert registry.requests == Counter({1: 1, 2: 1})


async def test_unknown_ids_and_unusable_schemas_are_poison(registry: Registry) -> None:
    subject = _codec(registry.url)
    unknown = _confluent(99, SMS_V1, samples.sms())
    wrong_record = _confluent(3, CDR_V1, samples.cdr())
    protobuf = b"\x00" + (4).to_bytes(4, "big") + b"\x08\x01"
    await subject.prefetch([unknown, wrong_record, protobuf])
    for payload, detail in [
        (unknown, "not in the schema registry"),
        (wrong_record, "does not resolve"),
        (protobuf, "PROTOBUF"),
    ]:
        with pytest.raises(PoisonRecord) as caught:
            subject.decode("ruaj.sms", payload)
        assert caught.value.reason == "unknown_schema"
        assert detail in caught.value.detail
    # The same cdr schema is fine on the cdr topic.
    assert subject.decode("ruaj.cdr", wrong_record).table == "cdr"


async def test_trailing_bytes_after_a_confluent_body_are_poison(registry: Registry) -> None:
    subject = _codec(registry.url)
    payload = _confluent(1, SMS_V1, samples.sms()) + b"\x00\x00"
    await subject.prefetch([payload])
    with pytest.raises(PoisonRecord, match="trailing_bytes"):
        subject.decode("ruaj.sms", payload)


async def test_a_failing_registry_is_transient_never_poison(registry: Registry) -> None:
    subject = _codec(registry.url)
    payload = _confluent(500, SMS_V1, samples.sms())
    with pytest.raises(SchemaRegistryUnavailable, match="HTTP 500"):
        await subject.prefetch([payload])
    with pytest.raises(SchemaNotFetched):
        subject.decode("ruaj.sms", payload)
    # Once the registry recovers, the same message decodes.
    registry.failing.clear()
    registry.schemas[500] = registry.schemas[1]
    await subject.prefetch([payload])
    assert subject.decode("ruaj.sms", payload).table == "sms"


async def test_an_unreachable_registry_is_transient() -> None:
    subject = _codec(f"http://127.0.0.1:{stack.free_port()}")
    payload = _confluent(1, SMS_V1, samples.sms())
    with pytest.raises(SchemaRegistryUnavailable, match="unreachable"):
        await subject.prefetch([payload])


async def test_a_404_is_asked_again_after_its_ttl(registry: Registry) -> None:
    client = SchemaRegistry(registry.url, negative_ttl=0)
    await client.prefetch([77])
    assert client.needs(77)  # the negative answer has expired at once
    registry.schemas[77] = registry.schemas[1]
    await client.prefetch([77])
    assert json.loads(client.lookup(77)) == SMS_V1
    assert registry.requests[77] == 2
