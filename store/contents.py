"""What the store holds, in counts: rows per table and dead letters by reason.

For `ruaj demo` and for operators checking a load: counts only, nothing of any row. Exact
`count(*)`, so meant for a demonstration or a test load, not for a table of billions (use the
metrics there).
"""

from __future__ import annotations

from typing import LiteralString

from store import db

# The tables ingestion fills, in the order they are shown.
TABLES: tuple[str, ...] = (
    "cdr", "sms", "imei_observation", "ip_session",
    "subscriber", "subscriber_identity", "subscriber_change", "dead_letter",
)  # fmt: skip

_COUNTS: LiteralString = """
SELECT 'cdr' AS name, count(*) AS n FROM ruaj.cdr
UNION ALL SELECT 'sms', count(*) FROM ruaj.sms
UNION ALL SELECT 'imei_observation', count(*) FROM ruaj.imei_observation
UNION ALL SELECT 'ip_session', count(*) FROM ruaj.ip_session
UNION ALL SELECT 'subscriber', count(*) FROM ruaj.subscriber
UNION ALL SELECT 'subscriber_identity', count(*) FROM ruaj.subscriber_identity
UNION ALL SELECT 'subscriber_change', count(*) FROM ruaj.subscriber_change
UNION ALL SELECT 'dead_letter', count(*) FROM ruaj.dead_letter
"""
_DEAD_LETTERS: LiteralString = """
SELECT reason, count(*) AS n FROM ruaj.dead_letter GROUP BY reason ORDER BY reason
"""


async def row_counts(conn: db.Connection) -> dict[str, int]:
    """Rows of each table of `TABLES`."""
    async with db.translated():
        rows = await conn.fetch(_COUNTS)
    return {row["name"]: row["n"] for row in rows}


async def dead_letters_by_reason(conn: db.Connection) -> dict[str, int]:
    """Rows of `ruaj.dead_letter` per reason, by reason."""
    async with db.translated():
        rows = await conn.fetch(_DEAD_LETTERS)
    return {row["reason"]: row["n"] for row in rows}
