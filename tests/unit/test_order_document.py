"""Reading an order document (disclosure/document.py): what the schema cannot say (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from disclosure import document, errors
from tests.orders_support import encode, ip_task, order_document, traffic_task


def _refused(data: bytes) -> str:
    with pytest.raises(errors.OrderRefused) as refused:
        document.parse(data)
    assert refused.value.reason == "malformed"
    return refused.value.explanation


def test_a_good_document_is_read_with_its_times_and_tasks() -> None:
    value = order_document(tasks=[traffic_task(), ip_task(), traffic_task("t3")])
    order = document.parse(encode(value))
    assert order.order_reference == "PPS-2026-0451"
    assert order.issuing_authority.kind == "court"
    assert order.valid_until > order.valid_from
    assert order.tasks[0].range_to == datetime(2026, 11, 1, tzinfo=UTC)
    assert order.tasks[1].identifier.port == 40211
    assert order.task_types == ["traffic_data", "ip_attribution"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xef\xbb\xbf{}", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2", "not JSON"),
        (b"[]", "is not of type 'object'"),
    ],
)
def test_bytes_that_are_not_a_json_object(data: bytes, words: str) -> None:
    assert words in _refused(data)


def _edited(edit: Any) -> bytes:
    value = order_document()
    edit(value)
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.update(legal_basis="art. 88\u0000"), "NUL"),
        (lambda d: d["recipient"].update(agency="\ud800"), "unpaired surrogate"),
        (lambda d: d.update(valid_from="2026-02-30T00:00:00Z"), "valid_from"),
        (lambda d: d.update(valid_until=d["valid_from"]), "valid_from is not before valid_until"),
        (lambda d: d["tasks"][0].update({"to": d["tasks"][0]["from"]}), "'from' is not before"),
        (lambda d: d["tasks"][1].update(task_id="t1"), "task id t1 appears twice"),
        (lambda d: d["recipient"].update(
            public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
         "recipient key is not a PEM public key"),
        (lambda d: d.pop("tasks"), "'tasks' is a required property"),
        (lambda d: d["tasks"][0]["identifier"].update(value="+38344"), "tasks/0/identifier/value"),
    ],
)  # fmt: skip
def test_documents_the_database_could_not_take_are_malformed(edit: Any, words: str) -> None:
    assert words in _refused(_edited(edit))
