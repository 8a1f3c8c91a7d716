"""Signed checkpoints of the audit log, written outside the database (`RUAJ_CHECKPOINT_DIR`).

A checkpoint is a C2SP tlog-checkpoint: the note text is the origin line (`RUAJ_CHECKPOINT_ORIGIN`),
the tree size and the base64 root hash, each ending in a newline; it is a C2SP signed note
signed by the operator's Ed25519 key under the origin as key name. No extension lines.

Files: `checkpoint-<size>.txt`, one per signed size, never rewritten, and `latest`, a copy of
the newest. Beside them, `leaf-hashes.bin` holds the 32-byte leaf hashes of the entries the
newest checkpoint covers, in index order: it is not signed, but a verifier that finds it hashing
to a signed root can then name the exact entry that was changed, even when an intruder rewrote
an entry together with its columns and leaf hash. Writing takes an exclusive lock on
`<dir>/.lock`, so concurrent writers (the `ruaj maintain` service, officers' receipts) queue.

A checkpoint is never signed unless the log now extends the newest checkpoint in the
directory: same entries up to its size (its root, recomputed from the database, matches) and
a consistency proof from it to the new tree that verifies. Otherwise `CheckpointRefused`.
The time of a checkpoint is its file's modification time (not signed: C2SP discourages
extension lines).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from disclosure import errors, keys, merkle, note
from disclosure.settings import DisclosureSettings
from store import audit, db, maintenance

logger = logging.getLogger(__name__)

LATEST = "latest"
LEAVES = "leaf-hashes.bin"
_FILE = re.compile(r"^checkpoint-(0|[1-9][0-9]*)\.txt$")
_SIZE = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A signed checkpoint: the log `origin` had `size` entries with Merkle `root`."""

    origin: str
    size: int
    root: bytes
    # The whole signed note: body, blank line, signature line(s).
    note: str
    # The file it was read from or written to, and that file's modification time.
    path: Path | None = None
    written_at: datetime | None = None

    @property
    def body(self) -> str:
        """The signed text: origin, size and base64 root, each ending in a newline."""
        return body(self.origin, self.size, self.root)


