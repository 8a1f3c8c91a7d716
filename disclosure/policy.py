"""Which kind of authority may order which type of task (DESIGN §5), from configuration.

`RUAJ_POLICY_COURT_TASKS` and `RUAJ_POLICY_PROSECUTOR_TASKS` (disclosure/settings.py) are
comma-separated task types; by default a court may order all seven, a prosecutor subscriber
data, IP attribution and preservation. An order with any task its authority's kind may not
order is refused whole (reason `policy`): a partial execution is not what was signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from disclosure.settings import DisclosureSettings

TASK_TYPES: tuple[str, ...] = (
    "subscriber_data",
    "traffic_data",
    "sms_data",
    "equipment_data",
    "ip_attribution",
    "cell_dump",
    "preservation",
)
AUTHORITY_KINDS: tuple[str, ...] = ("court", "prosecutor")
DEFAULT_PROSECUTOR_TASKS: frozenset[str] = frozenset(
    {"subscriber_data", "ip_attribution", "preservation"}
)


def parse_task_types(value: object) -> frozenset[str]:
    """Task types from a comma-separated string (an environment variable) or an iterable.

    Raises `ValueError` naming unknown task types: a typo must not silently forbid, or allow,
    anything.
    """
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, Iterable):
        items = [str(item).strip() for item in value]
    else:
        raise ValueError("expected comma-separated task types")
    found = frozenset(item for item in items if item)
    unknown = sorted(found - set(TASK_TYPES))
    if unknown:
        raise ValueError(
            f"unknown task type(s) {', '.join(unknown)}; known: {', '.join(TASK_TYPES)}"
        )
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The task types each authority kind may order."""

    allowed: Mapping[str, frozenset[str]]

    @classmethod
    def from_settings(cls, settings: DisclosureSettings) -> Policy:
        """The policy configured in `settings`."""
        return cls(
            allowed={
                "court": settings.policy_court_tasks,
                "prosecutor": settings.policy_prosecutor_tasks,
            }
        )

    def forbidden(self, kind: str, task_types: Iterable[str]) -> list[str]:
        """The task types of `task_types` that an authority of `kind` may not order, sorted."""
        allowed = self.allowed.get(kind, frozenset())
        return sorted(set(task_types) - allowed)
