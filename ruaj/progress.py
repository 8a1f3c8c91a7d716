"""Progress of long work: a one-line counter on a terminal, silence when output is not one."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Redraws `label: done/total (pct) rate/s` on stderr at most five times a second.

    Pass `advance` (or `set`) as the callback of long-running work. Nothing is written unless
    the stream is a terminal, so logs and pipes stay clean.
    """

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0

    def advance(self, n: int = 1) -> None:
        """Count `n` more units of work."""
        self.set(self.done + n)

    def set(self, done: int) -> None:
        """Set the count of finished units."""
        self.done = done
        now = time.monotonic()
        if self._enabled and (now - self._drawn >= 0.2 or done == self.total):
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self._started, 1e-9)
        if self.total:
            text = f"{self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f}%)"
        else:
            text = f"{self.done:,}"
        self._stream.write(f"\r{self.label}: {text} {rate:,.0f}/s\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        """Finish the line (on a terminal)."""
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
