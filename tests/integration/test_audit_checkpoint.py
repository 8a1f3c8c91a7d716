"""Signed checkpoints and receipts against a real database: what is signed is the committed
log, a checkpoint inconsistent with the previous one is never signed, receipts verify."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from disclosure import checkpoint, errors, keys, merkle, receipt
from store import audit, db
from tests.audit_support import (
    append_entries,
    make_settings,
    public_key,
    rewrite_entry,
    triggers_disabled,
)

pytestmark = pytest.mark.integration


async def _tree(conn: db.Connection) -> merkle.Tree:
    rows = await audit.entries(conn, 0, await audit.next_index(conn))
    return merkle.Tree.from_entries(row.entry for row in rows)


async def test_checkpoint_signs_the_root_of_the_committed_log(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 5)
    cp = await checkpoint.write_checkpoint(conn, settings)
    assert (cp.size, cp.root) == (5, (await _tree(conn)).root())
    directory = tmp_path / "checkpoints"
    text = (directory / "checkpoint-5.txt").read_text()
    assert text == (directory / "latest").read_text() == cp.note
    origin = settings.checkpoint_origin
    body, signature_line = text.split("\n\n")
    assert body + "\n" == f"{origin}\n5\n{base64.b64encode(cp.root).decode()}\n"
    assert signature_line.startswith(f"\u2014 {origin} ")
    assert checkpoint.parse(text, public_key(settings), origin=origin).root == cp.root
    assert (directory / checkpoint.LEAVES).read_bytes() == (await _tree(conn)).leaf_hashes()

    # Nothing new: the same checkpoint, no new file.
    again = await checkpoint.write_checkpoint(conn, settings)
    assert again.size == 5 and again.note == cp.note
    await append_entries(conn, 3)
    newer = await checkpoint.write_checkpoint(conn, settings)
    assert newer.size == 8
    assert sorted(p.name for p in directory.glob("checkpoint-*")) == [
        "checkpoint-5.txt",
        "checkpoint-8.txt",
    ]
    assert (directory / "latest").read_text() == newer.note
    assert (directory / checkpoint.LEAVES).read_bytes() == (await _tree(conn)).leaf_hashes()


async def test_uncommitted_entries_are_never_signed(conn: db.Connection, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 2)
    async with conn.transaction():
        await audit.append(conn, "test.pending", {})
        with pytest.raises(RuntimeError, match="outside any transaction"):
            await checkpoint.write_checkpoint(conn, settings)
    assert not list((tmp_path / "checkpoints").glob("checkpoint-*"))


async def test_a_log_changed_under_a_checkpoint_is_refused(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 6)
    await checkpoint.write_checkpoint(conn, settings)
    async with triggers_disabled(conn):
        await rewrite_entry(conn, 2, '{"n":2,"note":"forged"}')
    await append_entries(conn, 1)
    with pytest.raises(errors.CheckpointRefused, match="first 6 entries no longer hash"):
        await checkpoint.write_checkpoint(conn, settings)
    assert [p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*")] == ["checkpoint-6.txt"]


async def test_an_older_state_with_new_entries_is_refused(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 10)
    await checkpoint.write_checkpoint(conn, settings)
    # Restore an older state: entries after index 5 gone, the head reset; then carry on.
    async with triggers_disabled(conn):
        await conn.execute("DELETE FROM ruaj.audit_log WHERE idx > 5")
        await conn.execute("UPDATE ruaj.audit_head SET next_idx = 6")
    with pytest.raises(errors.CheckpointRefused, match=r"entries 6\.\.9 have been removed"):
        await checkpoint.write_checkpoint(conn, settings)
    await append_entries(conn, 7, kind="test.after_restore")
    with pytest.raises(errors.CheckpointRefused, match="restored from an older state"):
        await checkpoint.write_checkpoint(conn, settings)


async def test_a_changed_leaf_hash_after_the_checkpoint_is_refused(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 3)
    await checkpoint.write_checkpoint(conn, settings)
    await append_entries(conn, 3)
    async with triggers_disabled(conn):
        await conn.execute("UPDATE ruaj.audit_log SET entry = entry || ' '::bytea WHERE idx = 4")
    with pytest.raises(errors.CheckpointRefused, match="audit entry 4: its stored leaf hash"):
        await checkpoint.write_checkpoint(conn, settings)


async def test_a_forged_newest_checkpoint_blocks_signing(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 3)
    cp = await checkpoint.write_checkpoint(conn, settings)
    other = keys.PrivateKey.generate()
    forged = checkpoint.sign(cp.origin, 9, cp.root, other)
    (tmp_path / "checkpoints" / "checkpoint-9.txt").write_text(forged.note)
    await append_entries(conn, 1)
    with pytest.raises(errors.CheckpointError, match=r"checkpoint-9\.txt: not signed by"):
        await checkpoint.write_checkpoint(conn, settings)


async def test_maybe_checkpoint_follows_the_cadence(conn: db.Connection, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    async def maybe() -> checkpoint.Checkpoint | None:
        return await checkpoint.maybe_checkpoint(conn, settings, every_entries=3, every_minutes=10)

    assert await maybe() is None  # an empty log: nothing to sign
    await append_entries(conn, 1)
    first = await maybe()
    assert first is not None and first.size == 1  # no checkpoint yet: sign at once
    await append_entries(conn, 2)
    assert await maybe() is None  # 2 new < 3, and just signed
    await append_entries(conn, 1)
    second = await maybe()
    assert second is not None and second.size == 4
    await append_entries(conn, 1)
    assert await maybe() is None
    assert second.path is not None
    eleven_minutes_ago = time.time() - 11 * 60
    os.utime(second.path, (eleven_minutes_ago, eleven_minutes_ago))
    third = await maybe()
    assert third is not None and third.size == 5


async def test_maybe_checkpoint_reports_a_shrunken_log(conn: db.Connection, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 4)
    await checkpoint.write_checkpoint(conn, settings)
    async with triggers_disabled(conn):
        await conn.execute("DELETE FROM ruaj.audit_log WHERE idx >= 2")
    with pytest.raises(errors.CheckpointRefused, match="removed"):
        await checkpoint.maybe_checkpoint(conn, settings, every_entries=100, every_minutes=60)


async def test_missing_settings_are_named(conn: db.Connection, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(errors.NotConfigured, match="RUAJ_CHECKPOINT_DIR"):
        await checkpoint.write_checkpoint(
            conn, settings.model_copy(update={"checkpoint_dir": None})
        )
    with pytest.raises(errors.OperatorKeyError, match="RUAJ_OPERATOR_KEY is not set"):
        await checkpoint.write_checkpoint(conn, settings.model_copy(update={"operator_key": None}))


async def test_receipt_writes_a_checkpoint_and_verifies(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 4)
    await checkpoint.write_checkpoint(conn, settings)
    async with conn.transaction():
        index = await audit.append(conn, "disclosure.release", {"rows": 12})
    made = await receipt.receipt(conn, settings, index)
    assert (made.index, made.tree_size) == (4, 5)  # a fresh checkpoint was needed
    assert made.fields()["kind"] == "disclosure.release"
    public = public_key(settings)
    parsed = receipt.Receipt.from_json(made.to_json())
    assert parsed == made
    assert receipt.verify_receipt(parsed, public).size == 5
    # An older entry is proven against the newest checkpoint, which covers it.
    older = await receipt.receipt(conn, settings, 1)
    assert older.tree_size == 5
    receipt.verify_receipt(older, public)
    latest = checkpoint.latest(tmp_path / "checkpoints", public)
    assert latest is not None
    with pytest.raises(errors.ReceiptError, match="not covered"):
        await receipt.prove(conn, latest, 7, public)


async def test_receipt_refuses_when_the_database_no_longer_matches(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 4)
    await checkpoint.write_checkpoint(conn, settings)
    async with triggers_disabled(conn):
        await rewrite_entry(conn, 1, '{"n":1,"note":"forged"}')
    with pytest.raises(errors.ReceiptError, match="do not hash to the root of checkpoint 4"):
        await receipt.receipt(conn, settings, 1)
