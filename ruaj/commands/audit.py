"""`ruaj audit`: verify the log, sign checkpoints, print and check inclusion proofs."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from disclosure import checkpoint, errors, keys, receipt, verifier
from disclosure.settings import DisclosureSettings
from ruaj import config, progress
from store import db
from store.settings import StoreSettings

_PUBLIC_KEY_HELP = (
    "the operator's public key: a PEM public key file, or a file holding its signed-note "
    "verifier key (name+keyid+base64); default: derived from RUAJ_OPERATOR_KEY"
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj audit`."""
    parser = commands.add_parser(
        "audit",
        help="the tamper-evident audit log",
        description="The audit log is an RFC 9162 Merkle tree; signed checkpoints of it are "
        "kept outside the database in RUAJ_CHECKPOINT_DIR.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    verify = sub.add_parser(
        "verify",
        help="recompute the whole log and check it against the signed checkpoints",
        description="Recomputes every leaf from the stored entry bytes, checks them against the "
        "rows' columns, recomputes the root at each checkpoint's size, checks every "
        "checkpoint's signature and the consistency between consecutive checkpoints. Exits 0 "
        "when all holds, 1 naming the first entry that differs. Needs only SELECT on "
        "ruaj.audit_log (a login in ruaj_auditor).",
    )
    verify.add_argument(
        "--checkpoints", type=Path, metavar="DIR",
        help="directory of signed checkpoints (default RUAJ_CHECKPOINT_DIR)",
    )  # fmt: skip
    verify.add_argument("--public-key", type=Path, metavar="FILE", help=_PUBLIC_KEY_HELP)
    verify.set_defaults(handler=_verify)

    sub.add_parser(
        "checkpoint",
        help="sign a checkpoint of the log now and write it to RUAJ_CHECKPOINT_DIR",
        description="Signs (with RUAJ_OPERATOR_KEY) a C2SP checkpoint of the log as committed "
        "now, after proving it consistent with the newest checkpoint in RUAJ_CHECKPOINT_DIR; "
        "refuses (exit 3) when it is not. Prints the checkpoint.",
    ).set_defaults(handler=_checkpoint)

    prove = sub.add_parser(
        "prove",
        help="print an inclusion proof of one entry against the latest checkpoint",
        description="Prints a JSON receipt: the entry, its inclusion proof and the signed "
        "checkpoint, which `ruaj audit verify-proof` checks with the public key alone. When "
        "the latest checkpoint does not cover the entry yet, signs a new one (this needs "
        "RUAJ_OPERATOR_KEY).",
    )
    prove.add_argument("index", type=int, metavar="INDEX", help="the entry's index")
    prove.add_argument("--public-key", type=Path, metavar="FILE", help=_PUBLIC_KEY_HELP)
    prove.add_argument("--out", type=Path, metavar="FILE", help="write the receipt here")
    prove.set_defaults(handler=_prove)

    check = sub.add_parser(
        "verify-proof",
        help="check a receipt from `ruaj audit prove` with the public key alone (no database)",
        description="Checks the checkpoint's Ed25519 signature and the inclusion proof of the "
        "entry; prints the entry. Exits 0 when it holds, 1 otherwise.",
    )
    check.add_argument("receipt", type=Path, metavar="FILE", help="the receipt ('-': stdin)")
    check.add_argument(
        "--public-key", type=Path, metavar="FILE", required=True,
        help="the operator's public key (PEM, or a signed-note verifier key)",
    )  # fmt: skip
    check.set_defaults(handler=_verify_proof)

    public = sub.add_parser(
        "public-key",
        help="print the operator's public key, for auditors and agencies",
        description="Prints the public key of RUAJ_OPERATOR_KEY as PEM, or with "
        "--verifier-key as a C2SP signed-note verifier key named by the checkpoint origin.",
    )
    public.add_argument(
        "--verifier-key", action="store_true",
        help="print name+keyid+base64(0x01 || key) instead of PEM",
    )  # fmt: skip
    public.set_defaults(handler=_public_key)


@contextlib.contextmanager
def _settings_problems() -> Iterator[None]:
    """A missing or unusable key or directory is a usage error (exit 2)."""
    try:
        yield
    except (errors.OperatorKeyError, errors.NotConfigured) as exc:
        raise config.UsageError(str(exc)) from exc


def _public(path: Path | None, settings: DisclosureSettings) -> keys.PublicKey:
    if path is not None:
        return keys.load_public_key(path)
    if settings.operator_key is None:
        raise config.UsageError(
            "give --public-key FILE (the operator's public key) or set RUAJ_OPERATOR_KEY"
        )
    return keys.load_operator_key(settings).public_key()


