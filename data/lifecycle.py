"""The event lifecycle as data: states, the transitions allowed between them, and default deadlines.

Issue 5 turns this into the enforced workflow (who may move an event and when);
the demo generator already writes only histories that follow this table.
"""
from __future__ import annotations

from types import MappingProxyType

from data.vocab import EVENT_STATUSES

TRANSITIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType({
    "reported": frozenset({"accepted", "rejected", "escalated"}),
    "accepted": frozenset({"dispatched", "escalated", "returned"}),
    "dispatched": frozenset({"in_progress", "returned", "escalated"}),
    "in_progress": frozenset({"resolved", "escalated", "suspended", "returned"}),
    "returned": frozenset({"accepted", "dispatched"}),
    "escalated": frozenset({"accepted"}),
    "suspended": frozenset({"in_progress"}),
    "resolved": frozenset({"verified", "in_progress"}),
    "verified": frozenset({"closed"}),
    "closed": frozenset(),
    "rejected": frozenset(),
})
assert set(TRANSITIONS) == set(EVENT_STATUSES)

# hours from report to resolution, by category (hazards in hours, disputes in days)
DEADLINE_HOURS = MappingProxyType({
    "safety_hazard": 24, "public_order": 24, "heating": 48, "food_safety": 48, "environment": 72,
    "noise": 72, "property": 120, "public_service": 120, "illegal_construction": 168, "dispute": 168,
    "wage_arrears": 240, "petition": 360,
})


def allowed(from_status: str | None, to_status: str) -> bool:
    """Whether one step of an event's history is in the table (None = the report itself)."""
    if from_status is None:
        return to_status == "reported"
    return to_status in TRANSITIONS.get(from_status, frozenset())

