"""`ruaj retention status`: windows, partitions and what the next drop will be."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ruaj import config
from store import db, holds, retention, tables
from store.settings import StoreSettings

_COLUMNS = (
    "category", "table", "window", "partitions", "oldest", "newest", "next drop", "due",
    "rows under hold",
)  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj retention`."""
    parser = commands.add_parser("retention", help="retention windows and partitions")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser(
        "status",
        help="per category: window, partitions, oldest/newest, next drop due, rows under hold",
        description="Prints one line per event table: its category and retention window, how "
        "many day partitions it has, the oldest and newest, which partition is dropped next "
        "and when (its day's end + the window), and how many of its rows are kept in hold "
        "storage; then the legal holds in force.",
    ).set_defaults(handler=_status)


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip


async def _status(args: argparse.Namespace) -> int:
    settings = config.load(StoreSettings)
    now = datetime.now(UTC)
    conn = await db.connect(settings.database_url.get_secret_value())
    try:
        present = await retention.present(conn)
        held = await holds.held_rows(conn)
        active = await holds.active_count(conn)
    finally:
        await conn.close()
    lines: list[tuple[str, ...]] = [_COLUMNS]
    for table in tables.EVENT_TABLES:
        days = [p.partition for p in present
                if p.partition.table == table.name and p.state == retention.ATTACHED]  # fmt: skip
        window = retention.window(settings, table.name)
        if days:
            oldest, newest = days[0], days[-1]
            due_at = oldest.end + window
            due = "now (overdue)" if due_at <= now else due_at.strftime("%Y-%m-%d %H:%M UTC")
            row = (oldest.day.isoformat(), newest.day.isoformat(), oldest.name, due)
        else:
            row = ("-", "-", "-", "-")
        lines.append(
            (table.category, table.name, f"{window.days} d", str(len(days)), *row,
             str(held.get(table.name, 0)))
        )  # fmt: skip
    print(_table(lines))
    leftovers = [p.partition.name for p in present if p.state != retention.ATTACHED]
    if leftovers:
        print(f"half-dropped partitions (the next pass finishes them): {', '.join(leftovers)}")
    print(f"legal holds in force: {active}")
    return 0
