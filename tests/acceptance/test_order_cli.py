"""`ruaj authority | officer | order` as a subprocess, against a real PostgreSQL and the test PKI:
registration, intake refusals with exit 3 and their reasons, four eyes, and the path from an
imported order to a package the agency opens."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from disclosure import authorities, keys
from store import audit, db, orders
from tests import pki as test_pki
from tests.audit_support import login_role
from tests.intake_support import kinds_since, register, register_unchecked, signed
from tests.orders_support import COURT, PROSECUTOR, recipient_key_pem, traffic_task
from tests.release_support import cdr, write_rows
from tests.support import run_ruaj

pytestmark = pytest.mark.acceptance

TARGET = "38344123456"
OTHER = "38344999999"


@pytest.fixture(scope="module")
def pki() -> test_pki.Pki:
    return test_pki.Pki()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The administrator's environment: this test's database (as superuser), an operator key and
    a checkpoint directory."""
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


@pytest.fixture
async def officer_envs(
    conn: db.Connection, database_url: str, env: dict[str, str]
) -> AsyncIterator[list[dict[str, str]]]:
    """Three environments, each logged in as a distinct officer."""
    async with AsyncExitStack() as stack:
        envs = []
        for _ in range(3):
            url = await stack.enter_async_context(login_role(conn, database_url, "ruaj_officer"))
            envs.append({**env, "RUAJ_DATABASE_URL": url})
        yield envs


@pytest.fixture
def files(tmp_path: Path, pki: test_pki.Pki) -> Callable[..., list[str]]:
    """Writes an order and its signature (or other bytes) to files; returns the import arguments."""

    def write(data: bytes, signature: bytes, name: str | None = None) -> list[str]:
        stem = tmp_path / (name or uuid.uuid4().hex[:8])
        (order := stem.with_suffix(".json")).write_bytes(data)
        (p7s := stem.with_suffix(".p7s")).write_bytes(signature)
        return ["order", "import", str(order), "--signature", str(p7s)]

    return write


def _refused(done: subprocess.CompletedProcess[str], reason: str) -> None:
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert f"[{reason}]" in done.stderr, done.stderr
    assert "ruaj: refused: " in done.stderr
    assert done.stdout == ""


@pytest.fixture
async def dropped_roles(conn: db.Connection) -> AsyncIterator[list[str]]:
    """Names of roles the test creates through the command; dropped afterwards (roles are
    cluster-wide)."""
    names: list[str] = []
    yield names
    for name in names:
        await conn.execute(f"DROP ROLE IF EXISTS {db.quote_ident(name)}")


def _officer_url(database_url: str, name: str) -> str:
    scheme, rest = database_url.split("://", 1)
    return f"{scheme}://{name}@{rest.split('@', 1)[1]}"


