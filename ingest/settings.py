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
