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
