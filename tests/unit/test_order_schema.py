"""The order JSON Schema (schemas/order.schema.json) accepts DESIGN §5's example shape and
refuses what a task type does not allow."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import schemas
from tests.orders_support import ip_task, order_document, traffic_task


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((schemas.directory() / "order.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(document: dict[str, Any]) -> list[str]:
    return [e.message for e in _validator().iter_errors(document)]


def test_the_design_example_shape_is_valid() -> None:
    assert _errors(order_document()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["tasks"][1].update({"from": "2026-10-01T00:00:00Z"}), "should not be valid"),
        (lambda d: d["tasks"][1]["identifier"].pop("port"), "'port' is a required property"),
        (lambda d: d["tasks"][0].pop("to"), "'to' is a required property"),
        (lambda d: d["tasks"][0]["identifier"].update(kind="cell"), "is not one of"),
        (lambda d: d["tasks"][0]["identifier"].update(value="+38344"), "does not match"),
        (lambda d: d.update(valid_until="2026-12-20 10:00"), "does not match"),
        (lambda d: d["issuing_authority"].update(kind="police"), "is not one of"),
        (lambda d: d.update(tasks=[]), "should be non-empty"),
        (lambda d: d.update(extra=1), "Additional properties are not allowed"),
    ],
)
def test_invalid_documents_are_refused(change: Any, expected: str) -> None:
    document = order_document(tasks=[traffic_task(), ip_task()])
    change(document)
    problems = _errors(document)
    assert problems, "expected the schema to refuse the document"
    assert any(expected in p for p in problems), problems