async def _connect() -> db.Connection:
    store_settings = config.load(StoreSettings)
    return await db.connect(store_settings.database_url.get_secret_value())


async def _verify(args: argparse.Namespace) -> int:
    settings = config.load(DisclosureSettings)
    with _settings_problems():
        directory = args.checkpoints or checkpoint.directory_of(settings)
        public = _public(args.public_key, settings)
    if not directory.is_dir():
        raise config.UsageError(f"checkpoint directory {directory} does not exist")
    shown = progress.Progress("verifying audit log")

    def advance(done: int, total: int) -> None:
        shown.total = total
        shown.set(done)

    conn = await _connect()
    try:
        outcome = await verifier.verify(
            conn, directory, public, origin=settings.checkpoint_origin, progress=advance
        )
    finally:
        shown.close()
        await conn.close()
    name = settings.checkpoint_origin
    sizes = [cp.size for cp in outcome.checkpoints]
    for note in outcome.notes:
        print(f"ruaj: note: {note}", file=sys.stderr)
    if outcome.problem is not None:
        print(f"ruaj: audit log verification FAILED at {outcome.problem}", file=sys.stderr)
        return 1
    print(f"audit log verified: {outcome.entries} entries")
    print(
        f"checkpoints: {len(sizes)} (tree sizes {sizes[0]}..{sizes[-1]}), consistent, "
        f"signed by {keys.verifier_key(name, public)}"
        if sizes
        else "checkpoints: none (the log is empty)"
    )
    if outcome.recorded:
        print(f"recorded leaf hashes: match the signed checkpoints ({outcome.recorded} entries)")
    if sizes and sizes[-1] < outcome.entries:
        print(f"entries {sizes[-1]}..{outcome.entries - 1} are not yet in a checkpoint")
    return 0


async def _checkpoint(args: argparse.Namespace) -> int:
    settings = config.load(DisclosureSettings)
    conn = await _connect()
    try:
        with _settings_problems():
            cp = await checkpoint.write_checkpoint(conn, settings)
    finally:
        await conn.close()
    print(cp.note, end="")
    print(f"written to {cp.path}", file=sys.stderr)
    return 0


async def _prove(args: argparse.Namespace) -> int:
    settings = config.load(DisclosureSettings)
    with _settings_problems():
        directory = checkpoint.directory_of(settings)
        public = _public(args.public_key, settings)
    origin = settings.checkpoint_origin
    conn = await _connect()
    try:
        latest = checkpoint.latest(directory, public, origin=origin)
        if latest is not None and args.index < latest.size:
            made = await receipt.prove(conn, latest, args.index, public)
        elif settings.operator_key is not None:
            with _settings_problems():
                made = await receipt.receipt(conn, settings, args.index)
        else:
            size = latest.size if latest else 0
            print(
                f"ruaj: entry {args.index} is not covered by the latest checkpoint (size {size}); "
                "run `ruaj audit checkpoint` first",
                file=sys.stderr,
            )
            return 1
    except errors.VerificationError as exc:
        print(f"ruaj: {exc}", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    if args.out is not None:
        args.out.write_text(made.to_json(), encoding="utf-8")
        print(f"receipt for entry {args.index} written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(made.to_json())
    return 0


def _verify_proof(args: argparse.Namespace) -> int:
    with _settings_problems():
        public = keys.load_public_key(args.public_key)
    try:
        text = sys.stdin.read() if str(args.receipt) == "-" else args.receipt.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise config.UsageError(f"cannot read receipt {args.receipt}: {exc}") from exc
    try:
        made = receipt.Receipt.from_json(text)
        cp = receipt.verify_receipt(made, public)
    except errors.VerificationError as exc:
        print(f"ruaj: receipt does NOT verify: {exc}", file=sys.stderr)
        return 1
    print(
        f"receipt verified: entry {made.index} is in audit log {cp.origin} of {cp.size} entries, "
        f"checkpoint signed by {keys.verifier_key(cp.origin, public)}"
    )
    print(f"entry: {made.entry.decode('utf-8')}")
    return 0


def _public_key(args: argparse.Namespace) -> int:
    settings = config.load(DisclosureSettings)
    with _settings_problems():
        public = keys.load_operator_key(settings).public_key()
    if args.verifier_key:
        print(keys.verifier_key(settings.checkpoint_origin, public))
    else:
        print(keys.public_key_pem(public), end="")
    return 0
