"""Retrying what fails for a while — a database restarting, a broker leader moving, a schema
registry down — with a doubling pause, and never past the stop timeout."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import KafkaError

from ingest import metrics
from ingest.errors import SchemaRegistryUnavailable
from store import errors

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The failures worth another attempt: nothing is wrong with the data.
TRANSIENT: tuple[type[Exception], ...] = (
    errors.TransientStoreError,
    KafkaError,
    SchemaRegistryUnavailable,
)


class OutOfTime(Exception):
    """Stopping, and the stop timeout passed while a transient failure lasted."""


@dataclass(slots=True, kw_only=True)
class Backoff:
    """The pause policy: `initial` seconds, doubled after each failure up to `maximum`.

    `deadline()` is the monotonic time past which no attempt starts (None: no limit);
    `on_failure(exc)` runs after each transient failure (e.g. to drop a broken connection).
    """

    initial: float
    maximum: float
    deadline: Callable[[], float | None]
    on_failure: Callable[[Exception], None]

    async def run(self, action: Callable[[], Awaitable[T]]) -> T:
        """`action()`, again after each transient failure; `OutOfTime` when time is up."""
        delay = self.initial
        while True:
            try:
                return await action()
            except TRANSIENT as exc:
                metrics.RETRIES.inc()
                self.on_failure(exc)
                logger.warning(
                    "transient failure, retrying",
                    extra={"error": type(exc).__name__, "detail": str(exc)[:200],
                           "retry_in_seconds": round(delay, 3)},
                )  # fmt: skip
                deadline = self.deadline()
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise OutOfTime from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.maximum)
