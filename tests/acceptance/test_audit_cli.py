"""`ruaj audit` as a subprocess: checkpoint, verify (as the operator and as an auditor login),
prove, and the outsider's verify-proof with nothing but the public key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from disclosure import keys
from store import db
from tests.audit_support import append_entries, login_role, triggers_disabled
from tests.support import run_ruaj

pytestmark = pytest.mark.acceptance


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The subprocess environment: this test's database, an operator key, a checkpoint
    directory (no broker: `ruaj audit` does not use Kafka)."""
    key = tmp_path / "operator.pem"
    keys.generate(key)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUAJ_")}
    return {
        **clean,
        "RUAJ_DATABASE_URL": database_url,
        "RUAJ_OPERATOR_KEY": str(key),
        "RUAJ_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "RUAJ_STACK_DIR": str(tmp_path / "stack"),
        "PYTHONUNBUFFERED": "1",
    }


def _outsider(env: dict[str, str]) -> dict[str, str]:
    """No database, no operator key, no checkpoint directory."""
    return {k: v for k, v in env.items() if not k.startswith("RUAJ_")}


async def test_checkpoint_verify_prove_and_check_the_proof(
    conn: db.Connection, env: dict[str, str], tmp_path: Path
) -> None:
    await append_entries(conn, 5)
    made = run_ruaj("audit", "checkpoint", env=env)
    assert made.returncode == 0, made.stderr
    checkpoints = Path(env["RUAJ_CHECKPOINT_DIR"])
    assert made.stdout == (checkpoints / "checkpoint-5.txt").read_text()
    assert made.stdout.startswith("ruaj.audit.local/log\n5\n")

    verified = run_ruaj("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.splitlines()[0] == "audit log verified: 5 entries"
    assert "checkpoints: 1 (tree sizes 5..5), consistent" in verified.stdout

    public = run_ruaj("audit", "public-key", env=env)
    assert public.returncode == 0 and public.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    pem = tmp_path / "operator.pub.pem"
    pem.write_text(public.stdout)
    vkey = run_ruaj("audit", "public-key", "--verifier-key", env=env)
    assert vkey.stdout.startswith("ruaj.audit.local/log+")

    receipt = tmp_path / "receipt.json"
    proved = run_ruaj("audit", "prove", "2", "--out", str(receipt), env=env)
    assert proved.returncode == 0, proved.stderr
    document = json.loads(receipt.read_text())
    assert (document["index"], document["tree_size"]) == (2, 5)

    checked = run_ruaj("audit", "verify-proof", str(receipt), "--public-key", str(pem),
                       env=_outsider(env))  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(
        "receipt verified: entry 2 is in audit log ruaj.audit.local/log of 5 entries"
    )
    assert '"index":2' in checked.stdout

    document["entry"] = document["entry"].replace('"n":2', '"n":3')
    del document["leaf_hash"]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    rejected = run_ruaj("audit", "verify-proof", str(forged), "--public-key", str(pem),
                        env=_outsider(env))  # fmt: skip
    assert rejected.returncode == 1
    assert "receipt does NOT verify: the entry is not proven in the signed log" in rejected.stderr

    # An entry after the latest checkpoint: prove signs a new checkpoint first.
    await append_entries(conn, 1)
    newer = run_ruaj("audit", "prove", "5", env=env)
    assert newer.returncode == 0, newer.stderr
    assert json.loads(newer.stdout)["tree_size"] == 6
    assert (checkpoints / "checkpoint-6.txt").exists()


async def test_verify_names_the_first_entry_that_differs(
    conn: db.Connection, env: dict[str, str]
) -> None:
    await append_entries(conn, 6)
    assert run_ruaj("audit", "checkpoint", env=env).returncode == 0
    async with triggers_disabled(conn):
        await conn.execute("UPDATE ruaj.audit_log SET details = '{\"n\": 0}' WHERE idx = 3")
    failed = run_ruaj("audit", "verify", env=env)
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert (
        "audit log verification FAILED at entry 3: its details column differs from its entry bytes"
        in failed.stderr
    )


async def test_an_auditor_verifies_with_the_public_key_only(
    conn: db.Connection, database_url: str, env: dict[str, str], tmp_path: Path
) -> None:
    await append_entries(conn, 4)
    assert run_ruaj("audit", "checkpoint", env=env).returncode == 0
    pem = tmp_path / "operator.pub.pem"
    pem.write_text(run_ruaj("audit", "public-key", env=env).stdout)
    async with login_role(conn, database_url, "ruaj_auditor") as url:
        auditor_env = {k: v for k, v in env.items() if k != "RUAJ_OPERATOR_KEY"}
        auditor_env["RUAJ_DATABASE_URL"] = url
        verified = run_ruaj("audit", "verify", "--checkpoints", env["RUAJ_CHECKPOINT_DIR"],
                            "--public-key", str(pem), env=auditor_env)  # fmt: skip
        no_key = run_ruaj("audit", "verify", env=auditor_env)
    assert verified.returncode == 0, verified.stderr
    assert "audit log verified: 4 entries" in verified.stdout
    assert no_key.returncode == 2
    assert "give --public-key FILE" in no_key.stderr


async def test_checkpoint_refusal_and_missing_settings(
    conn: db.Connection, env: dict[str, str]
) -> None:
    await append_entries(conn, 4)
    no_key = run_ruaj("audit", "checkpoint", env={k: v for k, v in env.items()
                                                  if k != "RUAJ_OPERATOR_KEY"})  # fmt: skip
    assert no_key.returncode == 2
    assert "RUAJ_OPERATOR_KEY is not set" in no_key.stderr
    assert run_ruaj("audit", "checkpoint", env=env).returncode == 0
    async with triggers_disabled(conn):
        await conn.execute("DELETE FROM ruaj.audit_log WHERE idx >= 2")
    refused = run_ruaj("audit", "checkpoint", env=env)
    assert refused.returncode == 3
    assert "refused: the log holds 2 entries but checkpoint 4 was signed" in refused.stderr
