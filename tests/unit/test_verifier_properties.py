"""Properties of the verifier over random logs (no database): an intact log passes, and changing
any byte, swapping two entries or deleting one is caught at the right index."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure import checkpoint, keys, merkle, verifier
from store import audit

KEY = keys.PrivateKey.generate()
ORIGIN = "ruaj.example/log"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _row(index: int, details: dict[str, object]) -> audit.StoredRow:
    at = START + timedelta(seconds=index, microseconds=index * 7)
    entry = audit.canonical_json(
        {
            "actor": "officer_anna",
            "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "details": details,
            "index": index,
            "kind": "test.entry",
        }
    ).encode()
    return audit.StoredRow(
        index=index,
        at=at,
        actor="officer_anna",
        kind="test.entry",
        details_json=audit.canonical_json(details),
        entry=entry,
        leaf_hash=merkle.leaf_hash(entry),
    )


def _log(size: int) -> list[audit.StoredRow]:
    return [_row(i, {"n": i, "who": f"digest-{i:04d}", "ok": i % 2 == 0}) for i in range(size)]


def _checkpoints(rows: list[audit.StoredRow], sizes: list[int]) -> list[checkpoint.Checkpoint]:
    tree = merkle.Tree(b"".join(row.leaf_hash for row in rows))
    return [checkpoint.sign(ORIGIN, size, tree.root(size), KEY) for size in sorted(set(sizes))]


def _check(
    rows: list[audit.StoredRow], cps: list[checkpoint.Checkpoint], recorded: bytes = b""
) -> verifier.Problem | None:
    checker = verifier.LogChecker(cps, recorded)
    for start in range(0, len(rows), 7):  # in batches, as from the database
        if not checker.feed(rows[start : start + 7]):
            break
    return checker.finish()


@st.composite
def signed_logs(draw: st.DrawFn) -> tuple[list[audit.StoredRow], list[checkpoint.Checkpoint]]:
    """A log of 2..40 entries with checkpoints at random sizes, the last covering all."""
    size = draw(st.integers(min_value=2, max_value=40))
    sizes = draw(st.lists(st.integers(min_value=1, max_value=size), max_size=4))
    rows = _log(size)
    return rows, _checkpoints(rows, [*sizes, size])


@settings(max_examples=50, deadline=None)
@given(signed_logs())
def test_an_intact_log_passes(
    log: tuple[list[audit.StoredRow], list[checkpoint.Checkpoint]],
) -> None:
    rows, cps = log
    recorded = b"".join(row.leaf_hash for row in rows)
    assert _check(rows, cps) is None
    assert _check(rows, cps, recorded) is None


@settings(max_examples=150, deadline=None)
@given(signed_logs(), st.data())
def test_any_changed_byte_is_caught_at_its_entry(
    log: tuple[list[audit.StoredRow], list[checkpoint.Checkpoint]], data: st.DataObject
) -> None:
    rows, cps = log
    index = data.draw(st.integers(0, len(rows) - 1))
    row = rows[index]
    position = data.draw(st.integers(0, len(row.entry) - 1))
    flip = data.draw(st.integers(1, 255))
    entry = bytearray(row.entry)
    entry[position] ^= flip
    # The bytes alone, and the bytes with a matching leaf hash (an intruder who rehashes).
    for leaf in (row.leaf_hash, merkle.leaf_hash(bytes(entry))):
        tampered = list(rows)
        tampered[index] = dataclasses.replace(row, entry=bytes(entry), leaf_hash=leaf)
        problem = _check(tampered, cps)
        assert problem is not None and problem.index == index and problem.exact


@settings(max_examples=100, deadline=None)
@given(signed_logs(), st.data())
def test_a_thorough_rewrite_is_caught(
    log: tuple[list[audit.StoredRow], list[checkpoint.Checkpoint]], data: st.DataObject
) -> None:
    rows, cps = log
    index = data.draw(st.integers(0, len(rows) - 1))
    tampered = list(rows)
    tampered[index] = _row(index, {"n": index, "who": "someone else", "ok": True})
    recorded = b"".join(row.leaf_hash for row in rows)
    problem = _check(tampered, cps, recorded)
    assert problem is not None and (problem.index, problem.exact) == (index, True)
    # Without the recorded leaves: between the last checkpoint before it and the next one.
    problem = _check(tampered, cps)
    below = max([cp.size for cp in cps if cp.size <= index], default=0)
    assert problem is not None and (problem.index, problem.exact) == (below, False)


@settings(max_examples=100, deadline=None)
@given(signed_logs(), st.data())
def test_swapped_entries_are_caught_at_the_first(
    log: tuple[list[audit.StoredRow], list[checkpoint.Checkpoint]], data: st.DataObject
) -> None:
    rows, cps = log
    first = data.draw(st.integers(0, len(rows) - 2))
    second = data.draw(st.integers(first + 1, len(rows) - 1))
    swapped = list(rows)
    # Row positions swap; each keeps its bytes (the stored idx is what moved).
    swapped[first] = dataclasses.replace(rows[second], index=first)
    swapped[second] = dataclasses.replace(rows[first], index=second)
    problem = _check(swapped, cps)
    assert problem is not None and problem.index == first
    assert problem.what == f"its entry bytes say index {second}: entries were moved or swapped"


@settings(max_examples=100, deadline=None)
@given(signed_logs(), st.data())
def test_a_deleted_entry_is_caught_at_its_index(
    log: tuple[list[audit.StoredRow], list[checkpoint.Checkpoint]], data: st.DataObject
) -> None:
    rows, cps = log
    index = data.draw(st.integers(0, len(rows) - 1))
    problem = _check(rows[:index] + rows[index + 1 :], cps)
    assert problem is not None and problem.index == index
    assert problem.what.startswith("missing")
    # Deleted, and the entries after it renumbered and rehashed to close the gap: the
    # recorded leaf hashes name the index where the log starts to differ.
    renumbered = rows[:index] + [
        _row(i, {"n": i + 1, "who": f"digest-{i + 1:04d}", "ok": (i + 1) % 2 == 0})
        for i in range(index, len(rows) - 1)
    ]
    recorded = b"".join(row.leaf_hash for row in rows)
    problem = _check(renumbered, cps, recorded)
    assert problem is not None and problem.index == index


def test_same_json_tells_types_apart() -> None:
    assert verifier.same_json({"a": [1, "x", None]}, {"a": [1, "x", None]})
    assert not verifier.same_json({"a": 1}, {"a": True})
    assert not verifier.same_json({"a": "1"}, {"a": 1})
    assert not verifier.same_json([1, 2], [1, 2, 3])
    assert not verifier.same_json({"a": 1}, {"b": 1})


def test_numbers_written_otherwise_compare_by_value() -> None:
    # An entry appended in SQL with a decimal written "1.50": the database's details column
    # says the same number; a different number in the column is caught.
    row = _row(0, {"rate": 1})
    entry = row.entry.replace(b'"rate":1', b'"rate":1.50')
    same = dataclasses.replace(
        row, entry=entry, leaf_hash=merkle.leaf_hash(entry), details_json='{"rate": 1.50}'
    )
    assert verifier.row_problem(0, same) is None
    other = dataclasses.replace(same, details_json='{"rate": 1.51}')
    assert verifier.row_problem(0, other) == "its details column differs from its entry bytes"


def test_an_emptied_log_is_named() -> None:
    rows = _log(3)
    problem = _check([], _checkpoints(rows, [3]))
    assert problem is not None and problem.index == 0
    assert problem.what == (
        "missing: checkpoint 3 was signed over 3 entries but the log is empty "
        "(entries 0..2 were removed)"
    )
