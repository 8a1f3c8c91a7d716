"""Metrics of disclosure (DESIGN §7), exported by `ruaj maintain`. Labels are fixed
vocabularies (states, task types, reason codes), never identifiers.

Orders are imported, approved and executed by short-lived commands whose own metrics nobody
scrapes, so the long-running maintenance service reports them from the database each pass:
`ruaj_disclosure_orders{state}` from `ruaj.disclosure_order`, and
`ruaj_disclosure_releases_total{task_type}` / `ruaj_disclosure_refusals_total{reason}` from the
audit log, which records every release and refusal whichever process made it. Each pass reads
only the entries appended since the previous one; the first pass of a service reads the whole
log, so the counters hold every release and refusal ever recorded (a restarted service starts
where the log stands, not at zero, which `rate()` and `increase()` take as they come). They
are in the maintenance service's registry (`store.maintenance.REGISTRY`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from store import db, maintenance, orders

TASK_TYPES = (
    "subscriber_data",
    "traffic_data",
    "sms_data",
    "equipment_data",
    "ip_attribution",
    "cell_dump",
    "preservation",
)

ORDERS = Gauge(
    "ruaj_disclosure_orders",
    "Orders in each lifecycle state",
    ["state"],
    registry=maintenance.REGISTRY,
)
RELEASES = Counter(
    "ruaj_disclosure_releases",
    "Tasks of orders executed and released in a package, by task type (from the audit log)",
    ["task_type"],
    registry=maintenance.REGISTRY,
)
REFUSALS = Counter(
    "ruaj_disclosure_refusals",
    "Refused disclosure steps by reason code: orders refused at import, approvals and "
    "executions refused (from the audit log)",
    ["reason"],
    registry=maintenance.REGISTRY,
)

# Every state and task type appears from the start (zero), so dashboards and alerts see them.
for _task_type in TASK_TYPES:
    RELEASES.labels(task_type=_task_type)
for _state in orders.STATES:
    ORDERS.labels(state=_state)


class AuditTally:
    """How far into the audit log the release and refusal counters have counted."""

    def __init__(self) -> None:
        self.next_index = 0

    async def update(self, conn: db.Connection) -> orders.Outcomes:
        """Count the releases and refusals appended since the last update; returns them."""
        found = await orders.outcomes_since(conn, self.next_index)
        for task_type, count in found.releases.items():
            RELEASES.labels(task_type=task_type).inc(count)
        for reason, count in found.refusals.items():
            REFUSALS.labels(reason=reason).inc(count)
        self.next_index = found.next_index
        return found


def maintenance_step() -> maintenance.Step:
    """The `disclosure_metrics` step of `ruaj maintain`: orders by state, and the releases and
    refusals the audit log recorded since the previous pass. Reads only (also in a dry run)."""
    tally = AuditTally()

    async def step(ctx: maintenance.Context) -> None:
        async with ctx.connection() as conn:
            for state, count in (await orders.count_by_state(conn)).items():
                ORDERS.labels(state=state).set(count)
            await tally.update(conn)

    return step
