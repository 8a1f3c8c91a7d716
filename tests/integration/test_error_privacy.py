"""Database errors never carry row values into logs or stderr.

PostgreSQL's DETAIL holds the values of the offending row ("Key (msisdn)=(…) already exists"),
and asyncpg's `str()` appends it. The store's boundary withholds it, and so does the JSON log
formatter for an error that escaped the boundary.
"""

from __future__ import annotations

import io
import logging

import asyncpg
import pytest

from ruaj import logs
from store import db, errors

pytestmark = pytest.mark.integration

MSISDN = "355691234567"


async def _duplicate(conn: db.Connection) -> None:
    await conn.execute("CREATE TEMP TABLE phone (msisdn text PRIMARY KEY)")
    await conn.execute("INSERT INTO phone VALUES ($1)", MSISDN)
    await conn.execute("INSERT INTO phone VALUES ($1)", MSISDN)


def _logged(exc: BaseException) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.error_privacy")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise exc
        except BaseException:
            logger.exception("write failed")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


async def test_postgres_puts_the_value_in_detail(conn: db.Connection) -> None:
    """The premise: without the boundary, the value is in the error's text."""
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await _duplicate(conn)
    assert MSISDN in str(caught.value)


async def test_the_store_boundary_withholds_detail(conn: db.Connection) -> None:
    with pytest.raises(errors.StoreError) as caught:
        async with db.translated():
            await _duplicate(conn)
    assert "UniqueViolationError" in str(caught.value)
    assert "phone_pkey" in str(caught.value)  # what failed is still said
    assert MSISDN not in str(caught.value)
    assert MSISDN not in str(caught.value.__cause__)
    line = _logged(caught.value)
    assert "phone_pkey" in line
    assert MSISDN not in line


async def test_the_log_formatter_withholds_detail_of_an_escaped_error(
    conn: db.Connection,
) -> None:
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await _duplicate(conn)
    wrapped = RuntimeError("batch failed")
    wrapped.__cause__ = caught.value
    line = _logged(wrapped)
    assert "UniqueViolationError" in line
    assert MSISDN not in line
