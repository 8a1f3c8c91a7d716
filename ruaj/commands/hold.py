"""`ruaj hold`: add, renew, list and release legal holds (preservation orders)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from ruaj import config
from ruaj.commands.maintain import rfc3339
from store import db, errors, holds
from store.settings import StoreSettings


def _identifier(text: str) -> holds.Identifier:
    try:
        return holds.Identifier.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _categories(text: str) -> list[str]:
    found = [c.strip() for c in text.split(",") if c.strip()]
    unknown = sorted(set(found) - set(holds.CATEGORIES))
    if not found or unknown:
        raise argparse.ArgumentTypeError(
            f"categories are a comma-separated list of {', '.join(holds.CATEGORIES)}"
        )
    return found


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj hold`."""
    parser = commands.add_parser(
        "hold",
        help="legal holds: keep data past its retention window",
        description="A legal hold (preservation order) keeps the rows of the identifiers, "
        "categories and time range it names when their partitions are dropped, until it is "
        "released or expires. Every change is written to the audit log.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a hold; prints its id")
    add.add_argument("--reference", required=True, help="the order's reference")
    add.add_argument(
        "--identifier", type=_identifier, action="append", required=True, metavar="KIND:VALUE",
        help="msisdn:…, imsi:…, imei:… or public_ip:… (repeat for several)",
    )  # fmt: skip
    add.add_argument("--from", dest="range_from", type=rfc3339, required=True, metavar="T")
    add.add_argument("--to", dest="range_to", type=rfc3339, required=True, metavar="T")
    add.add_argument(
        "--expires", type=rfc3339, metavar="T",
        help="when the hold ends unless renewed (default: RUAJ_HOLD_DEFAULT_DAYS from now)",
    )  # fmt: skip
    add.add_argument(
        "--categories", type=_categories, default=[], metavar="C,…",
        help=f"some of {', '.join(holds.CATEGORIES)} (default: all)",
    )  # fmt: skip
    add.set_defaults(handler=_add)
    renew = sub.add_parser("renew", help="move an active hold's expiry")
    renew.add_argument("hold_id", type=int, metavar="ID")
    renew.add_argument("--expires", type=rfc3339, required=True, metavar="T")
    renew.set_defaults(handler=_renew)
    listing = sub.add_parser("list", help="the holds in force (with --all, ended ones too)")
    listing.add_argument("--all", action="store_true", help="include released and expired holds")
    listing.set_defaults(handler=_list)
    release = sub.add_parser("release", help="release a hold; its copies are erased")
    release.add_argument("hold_id", type=int, metavar="ID")
    release.set_defaults(handler=_release)


@contextlib.contextmanager
def _refused_as_usage() -> Iterator[None]:
    try:
        yield
    except errors.InvalidRequest as exc:
        raise config.UsageError(str(exc)) from exc


async def _connect() -> tuple[StoreSettings, db.Connection]:
    settings = config.load(StoreSettings)
    return settings, await db.connect(settings.database_url.get_secret_value())


async def _add(args: argparse.Namespace) -> int:
    settings, conn = await _connect()
    expires = args.expires or datetime.now(UTC) + timedelta(days=settings.hold_default_days)
    try:
        with _refused_as_usage():
            hold_id = await holds.add(
                conn, reference=args.reference, identifiers=args.identifier,
                range_from=args.range_from, range_to=args.range_to, expires=expires,
                categories=args.categories,
            )  # fmt: skip
    finally:
        await conn.close()
    print(hold_id)
    return 0


async def _renew(args: argparse.Namespace) -> int:
    _, conn = await _connect()
    try:
        with _refused_as_usage():
            await holds.renew(conn, args.hold_id, args.expires)
    finally:
        await conn.close()
    print(f"hold {args.hold_id} now expires {args.expires.isoformat()}")
    return 0


async def _release(args: argparse.Namespace) -> int:
    _, conn = await _connect()
    try:
        with _refused_as_usage():
            erased = await holds.release(conn, args.hold_id)
    finally:
        await conn.close()
    print(f"hold {args.hold_id} released; held rows erased: {sum(erased.values())}")
    return 0


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _list(args: argparse.Namespace) -> int:
    _, conn = await _connect()
    try:
        found = await holds.list_holds(conn, include_ended=args.all)
    finally:
        await conn.close()
    rows = [("id", "reference", "state", "identifiers", "categories", "from", "to", "expires")]
    for hold in found:
        kinds = ",".join(hold.identifier_kinds)
        rows.append(
            (str(hold.hold_id), hold.reference, hold.state, kinds, ",".join(hold.categories),
             _time(hold.range_from), _time(hold.range_to), _time(hold.expires_at))
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0
