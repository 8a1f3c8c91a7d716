"""The RFC 9162 test vectors of transparency-dev/merkle (tests/data/merkle, Apache 2.0):
every case is accepted or rejected as its `wantErr` says."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from disclosure import errors, merkle

DATA = Path(__file__).resolve().parent.parent / "data" / "merkle"


def _cases(kind: str) -> list[Any]:
    paths = sorted((DATA / kind).rglob("*.json"))
    return [pytest.param(json.loads(p.read_text()), id=str(p.relative_to(DATA))) for p in paths]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


INCLUSION = _cases("inclusion")
CONSISTENCY = _cases("consistency")


def test_every_vector_is_found() -> None:
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98
    assert (DATA / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("case", INCLUSION)
def test_inclusion_vector(case: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_inclusion(
            case["leafIdx"],
            case["treeSize"],
            _b64(case["leafHash"]),
            [_b64(p) for p in case["proof"] or []],
            _b64(case["root"]),
        )

    if case["wantErr"]:
        with pytest.raises(errors.ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("case", CONSISTENCY)
def test_consistency_vector(case: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_consistency(
            case["size1"],
            case["size2"],
            _b64(case["root1"]),
            _b64(case["root2"]),
            [_b64(p) for p in case["proof"] or []],
        )

    if case["wantErr"]:
        with pytest.raises(errors.ProofError):
            check()
    else:
        check()
