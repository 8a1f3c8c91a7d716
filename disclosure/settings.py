"""Settings of disclosure and of the audit log's checkpoints."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from disclosure import policy

# Extended key usages accepted by default on an order's signing certificate (disclosure/verify.py):
# id-kp-documentSigning (RFC 9336) and id-kp-emailProtection (S/MIME signers).
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


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
    # Which authority kind may order which task types (disclosure/policy.py): comma-separated.
    policy_court_tasks: Annotated[frozenset[str], NoDecode] = frozenset(policy.TASK_TYPES)
    policy_prosecutor_tasks: Annotated[frozenset[str], NoDecode] = policy.DEFAULT_PROSECUTOR_TASKS
    # Extended key usages (dotted OIDs, comma-separated) of which an order's signing
    # certificate must carry at least one.
    order_signer_ekus: Annotated[tuple[str, ...], NoDecode] = (DOCUMENT_SIGNING, EMAIL_PROTECTION)
    # How far in the future an order's issued_at or its signing time may be (clocks differ).
    order_clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    # The largest accompanying document (`ruaj order import --document`) kept with an order.
    order_document_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    @field_validator("policy_court_tasks", "policy_prosecutor_tasks", mode="before")
    @classmethod
    def _task_types(cls, value: object) -> frozenset[str]:
        return policy.parse_task_types(value)

    @field_validator("order_signer_ekus", mode="before")
    @classmethod
    def _ekus(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, Iterable):
            items = [str(item) for item in value]
        else:
            raise ValueError("expected comma-separated dotted OIDs")
        oids = tuple(item.strip() for item in items if item.strip())
        bad = [oid for oid in oids if not _OID.match(oid)]
        if bad or not oids:
            raise ValueError(f"expected comma-separated dotted OIDs, got {value!r}")
        return oids
