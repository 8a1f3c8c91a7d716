"""Settings of the store: where the database is and how long each category is kept."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """`RUAJ_*` settings of the database and the retention windows (DESIGN §4).

    Windows are in days. The legal default for traffic, SMS, IMEI and IP-session data is
    12 months, taken as 365 days; subscriber data is kept until contract end + 3 years.
    """

    model_config = SettingsConfigDict(env_prefix="RUAJ_", extra="ignore")

    database_url: SecretStr
    pool_max_size: int = Field(default=10, ge=1)
    retention_traffic_days: int = Field(default=365, ge=1)
    retention_sms_days: int = Field(default=365, ge=1)
    retention_imei_days: int = Field(default=365, ge=1)
    retention_ip_session_days: int = Field(default=365, ge=1)
    retention_subscriber_days: int = Field(default=3 * 365, ge=1)
    retention_dead_letter_days: int = Field(default=30, ge=1)
    # `ruaj maintain`: days ahead for which partitions exist (today included); how long a
    # plain detach or a drop may wait for a lock before it gives up and is retried (short:
    # writers queued behind a waiting ACCESS EXCLUSIVE request are held up that long at most);
    # how long a DETACH … CONCURRENTLY, or the FINALIZE of one left pending, may wait for the
    # transactions that began before it (longer: it waits holding no lock a writer needs, and
    # ingest transactions under load last a few hundred milliseconds); attempts per pass; the
    # pause between passes of the service.
    partitions_ahead_days: int = Field(default=7, ge=1)
    retention_lock_timeout_ms: int = Field(default=50, ge=1)
    retention_concurrent_detach_timeout_ms: int = Field(default=10_000, ge=1)
    retention_drop_attempts: int = Field(default=8, ge=1)
    maintain_interval_seconds: float = Field(default=300.0, gt=0)
    # Subscribers erased per transaction by the `subscribers` step of `ruaj maintain` (bounded,
    # so the audit log's append lock is never held for long).
    registry_erasure_batch_size: int = Field(default=100, ge=1)
    # Expiry of a legal hold when none is given (renewable).
    hold_default_days: int = Field(default=90, ge=1)

    def retention_days(self, category: str) -> int:
        """The window of one category (`traffic`, `sms`, `imei`, `ip_session`, …)."""
        value: int = getattr(self, f"retention_{category}_days")
        return value
