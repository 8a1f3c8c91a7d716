"""A client of a Confluent-compatible schema registry: schema text by id, cached.

Only `GET {url}/schemas/ids/{id}` is used; the answer is JSON `{"schema": "<avsc text>"}` with
an optional `schemaType` (absent means AVRO). Lookups are network I/O and never happen while a
message is decoded: `lookup()` is synchronous and answers from the cache only, raising
`SchemaNotFetched` for an id it has not seen; the consumer awaits `prefetch(ids)` for a batch
before decoding it. Requests run in worker threads (`asyncio.to_thread`, stdlib `urllib`), so
the event loop never blocks on the registry.

Outcomes:
- 200 with an Avro schema: cached for the life of the process (a registry's ids are immutable);
- 404: the id does not exist — `lookup()` raises `PoisonRecord("unknown_schema")`. That answer is
  kept for `negative_ttl` seconds only, so a registry replica that lagged behind cannot condemn
  later messages carrying the id;
- 200 with a non-Avro schema (PROTOBUF, JSON): `unknown_schema` as well;
- anything else (connection refused, timeout, 5xx, 401/403, a body that is not JSON):
  `SchemaRegistryUnavailable` from `prefetch` — transient; messages are never dead-lettered
  because the registry is down.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable

from ingest.errors import PoisonRecord, SchemaNotFetched, SchemaRegistryUnavailable

_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


class SchemaRegistry:
    """Schema texts by id from one registry, fetched by `prefetch`, read by `lookup`."""

    def __init__(self, url: str, *, timeout: float = 5.0, negative_ttl: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.negative_ttl = negative_ttl
        self._schemas: dict[int, str] = {}
        self._missing: dict[int, tuple[float, str]] = {}  # id → (monotonic expiry, why)

    def lookup(self, schema_id: int) -> str:
        """The cached Avro schema text of `schema_id` (never does I/O)."""
        text = self._schemas.get(schema_id)
        if text is not None:
            return text
        missing = self._missing.get(schema_id)
        if missing is not None and missing[0] > time.monotonic():
            raise PoisonRecord("unknown_schema", missing[1])
        raise SchemaNotFetched(schema_id)

    def needs(self, schema_id: int) -> bool:
        """Whether `schema_id` must be fetched before `lookup` can answer for it."""
        if schema_id in self._schemas:
            return False
        missing = self._missing.get(schema_id)
        return missing is None or missing[0] <= time.monotonic()

    async def prefetch(self, ids: Iterable[int]) -> None:
        """Fetch every id not yet answered; raises `SchemaRegistryUnavailable` if one fails."""
        wanted = sorted({i for i in ids if self.needs(i)})
        if not wanted:
            return
        answers = await asyncio.gather(*(asyncio.to_thread(self._fetch, i) for i in wanted))
        for schema_id, (text, why) in zip(wanted, answers, strict=True):
            if text is not None:
                self._schemas[schema_id] = text
                self._missing.pop(schema_id, None)
            else:
                self._missing[schema_id] = (time.monotonic() + self.negative_ttl, why)

    def _fetch(self, schema_id: int) -> tuple[str | None, str]:
        """(schema text, "") or (None, why it is unknown); raises when the registry fails."""
        request = urllib.request.Request(
            f"{self.url}/schemas/ids/{schema_id}", headers={"Accept": _ACCEPT}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None, f"schema id {schema_id} is not in the schema registry"
            raise SchemaRegistryUnavailable(
                f"schema registry answered HTTP {exc.code} for schema id {schema_id}"
            ) from exc
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad URL
            raise SchemaRegistryUnavailable(f"schema registry unreachable: {exc}") from exc
        try:
            answer = json.loads(body)
            text = answer["schema"]
            kind = answer.get("schemaType", "AVRO")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SchemaRegistryUnavailable(
                f"schema registry gave no schema for id {schema_id}"
            ) from exc
        if not isinstance(text, str):
            raise SchemaRegistryUnavailable(f"schema registry gave no schema for id {schema_id}")
        if kind != "AVRO":
            return None, f"schema id {schema_id} is a {kind} schema, not Avro"
        return text, ""
