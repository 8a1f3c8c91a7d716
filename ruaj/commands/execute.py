"""`ruaj order execute ID --out DIR`: run an approved order's tasks and write its package.

The `order` command group (ruaj/commands/order.py) adds this action with `register_execute`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from disclosure import errors, execute
from disclosure.settings import DisclosureSettings
from ruaj import config
from store import db
from store.settings import StoreSettings


def register_execute(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `execute` to the actions of `ruaj order`."""
    parser = actions.add_parser(
        "execute",
        help="execute an approved order: read its tasks through the guarded functions and "
        "write the encrypted package",
        description="Runs every task of order ID through the database's guarded functions "
        "(which refuse anything outside the order's identifiers and ranges, or an order not "
        "approved or expired), marks the order disclosed with an audit entry of each task's "
        "row count and the package hash, and writes the package — signed by RUAJ_OPERATOR_KEY, "
        "encrypted to the order's recipient — to DIR. Prints the package's path. The officer "
        "who acts is the database user of RUAJ_DATABASE_URL. Exits 3 when refused.",
    )
    parser.add_argument("order_id", type=int, metavar="ID", help="the order's id")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", required=True, help="where to write the package"
    )
    parser.set_defaults(handler=_execute)


async def _execute(args: argparse.Namespace) -> int:
    settings = config.load(DisclosureSettings)
    store_settings = config.load(StoreSettings)
    conn = await db.connect(store_settings.database_url.get_secret_value())
    try:
        outcome = await execute.execute(conn, settings, args.order_id, args.out)
    except (errors.OperatorKeyError, errors.NotConfigured) as exc:
        raise config.UsageError(str(exc)) from exc
    finally:
        await conn.close()
    for done in outcome.tasks:
        print(f"task {done.task_id} ({done.task_type}): {done.rows} rows", file=sys.stderr)
    print(
        f"order {outcome.order_id} disclosed: audit entry {outcome.audit_index}, "
        f"package sha256 {outcome.package_sha256}",
        file=sys.stderr,
    )
    print(outcome.path)
    return 0
