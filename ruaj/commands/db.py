"""`ruaj db migrate`: apply the migrations and create the group roles."""

from __future__ import annotations

import argparse

from ruaj import config
from store import db, migrate
from store.settings import StoreSettings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj db`."""
    parser = commands.add_parser("db", help="database schema")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser(
        "migrate",
        help="apply pending migrations and create the group roles",
        description="Creates the group roles ruaj_owner, ruaj_ingest, ruaj_maintenance, "
        "ruaj_officer and ruaj_auditor if missing, then applies every pending numbered migration "
        "as ruaj_owner, each in its own transaction. Needs a login that may create roles and is "
        "a member of ruaj_owner (or a superuser).",
    ).set_defaults(handler=_migrate)


async def _migrate(args: argparse.Namespace) -> int:
    settings = config.load(StoreSettings)
    conn = await db.connect(settings.database_url.get_secret_value())
    try:
        applied = await migrate.apply(conn)
    finally:
        await conn.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("schema is up to date")
    return 0
