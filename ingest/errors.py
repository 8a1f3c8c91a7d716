"""Errors of ingestion."""

from __future__ import annotations


class IngestError(Exception):
    """Ingestion failed."""


class PoisonRecord(IngestError):
    """A message cannot be stored as it is: it goes to the dead-letter topic with this reason.

    `reason` is a short machine-readable code (a metric label and a DLQ header); the message
    text may add detail but never a subscriber identifier.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class SchemaError(IngestError):
    """The Avro schemas cannot be used as they are (a bad file, or versions that do not resolve)."""


class SchemaNotFetched(IngestError):
    """A Confluent-framed message names a schema id not yet fetched from the schema registry.

    Not a poison record: await `prefetch` for the batch's payloads, then decode again.
    """

    def __init__(self, schema_id: int) -> None:
        super().__init__(f"schema id {schema_id} is not fetched yet: await prefetch() first")
        self.schema_id = schema_id


class SchemaRegistryUnavailable(IngestError):
    """The schema registry did not answer as a registry does: transient, retry later.

    Never a reason to dead-letter a message: the message is fine, the registry is not.
    """


class BrokerUnavailable(IngestError):
    """The Kafka brokers cannot be reached."""
