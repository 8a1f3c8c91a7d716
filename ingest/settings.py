"""Settings of ingestion: the broker, the schema registry, validation and topic layout."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """`RUAJ_*` settings of `ruaj ingest` and `ruaj simulate`."""

    model_config = SettingsConfigDict(env_prefix="RUAJ_", extra="ignore")

    # Kafka bootstrap servers, `host:port[,host:port…]`.
    kafka_bootstrap: str
    # Confluent-compatible schema registry; when set, messages framed `00` + 4-byte schema id
    # are accepted besides Avro single-object encoding.
    schema_registry_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # Seconds one schema registry request may take before it counts as unavailable.
    schema_registry_timeout_seconds: float = Field(default=5.0, gt=0)
    # How far in the future an event's timestamps may be (clocks of network elements drift).
    future_skew_seconds: int = Field(default=300, ge=0)
    # Partitions of each topic when `ruaj simulate` creates the topics.
    kafka_topic_partitions: int = Field(default=4, ge=1)
    # `ruaj ingest`: the consumer group, and the bounds of one batch (one transaction of rows
    # and offsets): whichever of rows, bytes of messages or seconds since its first message is
    # reached first closes it.
    ingest_group: str = Field(default="ruaj-ingest", min_length=1, max_length=200)
    ingest_batch_max_rows: int = Field(default=20_000, ge=1, le=1_000_000)
    ingest_batch_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    ingest_batch_max_seconds: float = Field(default=0.5, gt=0, le=60)
    # Whether each batch's commit waits until its WAL is on disk (PostgreSQL's
    # synchronous_commit, for the worker's connection only). Off by default, at no risk to the
    # data: rows and offsets commit together, so a PostgreSQL crash can lose only its last
    # commits (at most three times wal_writer_delay, 0.6 s by default) together with their
    # offsets; the worker, finding the database behind what it stored, reads them again from
    # Kafka, and a restarted worker starts from the stored offsets anyway. Any later commit that
    # waits for its WAL — every audit entry, drop, hold and release does — flushes them first,
    # so nothing acts on rows that could still vanish. Saves a disk flush per batch.
    ingest_synchronous_commit: bool = False
    # On SIGTERM, how long the batch in flight may still take to be written (a database that
    # is down is retried until then); past it the worker exits 1 and the batch is read again
    # on restart: nothing is lost, nothing is stored twice.
    ingest_stop_timeout_seconds: float = Field(default=30.0, gt=0)
    # The consumer group session: a worker that stops heartbeating (killed, frozen) loses its
    # partitions to the others after this long.
    ingest_session_timeout_seconds: float = Field(default=10.0, ge=1, le=300)
    # Static group membership (KIP-345): a worker restarted with the same id takes its
    # partitions back at once instead of waiting for its old session to time out. Give each
    # replica its own stable id (a StatefulSet pod name, a compose replica name), or none.
    ingest_instance_id: str | None = Field(default=None, min_length=1, max_length=200)
    # Backoff between attempts at a batch after a transient failure: doubles up to the maximum.
    ingest_retry_initial_seconds: float = Field(default=0.2, gt=0)
    ingest_retry_max_seconds: float = Field(default=10.0, gt=0)
