"""`ruaj package open` as a subprocess: the agency's side, with no database at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from disclosure import keys
from tests.support import run_ruaj
from tests.unit.test_package import Parties

pytestmark = pytest.mark.acceptance


def _files(tmp_path: Path, parties: Parties) -> tuple[Path, Path, dict[str, str]]:
    agency = tmp_path / "agency.pem"
    agency.write_bytes(
        parties.agency.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    operator = tmp_path / "operator.pub.pem"
    operator.write_text(keys.public_key_pem(parties.operator.public_key()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUAJ_")}
    return agency, operator, env


def test_open_writes_the_files_and_refuses_an_altered_package(tmp_path: Path) -> None:
    parties = Parties()
    agency, operator, env = _files(tmp_path, parties)
    sealed = tmp_path / "order-7.ruajpkg"
    sealed.write_bytes(parties.seal())
    args = ["--key", str(agency), "--operator-key", str(operator)]

    opened = run_ruaj("package", "open", str(sealed), *args, "--out", str(tmp_path / "a"), env=env)
    assert opened.returncode == 0, opened.stderr
    assert "package verified: order PPS-2026-0451 (id 7" in opened.stdout
    assert "task t1 (traffic_data), 2 rows" in opened.stdout
    csv_file = tmp_path / "a" / "data" / "task-01-traffic_data.csv"
    assert csv_file.read_bytes().count(b"\r\n") == 3

    altered = bytearray(sealed.read_bytes())
    altered[-20] ^= 0xFF
    sealed.write_bytes(bytes(altered))
    refused = run_ruaj("package", "open", str(sealed), *args, "--out", str(tmp_path / "b"), env=env)
    assert refused.returncode == 3
    assert "refused: decryption failed" in refused.stderr
    assert not (tmp_path / "b").exists()


def test_open_without_an_operator_key_is_a_usage_error(tmp_path: Path) -> None:
    parties = Parties()
    agency, _, env = _files(tmp_path, parties)
    sealed = tmp_path / "p.ruajpkg"
    sealed.write_bytes(parties.seal())
    done = run_ruaj(
        "package", "open", str(sealed), "--key", str(agency), "--out", str(tmp_path / "o"), env=env
    )
    assert done.returncode == 2
    assert "--operator-key" in done.stderr
