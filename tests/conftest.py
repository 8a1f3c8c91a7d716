"""Shared fixtures: one embedded PostgreSQL per session, a database per test from a migrated
template, and a fresh Kafka-protocol broker per test (Tansu starts in milliseconds, and a test's
topics then hold exactly what that test produced).

`RUAJ_TEST_DATABASE_URL` (a superuser URL) runs the suite against another PostgreSQL ≥ 15
instead of the embedded one; each test still gets its own database there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ruaj import stack
from store import db, migrate
from tests.support import run_async, server_directory, with_database


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """A directory for a test's own PostgreSQL cluster or embedded stack (see
    `tests.support.server_directory`)."""
    with server_directory() as path:
        yield path


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Superuser URL of the session's PostgreSQL server."""
    external = os.environ.get("RUAJ_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with server_directory() as directory:
        server = stack.Postgres(directory / "data", stack.free_port(), fast=True)
        server.start()
        try:
            yield server.url
        finally:
            server.stop("immediate")


async def _recreate(admin_url: str, name: str, template: str | None) -> None:
    conn = await db.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {db.quote_ident(name)} WITH (FORCE)")
        clause = f" TEMPLATE {db.quote_ident(template)}" if template else ""
        await conn.execute(f"CREATE DATABASE {db.quote_ident(name)}{clause}")
    finally:
        await conn.close()


async def _drop(admin_url: str, name: str) -> None:
    conn = await db.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {db.quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    conn = await db.connect(url)
    try:
        await migrate.apply(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """Name of a database with every migration applied, copied for each test."""
    name = f"ruaj_template_{os.getpid()}"
    run_async(_recreate(pg_admin_url, name, None))
    run_async(_migrate(with_database(pg_admin_url, name)))
    try:
        yield name
    finally:
        run_async(_drop(pg_admin_url, name))


@pytest.fixture
async def database_url(pg_admin_url: str, template_database: str) -> AsyncIterator[str]:
    """Superuser URL of a fresh, migrated database of this test's own."""
    name = f"ruaj_test_{uuid.uuid4().hex[:16]}"
    await _recreate(pg_admin_url, name, template_database)
    try:
        yield with_database(pg_admin_url, name)
    finally:
        await _drop(pg_admin_url, name)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[db.Connection]:
    """A superuser connection to this test's database."""
    connection = await db.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[stack.Broker]:
    """A fresh, empty Tansu broker for this test."""
    server = stack.Broker(stack.free_port(), log_path=tmp_path / "broker.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ruaj_env(database_url: str, broker: stack.Broker, tmp_path: Path) -> dict[str, str]:
    """Environment for running `ruaj` as a subprocess against this test's database and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUAJ_")}
    env.update(
        RUAJ_DATABASE_URL=database_url,
        RUAJ_KAFKA_BOOTSTRAP=broker.bootstrap,
        RUAJ_STACK_DIR=str(tmp_path / "stack"),
        RUAJ_METRICS_PORT=str(stack.free_port()),
        RUAJ_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        PYTHONUNBUFFERED="1",
    )
    return env