async def test_authority_and_officer_commands(
    conn: db.Connection,
    env: dict[str, str],
    database_url: str,
    tmp_path: Path,
    pki: test_pki.Pki,
    dropped_roles: list[str],
) -> None:
    anchor = tmp_path / "court-ca.pem"
    anchor.write_bytes(pki.anchor_pem)
    root_crl, issuing_crl = tmp_path / "root.crl", tmp_path / "issuing.crl"
    root_der, issuing_der = pki.crls(this_update=pki.now - timedelta(hours=2))
    root_crl.write_bytes(root_der)
    issuing_crl.write_bytes(issuing_der)
    foreign = tmp_path / "foreign.crl"
    foreign.write_bytes(test_pki.crl(pki.stranger_ca, now=pki.now))

    added = run_ruaj(
        "authority", "add", COURT, "--kind", "court", "--trust-anchor", str(anchor),
        "--crl", str(root_crl), "--crl", str(issuing_crl), env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"authority 1: {COURT} (court)\n")
    assert "anchor      CN=Judicial Root CA" in added.stdout
    assert "issuing CA  CN=Judicial Issuing CA 1" in added.stdout
    assert "CRL         CN=Judicial Issuing CA 1,O=Kosovo Judicial Council,C=XK: 1 revoked" in (
        added.stdout
    )
    since = await audit.size(conn)
    refused = run_ruaj(
        "authority", "add", "Another Court", "--kind", "court", "--trust-anchor", str(anchor),
        "--crl", str(foreign), env=env,
    )  # fmt: skip
    _refused(refused, "crl_issuer")
    missing = run_ruaj(
        "authority", "add", "X", "--kind", "court", "--trust-anchor", str(tmp_path / "no.pem"),
        env=env,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read trust anchor" in missing.stderr
    assert await audit.size(conn) == since

    newer = tmp_path / "newer.crl"
    revoking = [pki.revoked_judge, pki.judge]
    newer.write_bytes(test_pki.crl(pki.issuing, now=pki.now, revoked=revoking))
    updated = run_ruaj("authority", "crl", COURT, "--crl", str(newer), env=env)
    assert updated.returncode == 0, updated.stderr
    assert "Judicial Issuing CA 1,O=Kosovo Judicial Council,C=XK: 2 revoked" in updated.stdout
    older = run_ruaj("authority", "crl", COURT, "--crl", str(issuing_crl), env=env)
    _refused(older, "crl_older")
    listed = run_ruaj("authority", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.count("authority ") == 1
    assert "2 revoked" in listed.stdout

    name = f"officer_{uuid.uuid4().hex[:8]}"
    dropped_roles.append(name)
    made = run_ruaj(
        "officer", "add", name, "--password-stdin", env=env, input="correct horse battery\n"
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout == f"officer {name} created (member of ruaj_officer)\n"
    row = await conn.fetchrow(
        "SELECT rolcanlogin, pg_has_role(oid, 'ruaj_officer', 'MEMBER') AS member,"
        " rolpassword LIKE 'SCRAM-SHA-256$4096:%' AS scram FROM pg_authid WHERE rolname = $1",
        name,
    )
    assert row is not None and tuple(row.values()) == (True, True, True)
    entries = await kinds_since(conn, since)
    assert ("officer.added", {"officer": name, "password": True}) in entries
    _refused(run_ruaj("officer", "add", name, env=env), "role_exists")
    bad = run_ruaj("officer", "add", "Bad-Name", env=env)
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr
    as_officer = {**env, "RUAJ_DATABASE_URL": _officer_url(database_url, name)}
    other = f"officer_{uuid.uuid4().hex[:8]}"
    dropped_roles.append(other)
    _refused(run_ruaj("officer", "add", other, env=as_officer), "not_admin")
    _refused(run_ruaj("authority", "crl", COURT, "--crl", str(newer), env=as_officer), "not_admin")
    listed_officers = run_ruaj("officer", "list", env=env)
    assert name in listed_officers.stdout.split()


async def test_import_refusals_exit_3_with_their_reason(
    conn: db.Connection,
    officer_envs: list[dict[str, str]],
    files: Callable[..., list[str]],
    pki: test_pki.Pki,
    tmp_path: Path,
) -> None:
    await register(conn, pki)
    await register(conn, pki, name=PROSECUTOR, kind="prosecutor")
    await authorities.add(conn, name="Court Without CRL", kind="court", trust_anchor=pki.anchor_pem)
    await register_unchecked(conn, pki, pki.stale_crls(), name="Court With Stale CRL")
    officer = officer_envs[0]

    good = signed(pki)
    done = run_ruaj(*files(*good), env=officer)
    assert done.returncode == 0, done.stderr
    verified_id = int(done.stdout)
    assert f"order {verified_id} (PPS-2026-0451) verified: signed by CN=Judge Arta" in done.stderr

    changed = good[0].replace(b"Police Cybercrime Unit", b"Police Cybercrime Unix")
    past = datetime.now(UTC) - timedelta(days=40)
    cases: list[tuple[tuple[bytes, bytes], str]] = [
        (good, "duplicate"),
        ((changed, good[1]), "document_changed"),
        (signed(pki, pki.stranger, reference="R-1"), "untrusted_chain"),
        (signed(pki, pki.expired_judge, reference="R-2"), "expired_signer"),
        (signed(pki, pki.revoked_judge, reference="R-3"), "revoked"),
        (signed(pki, pki.client_auth_only, reference="R-4"), "key_usage"),
        (signed(pki, authority="Court Without CRL", reference="R-5"), "missing_crl"),
        (signed(pki, authority="Court With Stale CRL", reference="R-6"), "stale_crl"),
        (
            signed(pki, authority=PROSECUTOR, kind="prosecutor", tasks=[traffic_task()],
                   reference="R-7"),
            "policy",
        ),
        (signed(pki, valid_from=past, valid_for=timedelta(days=30), reference="R-8"),
         "outside_validity"),
    ]  # fmt: skip
    for (data, signature), reason in cases:
        _refused(run_ruaj(*files(data, signature), env=officer), reason)

    listing = run_ruaj("order", "list", env=officer)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()[1:]
    assert len(lines) == len(cases)  # the duplicate is not a new order
    assert lines[0].startswith(f"{verified_id} ") and " verified " in lines[0]
    for line, (_, reason) in zip(lines[1:], cases[1:], strict=True):
        assert " rejected " in line and line.endswith(f" {reason}"), line
    recorded = [(o.state, o.reason_code) for o in await orders.list_orders(conn)]
    assert recorded == [("verified", None)] + [("rejected", r) for _, r in cases[1:]]

    revoked = (await orders.list_orders(conn, "rejected"))[3]
    assert revoked.reason_code == "revoked"
    shown = run_ruaj("order", "show", str(revoked.order_id), env=officer)
    assert shown.returncode == 0, shown.stderr
    assert "state:       rejected (revoked: the signer's certificate is revoked" in shown.stdout
    executed = run_ruaj(
        "order", "execute", str(revoked.order_id), "--out", str(tmp_path / "out"), env=officer
    )
    _refused(executed, "not_approved")
    assert not list((tmp_path / "out").glob("*.ruajpkg"))


def _agency_key(tmp_path: Path) -> tuple[x25519.X25519PrivateKey, Path]:
    agency = x25519.X25519PrivateKey.generate()
    path = tmp_path / "agency.pem"
    path.write_bytes(
        agency.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return agency, path


def _traffic_rows() -> tuple[list[tuple[object, ...]], set[str]]:
    """CDRs around TARGET; returns them and the ids the order's traffic task must release."""
    at = datetime(2026, 9, 1, tzinfo=UTC)
    inside = [uuid.UUID(int=n) for n in (1, 2, 3)]
    rows = [
        cdr(inside[0], at, TARGET, OTHER),
        cdr(inside[1], at + timedelta(days=3), OTHER, TARGET, served=TARGET),
        cdr(inside[2], at + timedelta(days=9), OTHER, "38344000001", forwarded_to=TARGET),
        cdr(uuid.UUID(int=10), datetime(2026, 7, 31, 23, 59, tzinfo=UTC), TARGET, OTHER),
        cdr(uuid.UUID(int=11), datetime(2026, 11, 1, tzinfo=UTC), TARGET, OTHER),
        cdr(uuid.UUID(int=12), at, OTHER, "38344000002"),
    ]
    return rows, {str(i) for i in inside}


async def test_four_eyes_and_execution_to_an_opened_package(
    conn: db.Connection,
    officer_envs: list[dict[str, str]],
    files: Callable[..., list[str]],
    pki: test_pki.Pki,
    tmp_path: Path,
) -> None:
    await register(conn, pki)
    rows, expected = _traffic_rows()
    await write_rows(conn, "cdr", rows)
    agency, agency_path = _agency_key(tmp_path)
    importer, first, second = officer_envs
    data, signature = signed(
        pki, tasks=[traffic_task(msisdn=TARGET)], recipient_key=recipient_key_pem(agency)
    )
    decision = tmp_path / "decision.pdf"
    decision.write_bytes(b"%PDF-1.7\n% Basic Court of Prishtina, decision 88/2026\n%%EOF\n")

    imported = run_ruaj(*files(data, signature), "--document", str(decision), env=importer)
    assert imported.returncode == 0, imported.stderr
    order_id = int(imported.stdout)

    _refused(run_ruaj("order", "approve", str(order_id), env=importer), "importer_approval")
    once = run_ruaj("order", "approve", str(order_id), env=first)
    assert (once.returncode, once.stdout) == (0, f"order {order_id}: verified, approvals 1\n")
    _refused(run_ruaj("order", "approve", str(order_id), env=first), "repeat_approval")
    out = tmp_path / "packages"
    _refused(run_ruaj("order", "execute", str(order_id), "--out", str(out), env=importer),
             "not_approved")  # fmt: skip
    twice = run_ruaj("order", "approve", str(order_id), env=second)
    assert (twice.returncode, twice.stdout) == (0, f"order {order_id}: approved, approvals 2\n")

    executed = run_ruaj("order", "execute", str(order_id), "--out", str(out), env=importer)
    assert executed.returncode == 0, executed.stderr
    package_path = Path(executed.stdout.strip())
    assert package_path == out / f"order-{order_id}.ruajpkg"
    opened_dir = tmp_path / "opened"
    opened = run_ruaj(
        "package", "open", str(package_path), "--key", str(agency_path), "--out",
        str(opened_dir), env=importer,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert "task t1 (traffic_data), 3 rows" in opened.stdout
    released = json.loads((opened_dir / "data" / "task-01-traffic_data.json").read_text())
    assert {row["event_id"] for row in released["rows"]} == expected

    shown = run_ruaj("order", "show", str(order_id), env=first)
    assert shown.returncode == 0, shown.stderr
    assert "state:       disclosed" in shown.stdout
    digest = hashlib.sha256(decision.read_bytes()).hexdigest()
    assert f"document:    application/pdf, {decision.stat().st_size} bytes, sha256 {digest}" in (
        shown.stdout
    )
    copy = tmp_path / "copy.pdf"
    fetched = run_ruaj("order", "document", str(order_id), "--out", str(copy), env=second)
    assert fetched.returncode == 0, fetched.stderr
    assert copy.read_bytes() == decision.read_bytes()
    _refused(run_ruaj("order", "cancel", str(order_id), env=first), "wrong_state")


async def test_reject_and_cancel_by_command(
    conn: db.Connection,
    officer_envs: list[dict[str, str]],
    files: Callable[..., list[str]],
    pki: test_pki.Pki,
) -> None:
    await register(conn, pki)
    importer, first, _ = officer_envs
    ids = []
    for reference in ("C-1", "C-2"):
        done = run_ruaj(*files(*signed(pki, reference=reference)), env=importer)
        assert done.returncode == 0, done.stderr
        ids.append(int(done.stdout))
    rejected = run_ruaj("order", "reject", str(ids[0]), "--reason", "withdrawn", env=first)
    assert (rejected.returncode, rejected.stdout) == (0, f"order {ids[0]}: rejected\n")
    cancelled = run_ruaj("order", "cancel", str(ids[1]), "--reason", "superseded", env=first)
    assert (cancelled.returncode, cancelled.stdout) == (0, f"order {ids[1]}: cancelled\n")
    _refused(run_ruaj("order", "approve", str(ids[1]), env=first), "wrong_state")
    _refused(run_ruaj("order", "show", "424242", env=first), "no_order")
    listed = run_ruaj("order", "list", "--state", "rejected", env=first)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [str(ids[0])]
    order = await orders.get(conn, ids[0])
    assert order is not None and (order.reason_code, order.reason) == ("officer", "withdrawn")


def test_every_new_command_has_help(env: dict[str, str]) -> None:
    for command in (
        ["authority", "add"], ["authority", "crl"], ["authority", "list"], ["officer", "add"],
        ["order", "import"], ["order", "approve"], ["order", "reject"], ["order", "list"],
    ):  # fmt: skip
        done = run_ruaj(*command, "--help", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: ruaj {' '.join(command)}"), done.stdout
