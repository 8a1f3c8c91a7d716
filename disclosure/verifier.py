"""`ruaj audit verify`: recompute the audit log from its stored bytes and hold it against the
signed checkpoints outside the database.

What is checked, in index order, stopping at the first thing that does not hold:
1. every checkpoint file in the directory verifies with the operator's public key (a
   checkpoint signed only by other keys, or by nobody, is rejected), is for this log's origin,
   and no two checkpoints give different roots for one size;
2. each entry, from index 0: its row exists (no gap), SHA-256(0x00 ‖ entry) equals its
   `leaf_hash` column, its bytes are the JSON object {actor, at, details, index, kind} and agree
   with the row's columns (a row edited in its columns but not its bytes, or the reverse, is
   caught here), and the index written in it is its position;
3. at each checkpoint's size, the Merkle root of the entries so far equals the signed root;
4. a checkpoint larger than the log means entries were removed;
5. consecutive checkpoints are consistent: an RFC 9162 consistency proof between them,
   computed from the recomputed tree, verifies against both signed roots.

An entry rewritten together with its columns and leaf hash is caught by step 3. To name it
exactly, the verifier uses `leaf-hashes.bin` from the checkpoint directory (written beside the
checkpoints) once it hashes to a signed root: the first entry whose leaf differs from the
recorded one is the answer. Without that file (or if it does not match), the report names the
range between the last checkpoint that still matches and the first that does not.

It reads the log only (SELECT on ruaj.audit_log): a login in `ruaj_auditor` can run it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from disclosure import checkpoint, errors, keys, merkle
from store import audit, db

_ENTRY_FIELDS = frozenset({"actor", "at", "details", "index", "kind"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """The first thing that does not hold: at entry `index` (None: about the files only)."""

    index: int | None
    what: str
    # False when only a range is known: the first difference is at `index` or after it.
    exact: bool = True

    def __str__(self) -> str:
        if self.index is None:
            return self.what
        return f"{'entry' if self.exact else 'at or after entry'} {self.index}: {self.what}"


@dataclass(slots=True, kw_only=True)
class Outcome:
    """What `verify` found: entries read, the verified checkpoints, and the first problem."""

    entries: int = 0
    checkpoints: list[checkpoint.Checkpoint] = field(default_factory=list)
    problem: Problem | None = None
    # How many entries the recorded leaf hashes (leaf-hashes.bin) vouched for, and remarks
    # that are not failures (an unusable leaf-hashes.bin).
    recorded: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything held."""
        return self.problem is None


def load_checkpoints(
    directory: Path, public_key: keys.PublicKey, *, origin: str
) -> tuple[list[checkpoint.Checkpoint], Problem | None]:
    """Every checkpoint in `directory`, verified and sorted by size; or the first bad one."""
    paths = [path for _, path in checkpoint.files(directory)]
    if (directory / checkpoint.LATEST).exists():
        paths.append(directory / checkpoint.LATEST)
    found: dict[int, checkpoint.Checkpoint] = {}
    for path in paths:
        try:
            cp = checkpoint.read(path, public_key, origin=origin)
        except errors.CheckpointError as exc:
            return [], Problem(index=None, what=f"checkpoint rejected: {exc}")
        other = found.setdefault(cp.size, cp)
        if other.root != cp.root:
            return [], Problem(
                index=None,
                what=f"{path.name} and {other.path.name if other.path else '?'} are both signed "
                f"for tree size {cp.size} with different roots: the log was forked",
            )
    return [found[size] for size in sorted(found)], None


def load_recorded(
    directory: Path, checkpoints: Sequence[checkpoint.Checkpoint]
) -> tuple[bytes, str | None]:
    """The recorded leaf hashes (`leaf-hashes.bin`) up to the largest checkpoint they hash to.

    Returns (hashes, None), or (b"", why) when the file is missing, covers no checkpoint, or
    does not hash to the signed root (then it is not used: it is not signed itself).
    """
    path = directory / checkpoint.LEAVES
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", None
    except OSError as exc:
        return b"", f"cannot read {checkpoint.LEAVES}: {exc.strerror}"
    count = len(data) // merkle.HASH_SIZE
    covered = [cp for cp in checkpoints if 0 < cp.size <= count]
    if not covered:
        return b"", None
    top = covered[-1]
    hashes = data[: top.size * merkle.HASH_SIZE]
    if merkle.Tree(hashes).root() != top.root:
        return b"", (
            f"{checkpoint.LEAVES} does not hash to the root of checkpoint {top.size}: not used "
            "(entries rewritten with their hashes are then located between checkpoints)"
        )
    return hashes, None


