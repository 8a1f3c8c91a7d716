"""Metrics of disclosure (DESIGN §7). Labels are fixed vocabularies, never identifiers."""

from __future__ import annotations

from prometheus_client import Counter

TASK_TYPES = (
    "subscriber_data",
    "traffic_data",
    "sms_data",
    "equipment_data",
    "ip_attribution",
    "cell_dump",
    "preservation",
)

RELEASES = Counter(
    "ruaj_disclosure_releases",
    "Tasks of orders executed and released in a package, by task type",
    ["task_type"],
)

# Every task type appears from the start (zero), so dashboards and alerts see the series.
for _task_type in TASK_TYPES:
    RELEASES.labels(task_type=_task_type)
