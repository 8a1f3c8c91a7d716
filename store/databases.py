"""Whole databases and login roles on a server one administers, and connection URLs for them.

What `ruaj demo` needs to start from nothing on the embedded stack, run after run: a database
of its own, dropped and made again, and the login roles of its officers, dropped before they
are made again (roles belong to the server, not to a database). Needs a superuser's login (or
CREATEDB and CREATEROLE).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

from store import db


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database of the same server."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(database, safe="")))


def database_of(url: str) -> str:
    """The database a URL names (`postgres` when it names none)."""
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_login(url: str, user: str, password: str | None = None) -> str:
    """`url` logging in as `user` (with `password`) instead of whoever it named."""
    parts = urlsplit(url)
    login = quote(user, safe="")
    if password is not None:
        login += ":" + quote(password, safe="")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{login}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def recreate(admin_url: str, name: str) -> str:
    """Drop the database `name` if it exists (closing its connections) and create it empty;
    returns the URL of `admin_url` pointing at it. `admin_url` must name another database."""
    if database_of(admin_url) == name:
        raise ValueError(f"cannot recreate {name}: the administrator's URL is connected to it")
    conn = await db.connect(admin_url)
    try:
        async with db.translated():
            await conn.execute(f"DROP DATABASE IF EXISTS {db.quote_ident(name)} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {db.quote_ident(name)}")
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_roles(admin_url: str, names: Iterable[str]) -> list[str]:
    """Drop the login roles `names` that exist; returns those dropped. A role that still owns
    something or holds privileges in a database of the server is not dropped (`StoreError`)."""
    dropped = []
    conn = await db.connect(admin_url)
    try:
        async with db.translated():
            for name in names:
                if await conn.fetchval("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)",
                                       name):  # fmt: skip
                    await conn.execute(f"DROP ROLE {db.quote_ident(name)}")
                    dropped.append(name)
    finally:
        await conn.close()
    return dropped
