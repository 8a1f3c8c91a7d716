"""What every benchmark shares: a PostgreSQL server and brokers, fresh databases, reports.

A benchmark module `bench/<name>.py` defines `async def run(env: Env) -> Report`. Results are
ratios measured side by side in one run, on the same machine; each report is printed as a table
and written to `bench/results/<name>.json`.
"""

from __future__ import annotations

import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlsplit, urlunsplit

from ingest import avro_reader
from ruaj import stack
from store import db, migrate

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(slots=True)
class Report:
    """One benchmark's outcome: a table of rows and free-text findings."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The rows as an aligned text table."""
        if not self.rows:
            return "(no rows)"
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        cells = [[_fmt(row.get(c, "")) for c in columns] for row in self.rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        return "\n".join(lines)

    def write(self) -> Path:
        """Write `bench/results/<name>.json` and return its path."""
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
        payload = {
            "name": self.name,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine,
            "rows": self.rows,
            "notes": self.notes,
        }
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass(slots=True)
class Env:
    """The servers a benchmark runs against."""

    admin_url: str
    workdir: Path
    quick: bool
    events: int | None = None  # `--events N`: the data set size for benchmarks that take one

    def database_url(self, name: str) -> str:
        """URL of database `name` on the bench server."""
        return urlunsplit(urlsplit(self.admin_url)._replace(path="/" + name))

    async def fresh_database(self, prefix: str) -> str:
        """Create and migrate a new database; returns its superuser URL."""
        name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
        conn = await db.connect(self.admin_url)
        try:
            await conn.execute(f"CREATE DATABASE {db.quote_ident(name)}")
        finally:
            await conn.close()
        url = self.database_url(name)
        conn = await db.connect(url)
        try:
            await migrate.apply(conn)
        finally:
            await conn.close()
        return url

    async def drop_database(self, url: str) -> None:
        """Drop a database made by `fresh_database`."""
        name = urlsplit(url).path.lstrip("/")
        conn = await db.connect(self.admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {db.quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()

    @contextmanager
    def broker(self) -> Iterator[stack.Broker]:
        """A fresh Tansu broker for one measurement."""
        server = stack.Broker(stack.free_port(), log_path=self.workdir / "broker.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def avro_reader_note() -> str:
    """Which Avro reader this run measured: the C one, or the Python fallback."""
    if avro_reader.COMPILED:
        return "Avro reader: C (ingest._cavro)"
    return "Avro reader: generated Python (ingest._cavro not built)"


def load_average() -> str:
    """The machine's load averages, for the notes of a shared machine."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


_SECONDARY_INDEXES: LiteralString = """
SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::regclass AND NOT x.indisprimary
"""


async def bulk_insert(
    conn: db.Connection, table: str, partition: str, low: datetime, high: datetime,
    insert: str, *args: object,
) -> None:  # fmt: skip
    """Run `insert` (an INSERT into the day partition `ruaj.<partition>` of `ruaj.<table>`,
    covering [low, high)) the way bulk loads are done: detach the partition, drop its secondary
    indexes, insert, rebuild them (sorted builds instead of millions of random index
    insertions), attach it again (the rebuilt indexes are taken as they are)."""
    qualified = f"ruaj.{db.quote_ident(partition)}"
    await conn.execute(f"ALTER TABLE ruaj.{db.quote_ident(table)} DETACH PARTITION {qualified}")
    indexes = await conn.fetch(_SECONDARY_INDEXES, qualified)
    for index in indexes:
        await conn.execute(f"DROP INDEX ruaj.{db.quote_ident(index['name'])}")
    await conn.execute(insert, *args)
    for index in indexes:
        await conn.execute(index["definition"])
    await conn.execute(
        f"ALTER TABLE ruaj.{db.quote_ident(table)} ATTACH PARTITION {qualified} "
        f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
    )
