"""Settings of disclosure and of the audit log's checkpoints."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DisclosureSettings(BaseSettings):
    """`RUAJ_*` settings of the operator key, checkpoints and the disclosure policy."""

    model_config = SettingsConfigDict(env_prefix="RUAJ_", extra="ignore")

    # Path of the operator's Ed25519 private key (PEM, PKCS#8): signs checkpoints and packages.
    operator_key: Path | None = None
    # Where signed checkpoints are written, outside the database.
    checkpoint_dir: Path | None = None
    # The checkpoint origin line (C2SP tlog-checkpoint): names this log.
    checkpoint_origin: str = "ruaj.audit.local/log"
    # `ruaj maintain` writes a checkpoint after this many new entries, or after this many
    # minutes when there is at least one new entry.
    checkpoint_every_entries: int = Field(default=1000, ge=1)
    checkpoint_every_minutes: int = Field(default=10, ge=1)
    # The largest package `ruaj order execute` builds (bytes of data before encryption): one
    # HPKE message is built in memory. A larger result is refused before anything is released.
    package_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
