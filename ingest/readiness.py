"""What `/readyz` of `ruaj ingest` asks: does the database answer, does a broker listen."""

from __future__ import annotations

import asyncio
import contextlib

from store import db, errors

_TIMEOUT_SECONDS = 3.0


async def database(url: str) -> bool:
    """Whether a fresh connection to `url` answers `SELECT 1` within a few seconds."""
    try:
        async with asyncio.timeout(_TIMEOUT_SECONDS):
            conn = await db.connect(url)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
    except (errors.StoreError, TimeoutError):
        return False
    return True


async def broker(bootstrap: str) -> bool:
    """Whether one of the bootstrap servers (`host:port,…`) accepts a TCP connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(_TIMEOUT_SECONDS):
                _, out = await asyncio.open_connection(host.strip("[]"), int(port))
            out.close()
            with contextlib.suppress(OSError):
                await out.wait_closed()
            return True
        except (OSError, TimeoutError, ValueError):
            continue
    return False
