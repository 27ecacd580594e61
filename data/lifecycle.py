"""The event lifecycle as data: every allowed transition, who may make it, and what it needs.

data/workflow.py enforces this table and nothing else; DESIGN.md carries a copy of it (a test keeps
the two equal). The demo generator writes only histories that follow it.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from data.vocab import EVENT_STATUSES, HANDLING_LEVELS

GRID_STAFF = frozenset({"grid_worker", "grid_leader"})
LEADS = frozenset({"grid_leader", "commander", "admin"})
HANDLERS = GRID_STAFF | {"commander", "admin"}


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    needs: tuple[str, ...] = ()  # request fields that must be present: note, routing, review_at
    what: str = ""  # 中文 label of the action, for logs and pages


def _rule(roles, needs=(), what="") -> Rule:
    return Rule(frozenset(roles), tuple(needs), what)


RULES: MappingProxyType[tuple[str, str], Rule] = MappingProxyType({
    ("reported", "accepted"): _rule(HANDLERS, what="受理"),
    ("reported", "rejected"): _rule(LEADS, ["note"], "不予受理"),
    ("reported", "escalated"): _rule(HANDLERS, what="上报上级"),
    ("accepted", "dispatched"): _rule(HANDLERS, ["routing"], "派遣"),
    ("accepted", "escalated"): _rule(HANDLERS, what="上报上级"),
    ("accepted", "returned"): _rule(LEADS, ["note"], "退回下级"),
    ("dispatched", "in_progress"): _rule(HANDLERS | {"department"}, what="开始处置"),
    ("dispatched", "returned"): _rule(LEADS | {"department"}, ["note"], "退回"),
    ("dispatched", "escalated"): _rule(HANDLERS, what="上报上级"),
    ("in_progress", "resolved"): _rule(HANDLERS | {"department"}, what="办结"),
    ("in_progress", "escalated"): _rule(HANDLERS, what="上报上级"),
    ("in_progress", "suspended"): _rule(LEADS, ["note", "review_at"], "挂账"),
    ("in_progress", "returned"): _rule(LEADS | {"department"}, ["note"], "退回"),
    ("returned", "accepted"): _rule(HANDLERS, what="重新受理"),
    ("returned", "dispatched"): _rule(HANDLERS, ["routing"], "重新派遣"),
    ("returned", "escalated"): _rule(HANDLERS, what="上报上级"),
    ("escalated", "accepted"): _rule(HANDLERS, what="上级受理"),
    ("escalated", "escalated"): _rule(HANDLERS, what="继续上报"),
    ("suspended", "in_progress"): _rule(LEADS, what="恢复处置"),
    ("resolved", "verified"): _rule(HANDLERS | {"citizen"}, what="核查通过"),
    ("resolved", "in_progress"): _rule(HANDLERS | {"citizen"}, ["note"], "核查未通过, 重新处置"),
    ("verified", "closed"): _rule(HANDLERS, what="结案"),
})

TRANSITIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType({
    status: frozenset(to for (frm, to) in RULES if frm == status) for status in EVENT_STATUSES})

# which deadline runs while an event is in a status (a frozen copy lives in SQL: event_stage())
STAGE_OF = MappingProxyType({
    "reported": "accept", "escalated": "accept", "returned": "accept", "accepted": "dispatch",
    "dispatched": "handle", "in_progress": "handle", "resolved": "verify",
})
STAGES = MappingProxyType({"accept": "受理", "dispatch": "派遣", "handle": "处置", "verify": "核查"})

ROUTING = MappingProxyType({
    "grid": ("网格自办", "handled in the grid"),
    "department": ("点对点直通", "sent to one department"),
    "joint": ("会商", "joint consultation of several departments"),
})
JOINT_LEVELS = frozenset({"community", "street"})  # where a joint consultation is convened
MAX_EXTENSIONS = 2  # 延期 at most twice
MAX_EXTENSION_HOURS = 24 * 30
DUPLICATE_RADIUS_M = 100.0  # a report this close to an open event of the same category…
DUPLICATE_WINDOW_HOURS = 72  # …reported within this many hours is flagged as a possible duplicate

# hours from report to final resolution, by category (the `due_at` shown to everyone)
DEADLINE_HOURS = MappingProxyType({
    "safety_hazard": 24, "public_order": 24, "heating": 48, "food_safety": 48, "environment": 72,
    "noise": 72, "property": 120, "public_service": 120, "illegal_construction": 168, "dispute": 168,
    "wage_arrears": 240, "petition": 360,
})


def allowed(from_status: str | None, to_status: str) -> bool:
    """Whether one step of an event's history is in the table (None = the report itself)."""
    if from_status is None:
        return to_status == "reported"
    return (from_status, to_status) in RULES


def level_above(level: str, steps: int = 1) -> str | None:
    """The handling level `steps` rungs up the ladder, or None above the top."""
    i = HANDLING_LEVELS.index(level) + steps
    return HANDLING_LEVELS[i] if i < len(HANDLING_LEVELS) else None


def level_below(level: str) -> str | None:
    i = HANDLING_LEVELS.index(level) - 1
    return HANDLING_LEVELS[i] if i >= 0 else None
