"""`verify` against a real database: an intact log passes; every kind of tampering by a
superuser with the triggers off is named at its index; the log is append-only for every
application role; an auditor login can verify."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from disclosure import checkpoint, keys, verifier
from disclosure.settings import DisclosureSettings
from store import audit, db
from tests.audit_support import (
    append_entries,
    login_role,
    make_settings,
    public_key,
    rewrite_entry,
    triggers_disabled,
)

pytestmark = pytest.mark.integration


async def _verify(conn: db.Connection, settings: DisclosureSettings) -> verifier.Outcome:
    assert settings.checkpoint_dir is not None
    return await verifier.verify(
        conn,
        settings.checkpoint_dir,
        public_key(settings),
        origin=settings.checkpoint_origin,
        batch_size=4,  # several batches even for small logs
    )


async def _log_with_checkpoints(
    conn: db.Connection, tmp_path: Path, sizes: tuple[int, ...] = (4, 9, 12)
) -> DisclosureSettings:
    settings = make_settings(tmp_path)
    for size in sizes:
        await append_entries(conn, size - await audit.next_index(conn))
        await checkpoint.write_checkpoint(conn, settings)
    return settings


async def test_an_intact_log_verifies(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    await append_entries(conn, 2)  # not yet in a checkpoint: checked, not anchored
    progress: list[tuple[int, int]] = []
    outcome = await verifier.verify(
        conn,
        tmp_path / "checkpoints",
        public_key(settings),
        origin=settings.checkpoint_origin,
        progress=lambda done, total: progress.append((done, total)),
        batch_size=5,
    )
    assert outcome.problem is None
    assert outcome.entries == 14
    assert [cp.size for cp in outcome.checkpoints] == [4, 9, 12]
    assert outcome.recorded == 12
    assert progress == [(5, 14), (10, 14), (14, 14)]


async def test_a_changed_details_column_is_named(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await conn.execute(
            'UPDATE ruaj.audit_log SET details = \'{"n": 99, "note": "entry 6"}\' WHERE idx = 6'
        )
    problem = (await _verify(conn, settings)).problem
    assert problem is not None
    assert (problem.index, problem.exact) == (6, True)
    assert problem.what == "its details column differs from its entry bytes"


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("kind", "'test.forged'", "its kind column ('test.forged') differs"),
        ("actor", "'somebody_else'", "its actor column differs"),
        ("at", "at + interval '1 second'", "its at column"),
    ],
)
async def test_a_changed_column_is_named(
    conn: db.Connection, tmp_path: Path, column: str, value: str, what: str
) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await conn.execute(f"UPDATE ruaj.audit_log SET {column} = {value} WHERE idx = 10")
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index == 10
    assert problem.what.startswith(what)


async def test_changed_entry_bytes_are_named(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await conn.execute(
            "UPDATE ruaj.audit_log SET entry = overlay(entry placing 'X'::bytea from 30) "
            "WHERE idx = 3"
        )
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index == 3
    assert "leaf_hash column is not SHA-256" in problem.what


async def test_a_thorough_rewrite_is_named_by_the_recorded_leaves(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await rewrite_entry(conn, 7, '{"n":7,"note":"nothing happened"}')
    problem = (await _verify(conn, settings)).problem
    assert problem is not None
    assert (problem.index, problem.exact) == (7, True)
    assert problem.what.startswith("not the entry that checkpoint 9 was signed over")
    # Without the recorded leaf hashes, the checkpoints still locate it between 4 and 9.
    (tmp_path / "checkpoints" / checkpoint.LEAVES).unlink()
    problem = (await _verify(conn, settings)).problem
    assert problem is not None
    assert (problem.index, problem.exact) == (4, False)
    assert str(problem).startswith(
        "at or after entry 4: the first 9 entries do not hash to the root signed in checkpoint 9"
    )


async def test_forged_recorded_leaves_are_not_used(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    leaves = tmp_path / "checkpoints" / checkpoint.LEAVES
    leaves.write_bytes(b"\x00" * 32 + leaves.read_bytes()[32:])
    outcome = await _verify(conn, settings)
    assert outcome.problem is None
    assert outcome.recorded == 0
    assert outcome.notes == [
        f"{checkpoint.LEAVES} does not hash to the root of checkpoint 12: not used "
        "(entries rewritten with their hashes are then located between checkpoints)"
    ]


async def test_a_deleted_entry_is_named(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await conn.execute("DELETE FROM ruaj.audit_log WHERE idx = 5")
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index == 5
    assert problem.what == "missing (the next stored entry is 6)"


async def test_deleted_last_entries_are_named(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await conn.execute("DELETE FROM ruaj.audit_log WHERE idx >= 10")
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index == 10
    assert "checkpoint 12 was signed over 12 entries but the log ends at entry 9" in problem.what


async def test_swapped_entries_are_named(conn: db.Connection, tmp_path: Path) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        for old, new in ((2, 1000), (8, 2), (1000, 8)):
            await conn.execute("UPDATE ruaj.audit_log SET idx = $2 WHERE idx = $1", old, new)
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index == 2
    assert problem.what == "its entry bytes say index 8: entries were moved or swapped"


async def test_an_older_state_with_new_entries_fails_verification(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with triggers_disabled(conn):
        await conn.execute("DELETE FROM ruaj.audit_log WHERE idx > 5")
        await conn.execute("UPDATE ruaj.audit_head SET next_idx = 6")
    await append_entries(conn, 8, kind="test.after_restore")
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index == 6
    assert problem.what.startswith("not the entry that checkpoint 9 was signed over")


async def test_a_forked_or_foreign_checkpoint_is_rejected(
    conn: db.Connection, tmp_path: Path
) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path, sizes=(3, 6))
    directory = tmp_path / "checkpoints"
    # The operator key signing another root for size 3: a fork.
    key = make_settings(tmp_path).operator_key
    assert key is not None
    forked = checkpoint.sign(
        settings.checkpoint_origin,
        3,
        b"\x01" * 32,
        keys.load_private_key(key),
    )
    (directory / "latest").write_text(forked.note)
    problem = (await _verify(conn, settings)).problem
    assert problem is not None and problem.index is None
    assert "both signed for tree size 3 with different roots" in problem.what
    # A checkpoint signed by nobody the verifier knows is rejected.
    stranger = checkpoint.sign(
        settings.checkpoint_origin, 6, b"\x02" * 32, keys.PrivateKey.generate()
    )
    (directory / "latest").write_text(stranger.note)
    problem = (await _verify(conn, settings)).problem
    assert problem is not None
    assert problem.what.startswith("checkpoint rejected: latest: not signed by the operator key")


async def test_no_checkpoint_anchors_nothing(conn: db.Connection, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await append_entries(conn, 2)
    problem = (await _verify(conn, settings)).problem
    assert problem is not None
    assert "anchored nowhere outside the database" in problem.what


async def test_an_auditor_login_verifies(
    conn: db.Connection, database_url: str, tmp_path: Path
) -> None:
    settings = await _log_with_checkpoints(conn, tmp_path)
    async with login_role(conn, database_url, "ruaj_auditor") as url:
        auditor = await db.connect(url)
        try:
            assert await auditor.fetchval("SELECT session_user") != "postgres"
            outcome = await _verify(auditor, settings)
        finally:
            await auditor.close()
    assert outcome.problem is None and outcome.entries == 12


_CHANGES = [
    "UPDATE ruaj.audit_log SET kind = 'forged'",
    "DELETE FROM ruaj.audit_log",
    "TRUNCATE ruaj.audit_log",
    "UPDATE ruaj.audit_head SET next_idx = 0",
    "DELETE FROM ruaj.audit_head",
    "TRUNCATE ruaj.audit_head",
]


@pytest.mark.parametrize(
    "group", ["ruaj_ingest", "ruaj_maintenance", "ruaj_officer", "ruaj_auditor", "ruaj_owner"]
)
async def test_no_application_role_can_change_the_log(
    conn: db.Connection, database_url: str, group: str
) -> None:
    await append_entries(conn, 3)
    async with login_role(conn, database_url, group) as url:
        member = await db.connect(url)
        try:
            for statement in _CHANGES:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await member.execute(statement)
            if group == "ruaj_owner":
                # The owner may grant itself the privileges back: the triggers still refuse.
                await member.execute(
                    "GRANT UPDATE, DELETE, TRUNCATE ON ruaj.audit_log TO ruaj_owner"
                )
                for statement in _CHANGES:
                    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="refused"):
                        await member.execute(statement)
        finally:
            await member.close()
    assert [row.kind for row in await audit.entries(conn, 0, 10)] == ["test.entry"] * 3
    assert await audit.size(conn) == 3
