"""The catalogue of day-partitioned event tables (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class EventTable:
    """One event table: its name in schema `ruaj`, its partition column and retention category."""

    name: str
    time_column: str
    category: str

    @property
    def qualified(self) -> str:
        """`ruaj.<name>`."""
        return f"ruaj.{self.name}"


CDR = EventTable(name="cdr", time_column="start_time", category="traffic")
SMS = EventTable(name="sms", time_column="event_time", category="sms")
IMEI_OBSERVATION = EventTable(name="imei_observation", time_column="observed_at", category="imei")
IP_SESSION = EventTable(name="ip_session", time_column="event_time", category="ip_session")

EVENT_TABLES: tuple[EventTable, ...] = (CDR, SMS, IMEI_OBSERVATION, IP_SESSION)
BY_NAME: dict[str, EventTable] = {table.name: table for table in EVENT_TABLES}


def get(name: str) -> EventTable:
    """The event table called `name`; KeyError names the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown event table {name!r} (known: {', '.join(BY_NAME)})") from None
