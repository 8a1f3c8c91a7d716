"""`ruaj officer add NAME | list`: officers are database login roles in `ruaj_officer`."""

from __future__ import annotations

import argparse
import sys

from disclosure import errors as disclosure_errors
from ruaj import config
from store import db, errors, officers
from store.settings import StoreSettings


def _name(text: str) -> str:
    try:
        return officers.check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj officer`."""
    parser = commands.add_parser(
        "officer",
        help="legal-compliance officers: database login roles",
        description="Each officer is a PostgreSQL login role in ruaj_officer: the database's "
        "session_user is who imported, approved or executed an order, and four eyes is "
        "enforced on it. Creating one needs an administrator's login.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser(
        "add",
        help="create an officer's login role",
        description="Creates the login role NAME, a member of ruaj_officer, and writes it to "
        "the audit log. With --password-stdin the password is read from standard input (one "
        "line; printable ASCII, 12 characters or more) and sent as a SCRAM-SHA-256 verifier, "
        "never in clear; without it the role has no password (log in by certificate, peer or "
        "GSSAPI, as pg_hba.conf allows). Exits 3 when the role exists or the login may not "
        "create roles.",
    )
    add.add_argument("name", type=_name, metavar="NAME", help="the role's name (a-z, 0-9, _)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the role's password from stdin"
    )
    add.set_defaults(handler=_add)
    listing = sub.add_parser("list", help="the members of ruaj_officer")
    listing.set_defaults(handler=_list)


def _password() -> str:
    text = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    try:
        return officers.check_password(text)
    except ValueError as exc:
        raise config.UsageError(str(exc)) from exc


async def _connect() -> db.Connection:
    settings = config.load(StoreSettings)
    return await db.connect(settings.database_url.get_secret_value())


async def _add(args: argparse.Namespace) -> int:
    password = _password() if args.password_stdin else None
    conn = await _connect()
    try:
        await officers.add(conn, args.name, password=password)
    except errors.InvalidRequest as exc:
        raise disclosure_errors.OrderRefused("role_exists", str(exc)) from exc
    except errors.InsufficientPrivilege as exc:
        raise disclosure_errors.OrderRefused(
            "not_admin", f"creating officers needs an administrator's database login: {exc}"
        ) from exc
    finally:
        await conn.close()
    print(f"officer {args.name} created (member of ruaj_officer)")
    return 0


async def _list(args: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        found = await officers.list_officers(conn)
    finally:
        await conn.close()
    for name, can_login in found:
        print(name if can_login else f"{name} (cannot log in)")
    return 0
