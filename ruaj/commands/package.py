"""`ruaj package open`: the agency's side of a disclosure — decrypt, check, write out."""

from __future__ import annotations

import argparse
from pathlib import Path

from disclosure import errors, keys, package, recipient
from disclosure.settings import DisclosureSettings
from ruaj import config


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj package`."""
    parser = commands.add_parser(
        "package",
        help="open a disclosure package as the recipient agency",
        description="Disclosure packages are encrypted to the agency named in the order (HPKE, "
        "X25519) and signed by the operator (Ed25519).",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    opening = sub.add_parser(
        "open",
        help="decrypt a package, check signature, hashes and audit receipt, write the files",
        description="Decrypts PACKAGE with the agency's X25519 private key, checks the "
        "operator's signature on the manifest, every file's SHA-256, and the audit receipt "
        "that proves the release is in the operator's signed audit log. Writes the files to "
        "DIR only when everything holds; exits 3 naming the first check that fails.",
    )
    opening.add_argument("package", type=Path, metavar="PACKAGE", help="the package file")
    opening.add_argument(
        "--key", type=Path, metavar="AGENCY_KEY.pem", required=True,
        help="the agency's X25519 private key (PEM, PKCS#8)",
    )  # fmt: skip
    opening.add_argument(
        "--out", type=Path, metavar="DIR", required=True, help="where to write the files"
    )
    opening.add_argument(
        "--operator-key", type=Path, metavar="FILE",
        help="the operator's public key as published to the agency (PEM, or signed-note "
        "verifier key); default: derived from RUAJ_OPERATOR_KEY",
    )  # fmt: skip
    opening.set_defaults(handler=_open)


def _operator_key(path: Path | None) -> keys.PublicKey:
    try:
        if path is not None:
            return keys.load_public_key(path)
        settings = config.load(DisclosureSettings)
        if settings.operator_key is None:
            raise config.UsageError(
                "give --operator-key FILE (the operator's published public key) "
                "or set RUAJ_OPERATOR_KEY"
            )
        return keys.load_operator_key(settings).public_key()
    except errors.OperatorKeyError as exc:
        raise config.UsageError(str(exc)) from exc


def _open(args: argparse.Namespace) -> int:
    operator = _operator_key(args.operator_key)
    try:
        agency = recipient.load_private_key(args.key)
    except errors.NotConfigured as exc:
        raise config.UsageError(str(exc)) from exc
    try:
        data = args.package.read_bytes()
    except OSError as exc:
        raise config.UsageError(f"cannot read package {args.package}: {exc.strerror}") from exc
    opened = package.open_package(data, agency_key=agency, operator=operator)
    package.write_out(opened, args.out)
    order = opened.manifest["order"]
    print(
        f"package verified: order {order['order_reference']} (id {order['order_id']}, "
        f"sha256 {order['order_sha256']}) for {order['recipient_agency']}"
    )
    print(
        f"signed by operator key {keys.raw_public_key(operator).hex()[:16]}…; release is audit "
        f"entry {opened.receipt.index} of a signed log of {opened.receipt.tree_size} entries"
    )
    for listing in opened.manifest["files"]:
        print(
            f"  {listing['name']}: task {listing['task_id']} ({listing['task_type']}), "
            f"{listing['rows']} rows, sha256 {listing['sha256'][:16]}…"
        )
    print(f"written to {args.out}")
    return 0
