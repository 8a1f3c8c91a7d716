"""Partition names and days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from store import partitions


def test_name_and_parse_round_trip() -> None:
    assert partitions.name("ip_session", date(2026, 1, 2)) == "ip_session_p20260102"
    parsed = partitions.parse("ip_session_p20260102")
    assert parsed == partitions.Partition(table="ip_session", day=date(2026, 1, 2))
    assert parsed.start == datetime(2026, 1, 2, tzinfo=UTC)
    assert parsed.end - parsed.start == timedelta(days=1)


@pytest.mark.parametrize("name", ["cdr", "cdr_p2026", "audit_log_p20260101", "x_p20260101"])
def test_parse_ignores_foreign_names(name: str) -> None:
    assert partitions.parse(name) is None


def test_unknown_table_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown event table"):
        partitions.name("audit_log", date(2026, 1, 1))


def test_day_is_utc() -> None:
    late_evening_east = datetime(2026, 1, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert partitions.day_of(late_evening_east) == date(2026, 1, 1)
