"""Helpers shared by the test tiers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ingest import metrics as ingest_metrics
from store import maintenance

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def varint(raw: int) -> bytes:
    """`raw` (≥ 0, already zig-zag encoded where it stands for a signed value) as an Avro
    varint: seven bits a byte, low bits first."""
    out = bytearray()
    while raw > 127:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a thread of its own (safe from any test's event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database of the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def run_ruaj(
    *args: str, env: dict[str, str], timeout: float = 240, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `ruaj ARGS…` to completion and return what it did (never raises on exit status)."""
    return subprocess.run(
        [sys.executable, "-m", "ruaj", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float, every: float = 0.05
) -> None:
    """Wait until `check()` is true, asking every `every` seconds; TimeoutError after `seconds`.

    For conditions outside this process (rows in a database, a metric of a subprocess), which
    no event of ours can signal.
    """
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - the condition lives in another process
            await asyncio.sleep(every)


@contextlib.contextmanager
def server_directory() -> Iterator[Path]:
    """A directory for a PostgreSQL cluster of the tests, outside pytest's temporary tree.

    The server runs as another user (not root), so every directory above its data must stay
    traversable; pytest takes group and other access away from its `pytest-of-<user>` tree
    whenever a session starts, which would pull the ground from under a server that runs
    meanwhile (several sessions on one machine).
    """
    path = Path(tempfile.mkdtemp(prefix="ruaj-test-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sample(name: str, **labels: str) -> float | None:
    """A sample of this process's metrics, from the registry of the service that exports it
    (ingest's or maintain's); None when there is none."""
    for registry in (ingest_metrics.REGISTRY, maintenance.REGISTRY):
        value = registry.get_sample_value(name, labels)
        if value is not None:
            return value
    return None
