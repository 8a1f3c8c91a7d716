"""`ruaj authority add | crl | list`: the courts and prosecutors whose signed orders count."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from disclosure import authorities
from ruaj import config
from store import db
from store.settings import StoreSettings


def _name(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= 200 or any(not ch.isprintable() for ch in name):
        raise argparse.ArgumentTypeError(
            "an authority's name is 1 to 200 printable characters, exactly as its orders "
            "write issuing_authority.name"
        )
    return name


def read_file(path: Path, what: str) -> bytes:
    """The bytes of a file named on the command line, or a usage error naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise config.UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj authority`."""
    parser = commands.add_parser(
        "authority",
        help="register courts and prosecutors: trust anchors and CRLs",
        description="An order is accepted only from a registered authority, signed by a "
        "certificate that chains to its registered trust anchor and is not revoked according "
        "to its registered CRLs. Registering needs an administrator's database login; every "
        "registration is written to the audit log.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser(
        "add",
        help="register an authority with its trust anchor (and CRLs)",
        description="Registers NAME (exactly as its orders write issuing_authority.name). "
        "CA.pem holds the authority's self-signed root CA certificate and, optionally, its "
        "issuing CA certificates (which then pin its signers). Each --crl file holds one DER "
        "CRL, several concatenated, or PEM blocks; every CRL must be signed by a certificate "
        "of CA.pem and be current. Revocation is required for every certificate of a signer's "
        "chain below the root, so give the CRL of each CA. Exits 3 when a file is refused.",
    )
    add.add_argument("name", type=_name, metavar="NAME", help="the authority's name")
    add.add_argument("--kind", choices=["court", "prosecutor"], required=True)
    add.add_argument(
        "--trust-anchor", type=Path, required=True, metavar="CA.pem",
        help="PEM: the root CA certificate, then any issuing CA certificates",
    )  # fmt: skip
    add.add_argument(
        "--crl", type=Path, action="append", default=[], metavar="CRL.der",
        help="a CRL file (DER or PEM); repeat for each CA",
    )  # fmt: skip
    add.set_defaults(handler=_add)
    crl = sub.add_parser(
        "crl",
        help="register newer CRLs for an authority",
        description="Each CRL replaces the registered CRL of the same issuer (never with an "
        "older one); registered CRLs of other issuers are kept. Exits 3 when a CRL is refused.",
    )
    crl.add_argument("name", type=_name, metavar="NAME")
    crl.add_argument(
        "--crl", type=Path, action="append", required=True, metavar="CRL.der",
        help="a CRL file (DER or PEM); repeat for several",
    )  # fmt: skip
    crl.set_defaults(handler=_crl)
    listing = sub.add_parser("list", help="the registered authorities and their CRLs")
    listing.set_defaults(handler=_list)


async def _connect() -> db.Connection:
    settings = config.load(StoreSettings)
    return await db.connect(settings.database_url.get_secret_value())


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _show(summary: authorities.Summary) -> None:
    print(f"authority {summary.authority_id}: {summary.name} ({summary.kind})")
    for anchor in summary.anchors:
        print(f"  anchor      {anchor}")
    for issuing in summary.issuing_cas:
        print(f"  issuing CA  {issuing}")
    if not summary.crls:
        print("  no CRL: orders are refused until one is registered (`ruaj authority crl`)")
    for info in summary.crls:
        print(
            f"  CRL         {info.issuer}: {info.revoked} revoked, issued "
            f"{_time(info.this_update)}, next update {_time(info.next_update)}"
        )
    for info in summary.stale():
        print(f"ruaj: warning: the CRL of {info.issuer} is stale", file=sys.stderr)


async def _add(args: argparse.Namespace) -> int:
    anchor = read_file(args.trust_anchor, "trust anchor")
    crls = [read_file(path, "CRL") for path in args.crl]
    conn = await _connect()
    try:
        summary = await authorities.add(
            conn, name=args.name, kind=args.kind, trust_anchor=anchor, crls=crls
        )
    finally:
        await conn.close()
    _show(summary)
    return 0


async def _crl(args: argparse.Namespace) -> int:
    crls = [read_file(path, "CRL") for path in args.crl]
    conn = await _connect()
    try:
        summary = await authorities.update_crl(conn, args.name, crls)
    finally:
        await conn.close()
    _show(summary)
    return 0


async def _list(args: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        found = await authorities.list_all(conn)
    finally:
        await conn.close()
    for summary in found:
        _show(summary)
    return 0
