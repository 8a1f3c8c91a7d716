"""Connections and the one boundary where asyncpg's errors become the store's.

Every function of `store` that talks to the database runs its calls inside `translated()`, so
callers above see `TransientStoreError` (retry) or `StoreError` (give up), never asyncpg.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from store import errors
from store.settings import StoreSettings

Connection = asyncpg.Connection
Pool = asyncpg.Pool
Record = asyncpg.Record

# SQLSTATE classes and codes after which repeating the operation can succeed.
_TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout)
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "53300",  # too_many_connections
        "53400",  # configuration_limit_exceeded
        "08000", "08003", "08006", "08001", "08004",  # connection exceptions
    }
)  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """Whether `exc`, raised by asyncpg or the socket under it, is worth a retry."""
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):
        # The connection was closed under us, or the server went away mid-protocol.
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate in _TRANSIENT_SQLSTATES


def withhold_row_values(exc: BaseException) -> None:
    """Drop the server's DETAIL from an asyncpg error, in place.

    PostgreSQL puts row values there ("Key (msisdn)=(355691234567) already exists", "Failing
    row contains (…)"), and asyncpg's `str()` appends it: it would reach logs and stderr through
    the message or the `raise … from` chain. The SQLSTATE, constraint and column names stay.
    """
    if isinstance(exc, asyncpg.PostgresError) and getattr(exc, "detail", None) is not None:
        exc.detail = None


def translate(exc: BaseException) -> errors.StoreError:
    """The store's exception for an asyncpg (or socket) exception (its DETAIL withheld)."""
    withhold_row_values(exc)
    if is_transient(exc):
        return errors.TransientStoreError(f"database unavailable: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return errors.InsufficientPrivilege(str(exc))
    return errors.StoreError(f"{type(exc).__name__}: {exc}")


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Re-raise asyncpg and connection errors as `StoreError` / `TransientStoreError`."""
    try:
        yield
    except errors.StoreError:
        raise
    except (
        asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
        TimeoutError,
    ) as exc:  # fmt: skip
        raise translate(exc) from exc


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
    )
    await conn.set_type_codec(
        "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
    )


def _server_settings() -> dict[str, str]:
    return {"application_name": "ruaj", "timezone": "UTC"}


async def connect(url: str, **kwargs: Any) -> Connection:
    """One connection to `url` with ruaj's codecs (json/jsonb as Python values)."""
    async with translated():
        conn: Connection = await asyncpg.connect(url, server_settings=_server_settings(), **kwargs)
        await _init_connection(conn)
        return conn


async def create_pool(settings: StoreSettings, *, min_size: int = 1) -> Pool:
    """A connection pool for `settings.database_url`."""
    async with translated():
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=min_size,
            max_size=settings.pool_max_size,
            init=_init_connection,
            server_settings=_server_settings(),
        )
    assert pool is not None
    return pool


def quote_ident(name: str) -> str:
    """Quote an SQL identifier the way PostgreSQL's `quote_ident` does."""
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'