def body(origin: str, size: int, root: bytes) -> str:
    """The note text of a checkpoint."""
    keys.check_key_name(origin)
    if len(root) != merkle.HASH_SIZE:
        raise ValueError("a root hash is 32 bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def parse(text: str, public_key: keys.PublicKey, *, origin: str | None = None) -> Checkpoint:
    """A checkpoint from its signed note, once the operator's signature on it verifies.

    The key name must be the checkpoint's origin line; with `origin`, that line must be it.
    Raises `CheckpointError` saying what is wrong.
    """
    try:
        lines = note.split(text)[0].split("\n")
        claimed = lines[0]
        name = keys.check_key_name(claimed)
        signed = note.open_note(text, name, public_key)
    except (errors.BadSignature, ValueError) as exc:
        raise errors.CheckpointError(str(exc)) from exc
    lines = signed.split("\n")[:-1]
    if len(lines) < 3 or any(not line for line in lines):
        raise errors.CheckpointError("a checkpoint has origin, size and root lines, none empty")
    if origin is not None and lines[0] != origin:
        raise errors.CheckpointError(f"the checkpoint is for log {lines[0]!r}, not {origin!r}")
    if not _SIZE.match(lines[1]):
        raise errors.CheckpointError(f"tree size {lines[1][:40]!r} is not a decimal number")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error as exc:
        raise errors.CheckpointError("the root hash is not base64") from exc
    if len(root) != merkle.HASH_SIZE or base64.b64encode(root).decode() != lines[2]:
        raise errors.CheckpointError("the root hash is not the base64 of 32 bytes")
    return Checkpoint(origin=lines[0], size=int(lines[1]), root=root, note=text)


def sign(origin: str, size: int, root: bytes, key: keys.PrivateKey) -> Checkpoint:
    """A new checkpoint signed by `key` under the key name `origin`."""
    text = note.sign(body(origin, size, root), origin, key)
    return Checkpoint(origin=origin, size=size, root=root, note=text)


def read(path: Path, public_key: keys.PublicKey, *, origin: str | None = None) -> Checkpoint:
    """The checkpoint in file `path`, verified; `CheckpointError` naming the file if not."""
    try:
        raw = path.read_bytes()
        stat = path.stat()
    except OSError as exc:
        raise errors.CheckpointError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        cp = parse(raw.decode("utf-8"), public_key, origin=origin)
    except UnicodeDecodeError as exc:
        raise errors.CheckpointError(f"{path.name}: not UTF-8 text") from exc
    except errors.CheckpointError as exc:
        raise errors.CheckpointError(f"{path.name}: {exc}") from exc
    written = datetime.fromtimestamp(stat.st_mtime, UTC)
    named = _FILE.match(path.name)
    if named is not None and int(named[1]) != cp.size:
        raise errors.CheckpointError(f"{path.name} holds the checkpoint of size {cp.size}")
    return Checkpoint(
        origin=cp.origin, size=cp.size, root=cp.root, note=cp.note, path=path, written_at=written
    )


def files(directory: Path) -> list[tuple[int, Path]]:
    """(size, path) of every `checkpoint-<size>.txt` in `directory`, by size."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if match:
            found.append((int(match[1]), path))
    found.sort()
    return found


def latest(
    directory: Path, public_key: keys.PublicKey, *, origin: str | None = None
) -> Checkpoint | None:
    """The checkpoint of the greatest size in `directory` (verified), or None if there is none.

    It is the largest `checkpoint-<size>.txt`, whatever `latest` says: deleting the newest
    files does not make an older state acceptable to a writer that still has them.
    """
    found = files(directory)
    if not found:
        return None
    return read(found[-1][1], public_key, origin=origin)


def _write_atomically(path: Path, data: bytes, *, replace: bool) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    if replace:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # fails if `path` exists: a checkpoint file is never rewritten
        finally:
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def store(directory: Path, cp: Checkpoint) -> Checkpoint:
    """Write `checkpoint-<size>.txt` (never replacing one) and `latest`; returns it with path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{cp.size}.txt"
    data = cp.note.encode("utf-8")
    try:
        _write_atomically(path, data, replace=False)
    except FileExistsError as exc:
        raise errors.CheckpointError(
            f"{path} exists already and is not the newest valid checkpoint; "
            "run `ruaj audit verify` and move the file aside if it is not genuine"
        ) from exc
    _write_atomically(directory / LATEST, data, replace=True)
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return Checkpoint(
        origin=cp.origin, size=cp.size, root=cp.root, note=cp.note, path=path, written_at=written
    )


def store_leaves(directory: Path, tree: merkle.Tree, previous_size: int) -> None:
    """Make `leaf-hashes.bin` hold exactly the leaf hashes of `tree`.

    Appends the new ones when the file already holds the `previous_size` that the last
    checkpoint covers (a longer file is the tail of a write that crashed: cut); rewrites the
    whole file when it holds fewer.
    """
    path = directory / LEAVES
    keep = previous_size * merkle.HASH_SIZE
    try:
        present = path.stat().st_size
    except FileNotFoundError:
        present = 0
    if present < keep or keep == 0:
        _write_atomically(path, tree.leaf_hashes(), replace=True)
        return
    with open(path, "r+b") as out:
        out.truncate(keep)
        out.seek(keep)
        out.write(tree.leaf_hashes(previous_size))
        out.flush()
        os.fsync(out.fileno())


@contextlib.asynccontextmanager
async def _locked(directory: Path) -> AsyncIterator[None]:
    os.makedirs(directory, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def directory_of(settings: DisclosureSettings) -> Path:
    """`RUAJ_CHECKPOINT_DIR`, or `NotConfigured` if it is not set."""
    if settings.checkpoint_dir is None:
        raise errors.NotConfigured(
            "RUAJ_CHECKPOINT_DIR is not set: it names the directory, outside the database, "
            "where signed audit checkpoints are kept"
        )
    return settings.checkpoint_dir


async def log_tree(conn: db.Connection, *, check_from: int = 0) -> merkle.Tree:
    """The Merkle tree of the whole log as committed now, from the stored leaf hashes.

    Refuses (`CheckpointRefused`) a log with a missing index, or whose stored leaf hash of an
    entry at or after `check_from` is not the hash of the entry's bytes (the entries before
    are checked against a signed root by the caller).
    """
    if conn.is_in_transaction():
        raise RuntimeError(
            "the audit tree is read outside any transaction: an uncommitted entry must "
            "never be signed into a checkpoint"
        )
    async with audit.snapshot(conn):
        size = await audit.next_index(conn)
        hashes = await audit.leaf_hashes(conn, 0, size)
        if len(hashes) != size * merkle.HASH_SIZE:
            gap = await audit.first_gap(conn, size)
            raise errors.CheckpointRefused(
                f"audit entry {gap} is missing (the log runs to index {size - 1})"
            )
        bad = await audit.first_bad_leaf_hash(conn, check_from, size)
    if bad is not None:
        raise errors.CheckpointRefused(
            f"audit entry {bad}: its stored leaf hash is not SHA-256(0x00 ‖ entry); "
            "the entry or its hash was changed"
        )
    return await asyncio.to_thread(merkle.Tree, hashes)


def check_extends(previous: Checkpoint, tree: merkle.Tree) -> None:
    """Refuse unless `tree` extends the signed `previous` checkpoint (RFC 9162 consistency)."""
    if tree.size < previous.size:
        raise errors.CheckpointRefused(
            f"the log holds {tree.size} entries but checkpoint {previous.size} was signed: "
            f"entries {tree.size}..{previous.size - 1} have been removed"
        )
    if tree.root(previous.size) != previous.root:
        raise errors.CheckpointRefused(
            f"the first {previous.size} entries no longer hash to the root signed in "
            f"checkpoint {previous.size}: the log was changed or restored from an older state "
            "(`ruaj audit verify` names the first entry that differs)"
        )
    proof = tree.consistency_proof(previous.size) if previous.size else []
    if previous.size:
        try:
            merkle.verify_consistency(previous.size, tree.size, previous.root, tree.root(), proof)
        except errors.ProofError as exc:
            raise errors.CheckpointRefused(
                f"no consistency from checkpoint {previous.size} to {tree.size}: {exc}"
            ) from exc


async def write_checkpoint(conn: db.Connection, settings: DisclosureSettings) -> Checkpoint:
    """Sign and write a checkpoint of the log as committed now; returns it.

    Returns the newest checkpoint unchanged when no entry was appended since. Call it outside
    a transaction. Raises `CheckpointRefused` when the log does not extend the newest
    checkpoint, `OperatorKeyError` / `NotConfigured` when the key or directory is not set.
    """
    key = keys.load_operator_key(settings)
    public = key.public_key()
    directory = directory_of(settings)
    origin = settings.checkpoint_origin
    async with _locked(directory):
        previous = latest(directory, public, origin=origin)
        check_from = previous.size if previous else 0
        tree = await log_tree(conn, check_from=check_from)
        if previous is not None:
            check_extends(previous, tree)
            if tree.size == previous.size:
                return previous
        signed = sign(origin, tree.size, tree.root(), key)
        await asyncio.to_thread(store_leaves, directory, tree, check_from)
        cp = store(directory, signed)
    logger.info(
        "audit checkpoint signed",
        extra={"tree_size": cp.size, "previous_size": previous.size if previous else None},
    )
    return cp


async def checkpoint_due(
    conn: db.Connection, settings: DisclosureSettings, *, every_entries: int, every_minutes: int
) -> bool:
    """Whether a checkpoint is due: `every_entries` new entries, or `every_minutes` since the
    last one with at least one new entry (or no checkpoint yet and a non-empty log)."""
    key = keys.load_operator_key(settings)
    directory = directory_of(settings)
    previous = latest(directory, key.public_key(), origin=settings.checkpoint_origin)
    size = await audit.next_index(conn)
    new = size - (previous.size if previous else 0)
    if new == 0:
        return False
    # Fewer entries than the last checkpoint: write_checkpoint refuses, saying so.
    due = previous is None or new < 0 or new >= every_entries
    if not due and previous is not None and previous.written_at is not None:
        due = datetime.now(UTC) - previous.written_at >= timedelta(minutes=every_minutes)
    return due


async def maybe_checkpoint(
    conn: db.Connection, settings: DisclosureSettings, *, every_entries: int, every_minutes: int
) -> Checkpoint | None:
    """Write a checkpoint when due (see `checkpoint_due`).

    Returns the new checkpoint, or None when none was due. For `ruaj maintain`'s passes.
    """
    if not await checkpoint_due(
        conn, settings, every_entries=every_entries, every_minutes=every_minutes
    ):
        return None
    return await write_checkpoint(conn, settings)


def maintenance_step(settings: DisclosureSettings) -> maintenance.Step:
    """The `checkpoint` step of `ruaj maintain`: sign a checkpoint every
    `RUAJ_CHECKPOINT_EVERY_ENTRIES` entries or `RUAJ_CHECKPOINT_EVERY_MINUTES` minutes, and
    export `ruaj_audit_last_checkpoint_timestamp_seconds` and
    `ruaj_audit_last_checkpoint_entries` (the newest checkpoint's tree size).

    Skipped (and said so) when the operator key or the checkpoint directory is not configured.
    """

    async def step(ctx: maintenance.Context) -> None:
        if settings.operator_key is None or settings.checkpoint_dir is None:
            ctx.report("checkpoint: skipped (RUAJ_OPERATOR_KEY or RUAJ_CHECKPOINT_DIR not set)")
            return
        every = {
            "every_entries": settings.checkpoint_every_entries,
            "every_minutes": settings.checkpoint_every_minutes,
        }
        async with ctx.connection() as conn:
            if ctx.dry_run:
                if await checkpoint_due(conn, settings, **every):
                    ctx.report("would sign an audit checkpoint")
            else:
                made = await maybe_checkpoint(conn, settings, **every)
                if made is not None:
                    ctx.report(f"signed audit checkpoint of size {made.size}")
        public = keys.load_operator_key(settings).public_key()
        newest = latest(settings.checkpoint_dir, public, origin=settings.checkpoint_origin)
        if newest is not None:
            maintenance.LAST_CHECKPOINT_ENTRIES.set(newest.size)
            if newest.written_at is not None:
                maintenance.LAST_CHECKPOINT.set(newest.written_at.timestamp())

    return step
