"""What `ruaj demo` leans on, without I/O beyond a temporary file: the truth file's reading
(events naming an MSISDN in a range, holders of a number), connection URLs for other logins
and databases, and the narrative's condensing of repetitive output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest import truth as sent
from ruaj import narration
from store import databases

T0 = datetime(2026, 11, 20, tzinfo=UTC)
A, B = "38344000001", "38344000002"


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cdr(event_id: str, hours: float, calling: str, called: str) -> dict[str, object]:
    fields = {"event_id": event_id, "start_time": _at(hours), "calling_number": calling,
              "called_number": called, "forwarded_to": None, "served_msisdn": calling}  # fmt: skip
    return {"topic": "ruaj.cdr", "kind": "good", "key": "S1", "event_id": event_id,
            "fields": fields}  # fmt: skip


def _change(subscriber: str, operation: str, hours: float, value: str) -> dict[str, object]:
    return {"topic": "ruaj.subscriber", "kind": "good", "key": subscriber, "event_id": "x",
            "fields": {"subscriber_id": subscriber, "operation": operation,
                       "event_time": _at(hours), "identity_kind": "MSISDN",
                       "identity_value": value}}  # fmt: skip


@pytest.fixture
def truth(tmp_path: Path) -> sent.Truth:
    entries = [
        _change("S1", "ASSIGN_IDENTITY", -100, A),
        _cdr("c1", 1, A, B),
        _cdr("c2", 2, B, A),
        _cdr("c3", 3, B, "112"),
        {"topic": "ruaj.cdr", "kind": "duplicate", "key": "S1", "event_id": "c1"},
        {"topic": "ruaj.sms", "kind": "bad", "key": "S1", "reason": "malformed"},
        _cdr("c4", 10, A, "38344999999"),
        _change("S1", "RELEASE_IDENTITY", 5, A),
        _change("S2", "ASSIGN_IDENTITY", 8, A),  # the number, recycled
    ]
    path = tmp_path / "truth.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return sent.Truth.read(path)


def test_the_truth_counts_kinds_and_reasons(truth: sent.Truth) -> None:
    assert truth.kinds == {"good": 7, "duplicate": 1, "bad": 1}
    assert truth.messages == 9
    assert truth.bad_reasons == {"malformed": 1}
    assert truth.good_by_table() == {"subscriber_change": 3, "cdr": 4}
    assert truth.period() == (T0 + timedelta(hours=1), T0 + timedelta(hours=10))


def test_events_naming_an_msisdn_in_a_half_open_range(truth: sent.Truth) -> None:
    assert truth.sent("ruaj.cdr", A, T0, T0 + timedelta(hours=24)) == {"c1", "c2", "c4"}
    assert truth.sent("ruaj.cdr", A, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == {"c1"}
    assert truth.sent("ruaj.cdr", B, T0, T0 + timedelta(hours=24)) == {"c1", "c2", "c3"}
    assert truth.sent("ruaj.sms", A, T0, T0 + timedelta(hours=24)) == set()
    assert truth.busiest_msisdn() == A  # 3 calls each; ties go to the smallest number


def test_holders_of_a_number_follow_assignments_and_releases(truth: sent.Truth) -> None:
    holdings = truth.holdings("MSISDN", A)
    assert [(h.subscriber_id, h.end) for h in holdings] == [
        ("S1", T0 + timedelta(hours=5)), ("S2", None),
    ]  # fmt: skip
    day = T0 + timedelta(hours=24)
    assert truth.holders("MSISDN", A, T0, day) == ["S1", "S2"]
    assert truth.holders("MSISDN", A, T0 + timedelta(hours=5), T0 + timedelta(hours=8)) == []
    assert truth.holders("MSISDN", A, T0 + timedelta(hours=9), day) == ["S2"]
    assert truth.holders("MSISDN", B, T0, day) == []


def test_an_unreadable_truth_file_is_a_truth_error(tmp_path: Path) -> None:
    with pytest.raises(sent.TruthError, match="cannot read the truth file"):
        sent.Truth.read(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"kind": "good"}\n')
    with pytest.raises(sent.TruthError):
        sent.Truth.read(tmp_path / "bad.jsonl")


def test_urls_for_another_login_or_database() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    officer = databases.with_login(url, "demo_importer", "p@ss:w/rd")
    assert (
        officer
        == "postgresql://demo_importer:p%40ss%3Aw%2Frd@127.0.0.1:5432/postgres?sslmode=disable"
    )
    assert databases.with_login("postgresql://u:x@[::1]:5/d", "o") == "postgresql://o@[::1]:5/d"
    assert databases.with_database(url, "ruaj_demo").split("?")[0].endswith(":5432/ruaj_demo")
    assert databases.database_of(url) == "postgres"
    assert databases.database_of("postgresql://h") == "postgres"


def test_runs_of_similar_lines_are_condensed() -> None:
    lines = [f"created cdr_p2026120{n}" for n in range(1, 9)] + ["no subscriber due", "pruned 0"]
    assert narration.condensed(lines) == [
        "created cdr_p20261201", "created cdr_p20261202", "… 4 more like these …",
        "created cdr_p20261207", "created cdr_p20261208", "no subscriber due", "pruned 0",
    ]  # fmt: skip
    short = ["created a", "created b", "created c", "created d", "created e"]
    assert narration.condensed(short) == short