def _number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def same_json(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are equal, types included (1 is not true, "1" is not 1)."""
    if _number(a) and _number(b):
        return bool(Decimal(a) == Decimal(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


_DECODER = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_no_duplicates)
# store.audit.canonical_json's encoding (JCS for these entries), without its float check: a
# float anywhere makes the bytes differ, and the fields are then compared one by one.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parse(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _DECODER.decode(text)


def _timestamp(at: datetime) -> str:
    """`at` as the entry writes it: UTC, microseconds, `Z` (like store/migrations/0002)."""
    if at.utcoffset() != timedelta(0):
        at = at.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 (several times faster)
        at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond,
    )  # fmt: skip


def _canonical_entry(position: int, row: audit.StoredRow) -> bytes | None:
    """The entry bytes the row's columns give, as `ruaj.audit_append` writes them."""
    try:
        details = json.loads(row.details_json)
        text = _ENCODER.encode(
            {
                "actor": row.actor,
                "at": _timestamp(row.at),
                "details": details,
                "index": position,
                "kind": row.kind,
            }
        )
    except ValueError:
        return None  # not JSON: compared field by field, which says so
    return text.encode("utf-8")


def row_problem(position: int, row: audit.StoredRow) -> str | None:
    """What is wrong with the row at `position`, or None: gap, leaf hash, bytes vs columns."""
    if row.index != position:
        return f"missing (the next stored entry is {row.index})"
    if merkle.leaf_hash(row.entry) != row.leaf_hash:
        return "its leaf_hash column is not SHA-256(0x00 ‖ entry): its bytes or hash were changed"
    if _canonical_entry(position, row) == row.entry:
        return None  # the common case: the columns give exactly the stored bytes
    return _field_problem(position, row)


def _field_problem(position: int, row: audit.StoredRow) -> str | None:
    """Which of the entry's fields disagrees with the row's columns (None: all agree)."""
    try:
        fields = _parse(row.entry)
    except (ValueError, UnicodeDecodeError):
        return "its entry bytes are not a JSON object"
    if not isinstance(fields, dict) or fields.keys() != _ENTRY_FIELDS:
        return "its entry bytes are not an audit entry {actor, at, details, index, kind}"
    if not same_json(fields["index"], position):
        return f"its entry bytes say index {fields['index']}: entries were moved or swapped"
    if fields["kind"] != row.kind:
        return f"its kind column ({row.kind!r}) differs from its entry bytes ({fields['kind']!r})"
    if fields["actor"] != row.actor:
        return "its actor column differs from its entry bytes"
    at = _timestamp(row.at)
    if fields["at"] != at:
        return f"its at column ({at}) differs from its entry bytes ({fields['at']})"
    if not same_json(fields["details"], _parse(row.details_json)):
        return "its details column differs from its entry bytes"
    return None


class LogChecker:
    """Checks rows fed in index order against signed checkpoints (no I/O: testable alone)."""

    def __init__(self, checkpoints: Sequence[checkpoint.Checkpoint], recorded: bytes = b"") -> None:
        """`recorded`: leaf hashes known to be the signed ones (see `load_recorded`)."""
        self._checkpoints = list(checkpoints)
        self._recorded = recorded
        self._recorded_count = len(recorded) // merkle.HASH_SIZE
        self._next = 0  # index into _checkpoints of the next size to reach
        self._accumulator = merkle.Accumulator()
        self._leaves = bytearray()
        self._matched = 0  # the largest checkpoint size whose root matched
        self.problem: Problem | None = None
        self._reach_size()

    @property
    def entries(self) -> int:
        """Rows checked so far."""
        return self._accumulator.size

    def _reach_size(self) -> None:
        cps = self._checkpoints
        size = self._accumulator.size
        while self.problem is None and self._next < len(cps) and cps[self._next].size == size:
            cp = cps[self._next]
            if self._accumulator.root() != cp.root:
                first = self._matched
                if first:
                    detail = (
                        f"the first {first} still match checkpoint {first}, so an entry among "
                        f"{first}..{size - 1}"
                    )
                else:
                    detail = f"an entry among 0..{size - 1}"
                self.problem = Problem(
                    index=first,
                    exact=False,
                    what=f"the first {size} entries do not hash to the root signed in "
                    f"checkpoint {size}; {detail} was rewritten (bytes, columns and leaf hash "
                    "together), inserted or removed",
                )
                return
            self._matched = size
            self._next += 1

    def feed(self, rows: Iterable[audit.StoredRow]) -> bool:
        """Check more rows; False once a problem is found (then stop feeding)."""
        if self.problem is not None:
            return False
        for row in rows:
            position = self._accumulator.size
            what = row_problem(position, row)
            if what is None and position < self._recorded_count:
                what = self._recorded_problem(position, row.leaf_hash)
            if what is not None:
                self.problem = Problem(index=position, what=what)
                return False
            self._accumulator.append(row.leaf_hash)
            self._leaves += row.leaf_hash
            self._reach_size()
            if self.problem is not None:
                return False
        return True

    def _recorded_problem(self, position: int, leaf: bytes) -> str | None:
        start = position * merkle.HASH_SIZE
        if self._recorded[start : start + merkle.HASH_SIZE] == leaf:
            return None
        covering = self._checkpoints[self._next].size
        return (
            f"not the entry that checkpoint {covering} was signed over (its leaf hash differs "
            f"from the one recorded then): it was rewritten together with its columns and "
            "leaf hash, or entries were removed and others appended"
        )

    def finish(self) -> Problem | None:
        """After the last row: checkpoints beyond the log, and consistency between checkpoints."""
        if self.problem is not None:
            return self.problem
        size = self._accumulator.size
        if self._next < len(self._checkpoints):
            beyond = self._checkpoints[self._next].size
            ends = f"ends at entry {size - 1}" if size else "is empty"
            self.problem = Problem(
                index=size,
                what=f"missing: checkpoint {beyond} was signed over {beyond} entries but the "
                f"log {ends} (entries {size}..{beyond - 1} were removed)",
            )
            return self.problem
        self.problem = self._consistency()
        return self.problem

    def _consistency(self) -> Problem | None:
        tree = merkle.Tree(bytes(self._leaves))
        self._leaves = bytearray()  # the tree holds them now
        for older, newer in zip(self._checkpoints, self._checkpoints[1:], strict=False):
            if older.size == 0:
                continue
            proof = tree.consistency_proof(older.size, newer.size)
            try:
                merkle.verify_consistency(older.size, newer.size, older.root, newer.root, proof)
            except errors.ProofError as exc:
                return Problem(
                    index=older.size,
                    what=f"checkpoints {older.size} and {newer.size} are not consistent: {exc}",
                )
        return None


async def verify(
    conn: db.Connection,
    directory: Path,
    public_key: keys.PublicKey,
    *,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 10_000,
) -> Outcome:
    """Verify the whole log in the database against the checkpoints in `directory`.

    `progress(done, total)` is called after every batch of rows. Needs SELECT on
    ruaj.audit_log only. Returns the outcome; `Outcome.problem` names the first entry that
    differs, and what.
    """
    outcome = Outcome()
    cps, problem = load_checkpoints(directory, public_key, origin=origin)
    outcome.checkpoints = cps
    if problem is not None:
        outcome.problem = problem
        return outcome
    recorded, note = load_recorded(directory, cps)
    outcome.recorded = len(recorded) // merkle.HASH_SIZE
    if note is not None:
        outcome.notes.append(note)
    checker = LogChecker(cps, recorded)
    async with audit.snapshot(conn):
        total = (await audit.extent(conn)).next_index
        async for batch in audit.scan(conn, batch_size=batch_size):
            going = checker.feed(batch)
            if progress is not None:
                progress(checker.entries, total)
            if not going:
                break
    outcome.entries = checker.entries
    outcome.problem = checker.finish()
    if outcome.problem is None and not cps and checker.entries:
        outcome.problem = Problem(
            index=None,
            what=f"no signed checkpoint in {directory}: the log's {checker.entries} entries are "
            "anchored nowhere outside the database (run `ruaj audit checkpoint`)",
        )
    return outcome
