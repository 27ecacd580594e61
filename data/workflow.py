"""The closed loop enforced: every change to an event checks the table, the role and the scope, then logs.

Each function runs inside the caller's transaction and locks the event row first, so of two
concurrent changes one wins and the other sees the new state and is refused with 409.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, text

from data.actors import Actor, within
from data.errors import Conflict, Forbidden, NotFound, Refused
from data.lifecycle import (DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_HOURS, GRID_STAFF, JOINT_LEVELS, LEADS,
                            MAX_EXTENSION_HOURS, MAX_EXTENSIONS, ROUTING, RULES, TRANSITIONS, level_above, level_below)
from data.vocab import EVENT_STATUSES, HANDLING_LEVELS, LEVEL_DEPTH

_LOCK_SQL = text("""
SELECT e.id, e.status, e.level, e.category, e.source, e.tracking_no, e.handling_mode, e.department_id,
       e.joint_department_ids, e.extensions, e.satisfaction, e.merged_into, g.code AS grid_code
FROM event e LEFT JOIN grid g ON g.id = e.grid_id WHERE e.id = :id FOR UPDATE OF e""")

_LOG_SQL = text("""
INSERT INTO event_log (event_id, at, actor, actor_role, from_status, to_status, level, action, note, detail)
VALUES (:id, :at, :actor, :role, :from_status, :to_status, :level, :action, :note, CAST(:detail AS jsonb))""")

CALL_BACK_SOURCES = frozenset({"hotline_12345", "open311"})
_DEPTH = {"grid": 4, **{level: LEVEL_DEPTH[level] for level in ("community", "street", "district")}}


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _locked(conn: Connection, event_id: int):
    row = conn.execute(_LOCK_SQL, {"id": event_id}).mappings().first()
    if row is None:
        raise NotFound(f"no event {event_id}")
    return row


def unit_code(grid_code: str | None, level: str) -> str | None:
    """The grid whose staff handle an event at `level`: its cell, or that cell's community/street/district."""
    if grid_code is None:
        return None
    return ".".join(grid_code.split(".")[:_DEPTH[level]])


def _in_scope(actor: Actor, event, *, at_level: bool = True) -> bool:
    """Staff act on events their scope covers at the event's current level (the ladder is enforced here)."""
    if actor.sees_everything:
        return True
    if actor.role == "citizen":
        return actor.reporter_of is not None and actor.reporter_of == event["tracking_no"]
    if actor.role == "department":  # only cases sent to departments, and only to theirs
        return actor.department_id is not None and event["handling_mode"] in ("department", "joint") and (
            actor.department_id == event["department_id"]
            or actor.department_id in (event["joint_department_ids"] or ()))
    code = unit_code(event["grid_code"], event["level"]) if at_level else event["grid_code"]
    return code is not None and within(code, actor.scope)


def _log(conn, event, actor: Actor, at, to_status, level, action="transition", note=None, detail=None) -> None:
    conn.execute(_LOG_SQL, {"id": event["id"], "at": at, "actor": actor.username, "role": actor.role,
                            "from_status": event["status"], "to_status": to_status, "level": level,
                            "action": action, "note": note, "detail": json.dumps(detail) if detail else None})


def _department_ids(conn, codes) -> list[int]:
    codes = [codes] if isinstance(codes, str) else codes or []
    if not isinstance(codes, (list, tuple)) or not all(isinstance(c, str) for c in codes):
        raise Refused("departments must be department codes", "departments")
    rows = dict(conn.execute(text("SELECT code, id FROM department WHERE code = ANY(:c)"), {"c": codes}).all())
    unknown = [c for c in codes if c not in rows]
    if unknown:
        raise Refused(f"unknown department {', '.join(map(repr, unknown))}", "departments")
    return list(dict.fromkeys(rows[c] for c in codes))


def _routing(conn, event, level: str, routing, departments) -> dict:
    """Where a dispatched event goes: the grid itself, one department, or a joint consultation."""
    if routing not in ROUTING:
        raise Refused(f"routing must be one of {', '.join(ROUTING)} (网格自办, 点对点直通, 会商)", "routing")
    if routing == "grid":
        return {"handling_mode": "grid", "joint_department_ids": None}
    ids = _department_ids(conn, departments) or ([event["department_id"]] if event["department_id"] else [])
    if routing == "department":
        if len(ids) != 1:
            raise Refused("point-to-point dispatch goes to exactly one department (or the category's default)",
                          "departments")
        return {"handling_mode": "department", "department_id": ids[0], "joint_department_ids": None}
    if level not in JOINT_LEVELS:
        raise Conflict(f"a joint consultation (会商) is convened at community or street level; this event is at "
                       f"{level} level — escalate it first", "routing")
    if len(ids) < 2:
        raise Refused("a joint consultation needs at least two departments", "departments")
    return {"handling_mode": "joint", "department_id": ids[0], "joint_department_ids": ids}


def allowed_for(actor: Actor, event) -> list[str]:
    """The transitions this actor may make on this event now (for pages and 409 bodies)."""
    return sorted(to for (frm, to), rule in RULES.items()
                  if frm == event["status"] and (actor.role in rule.roles or actor.role == "admin"))


@dataclass(frozen=True)
class Change:
    id: int
    status: str
    level: str
    rev: int


def transition(conn: Connection, event_id: int, to: str, actor: Actor, note: str | None = None, *,
               routing: str | None = None, departments=(), review_at: datetime | None = None,
               expect: str | None = None, now: datetime | None = None) -> Change:
    """Move one event along the table, or refuse with the reason and the transitions that are allowed."""
    now = _now(now)
    event = _locked(conn, event_id)
    status = event["status"]
    if not _in_scope(actor, event):  # before anything that would describe the case to an outsider
        raise Forbidden(f"event {event_id} is handled at a level or in an area outside {actor.username}'s")
    if to not in EVENT_STATUSES:
        raise Refused(f"unknown status {to!r}", "to")
    if to == status and expect is None:  # a repeated escalation must not climb twice
        raise Conflict(f"event {event_id} is already {status}; to go {to} again, name the state you saw in `from`",
                       "from", allowed=sorted(TRANSITIONS[status]), status_now=status)
    if expect is not None and expect != status:
        raise Conflict(f"event {event_id} is {status}, not {expect}: someone changed it first",
                       allowed=sorted(TRANSITIONS[status]), status_now=status)
    rule = RULES.get((status, to))
    if rule is None:
        raise Conflict(f"an event that is {status} cannot become {to}", "to", allowed=sorted(TRANSITIONS[status]),
                       status_now=status)
    if actor.role not in rule.roles and actor.role != "admin":
        raise Forbidden(f"a {actor.role} may not make {status} → {to} ({rule.what}); allowed roles: "
                        f"{', '.join(sorted(rule.roles))}")
    note = note.strip() if isinstance(note, str) else None
    if "note" in rule.needs and not note:
        raise Refused(f"{status} → {to} ({rule.what}) needs a reason in `note`", "note")
    level = event["level"]
    changes: dict = {}
    if to == "escalated":
        level = level_above(level)
        if level is None:
            raise Conflict(f"event {event_id} is already handled at the top ({HANDLING_LEVELS[-1]}) level", "to",
                           allowed=sorted(TRANSITIONS[status] - {"escalated"}))
        changes.update(handling_mode=None, joint_department_ids=None)
    elif to == "returned":
        if status == "accepted":  # back down to the level that escalated it
            level = level_below(level)
            if level is None:
                raise Conflict("an accepted grid-level event has nobody below to return it to; reject it instead",
                               "to", allowed=sorted(TRANSITIONS[status] - {"returned"}))
        changes.update(handling_mode=None, joint_department_ids=None)
    elif to == "dispatched":
        changes.update(_routing(conn, event, level, routing, departments))
    elif to == "suspended":
        if not isinstance(review_at, datetime) or review_at.tzinfo is None or review_at <= now:
            raise Refused("suspending (挂账) needs review_at: a future date with a UTC offset", "review_at")
        changes["review_at"] = review_at
    if to == "resolved":
        changes["resolved_at"] = now
    elif status == "resolved":
        changes["resolved_at"] = None
    if to == "closed":
        changes["closed_at"] = now
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    row = conn.execute(text(f"""
        UPDATE event SET status = :to, level = :level, overdue = false, updated_at = :now, rev = rev + 1,
          stage_due_at = CASE WHEN :to = 'suspended' THEN CAST(:review AS timestamptz)
                              ELSE stage_deadline(category, event_stage(:to), :now) END
          {', ' + sets if sets else ''}
        WHERE id = :id RETURNING rev"""),
        {"to": to, "level": level, "now": now, "id": event_id, "review": review_at, **changes}).scalar_one()
    detail = {k: v for k, v in (("routing", changes.get("handling_mode")), ("departments", departments or None),
                                ("review_at", review_at.isoformat() if review_at else None)) if v}
    _log(conn, event, actor, now, to, level, note=note, detail=detail or None)
    return Change(event_id, to, level, row)


def verify(conn: Connection, event_id: int, actor: Actor, passed: bool, note: str | None = None,
           now: datetime | None = None) -> Change:
    """核查: a resolved event is confirmed (verified) or reopened (back in progress, with the reason)."""
    return transition(conn, event_id, "verified" if passed else "in_progress", actor, note, expect="resolved",
                       now=now)


def _score(score) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise Refused("score must be an integer from 1 to 5", "score")
    return score


def rate(conn: Connection, event_id: int, actor: Actor, score, now: datetime | None = None) -> None:
    """The reporter's satisfaction (1–5) with a resolved event; grid staff may record it from a call-back (回访)."""
    score = _score(score)
    event = _locked(conn, event_id)
    if actor.role == "citizen":
        allowed = _in_scope(actor, event)
    else:  # staff record a call-back only where the reporter has no page of their own to rate on
        allowed = (actor.role in GRID_STAFF | {"commander", "admin"} and event["source"] in CALL_BACK_SOURCES
                   and _in_scope(actor, event, at_level=False))
    if not allowed:
        raise Forbidden("the reporter rates the handling (on the tracking page); staff record ratings only from "
                        "call-backs to hotline and Open311 reporters")
    if event["status"] not in ("resolved", "verified", "closed"):
        raise Conflict(f"event {event_id} is {event['status']}: it can be rated once resolved")
    if event["satisfaction"] is not None:
        raise Conflict(f"event {event_id} has already been rated")
    conn.execute(text("UPDATE event SET satisfaction = :s, updated_at = :now, rev = rev + 1 WHERE id = :id"),
                 {"s": score, "now": _now(now), "id": event_id})
    _log(conn, event, actor, _now(now), event["status"], event["level"], "rate", detail={"score": score})


def rate_department(conn: Connection, event_id: int, actor: Actor, score, department: str | None = None,
                    note: str | None = None, now: datetime | None = None) -> None:
    """网格评部门: the event's grid rates a department that handled it."""
    score = _score(score)
    event = _locked(conn, event_id)
    if actor.role not in GRID_STAFF | {"admin"} or not _in_scope(actor, event, at_level=False):
        raise Forbidden("departments are rated by the staff of the event's grid")
    if event["handling_mode"] not in ("department", "joint") or event["status"] not in ("resolved", "verified",
                                                                                        "closed"):
        raise Conflict(f"event {event_id} was not resolved by a department (handling: {event['handling_mode']}, "
                       f"status: {event['status']})")
    handled = list(event["joint_department_ids"] or [event["department_id"]])
    dept = _department_ids(conn, [department])[0] if department else handled[0]
    if dept not in handled:
        raise Refused("that department did not handle this event", "department")
    done = conn.execute(text(
        "INSERT INTO department_rating (event_id, department_id, score, rated_by, note, at) "
        "VALUES (:e, :d, :s, :u, :n, :at) ON CONFLICT DO NOTHING RETURNING id"),
        {"e": event_id, "d": dept, "s": score, "u": actor.username, "n": note, "at": _now(now)}).first()
    if done is None:
        raise Conflict(f"the department has already been rated for event {event_id}")
    _log(conn, event, actor, _now(now), event["status"], event["level"], "rate_department", note,
         {"department_id": dept, "score": score})


def supervise(conn: Connection, event_id: int, actor: Actor, note: str | None = None,
              now: datetime | None = None) -> None:
    """督办: a supervisor flags an event at whatever level it is handled; repeated flags are logged too."""
    event = _locked(conn, event_id)
    if actor.role not in LEADS or not _in_scope(actor, event, at_level=False):
        raise Forbidden("supervision (督办) is for grid leaders, the command center and admins, in their area")
    conn.execute(text("UPDATE event SET supervised = true, updated_at = :now, rev = rev + 1 WHERE id = :id"),
                 {"now": _now(now), "id": event_id})
    _log(conn, event, actor, _now(now), event["status"], event["level"], "supervise", note)


def extend(conn: Connection, event_id: int, actor: Actor, hours, note: str | None = None,
           now: datetime | None = None) -> None:
    """延期: push the current stage's deadline (and the final one) back, a limited number of times, with a reason."""
    event = _locked(conn, event_id)
    if actor.role not in LEADS | {"department"} or not _in_scope(actor, event):
        raise Forbidden("deadlines are extended by the handling level's leader or the handling department")
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= MAX_EXTENSION_HOURS:
        raise Refused(f"hours must be a number in (0, {MAX_EXTENSION_HOURS}]", "hours")
    if not (isinstance(note, str) and note.strip()):
        raise Refused("an extension (延期) needs a reason in `note`", "note")
    if event["status"] not in ("accepted", "dispatched", "in_progress", "reported", "escalated", "returned"):
        raise Conflict(f"event {event_id} is {event['status']}: there is no running deadline to extend")
    if event["extensions"] >= MAX_EXTENSIONS:
        raise Conflict(f"event {event_id} has been extended {MAX_EXTENSIONS} times already; escalate it instead")
    conn.execute(text("""
        UPDATE event SET extensions = extensions + 1, overdue = false, updated_at = :now, rev = rev + 1,
          stage_due_at = greatest(stage_due_at, :now) + make_interval(secs => :secs),
          due_at = greatest(due_at, :now) + make_interval(secs => :secs)
        WHERE id = :id"""), {"now": _now(now), "secs": float(hours) * 3600, "id": event_id})
    _log(conn, event, actor, _now(now), event["status"], event["level"], "extend", note.strip(),
         {"hours": hours})


def merge(conn: Connection, event_id: int, into: int, actor: Actor, note: str | None = None,
          now: datetime | None = None) -> Change:
    """A duplicate report is closed into the open event it repeats (rejected, with merged_into set)."""
    if not isinstance(into, int) or isinstance(into, bool) or into == event_id:
        raise Refused("into must be the id of another event", "into")
    conn.execute(text("SELECT id FROM event WHERE id IN (:a, :b) ORDER BY id FOR UPDATE"), {"a": event_id, "b": into})
    event = _locked(conn, event_id)
    rule = RULES[("reported", "rejected")]  # a merge rejects the duplicate: the same people may do it
    if (actor.role not in rule.roles and actor.role != "admin") or not _in_scope(actor, event):
        raise Forbidden(f"duplicates are merged by those who may reject a report: {', '.join(sorted(rule.roles))}")
    target = conn.execute(text(
        "SELECT t.status, t.category, t.merged_into, g.code AS grid_code, "
        "ST_DWithin(t.geom::geography, e.geom::geography, :r) AND abs(extract(epoch FROM t.reported_at - "
        "e.reported_at)) <= :w * 3600 AS near FROM event t JOIN event e ON e.id = :e "
        "LEFT JOIN grid g ON g.id = t.grid_id WHERE t.id = :t"),
        {"t": into, "e": event_id, "r": DUPLICATE_RADIUS_M, "w": DUPLICATE_WINDOW_HOURS}).mappings().first()
    if target is None or not (actor.sees_everything or (target["grid_code"] is not None
                                                        and within(target["grid_code"], actor.scope))):
        raise NotFound(f"no event {into} in your area")
    target = (target["status"], target["category"], target["merged_into"], target["near"])
    if not target[3]:
        raise Conflict(f"event {into} is not within {DUPLICATE_RADIUS_M:.0f} m and {DUPLICATE_WINDOW_HOURS} h of "
                       f"this report: it is not its duplicate")
    if event["status"] != "reported":
        raise Conflict(f"only a newly reported event can be merged; event {event_id} is {event['status']}",
                       allowed=sorted(TRANSITIONS[event["status"]]))
    if target[0] in ("closed", "rejected") or target[2] is not None:
        raise Conflict(f"event {into} is {target[0]}: merge into an open event")
    if target[1] != event["category"]:
        raise Conflict(f"event {into} is a {target[1]} case, this one is {event['category']}")
    now = _now(now)
    rev = conn.execute(text("""
        UPDATE event SET status = 'rejected', merged_into = :into, overdue = false, stage_due_at = NULL,
          updated_at = :now, rev = rev + 1 WHERE id = :id RETURNING rev"""),
        {"into": into, "now": now, "id": event_id}).scalar_one()
    _log(conn, event, actor, now, "rejected", event["level"], "merge", note or f"重复事件, 合并至 {into}",
         {"merged_into": into})
    return Change(event_id, "rejected", event["level"], rev)


@dataclass(frozen=True)
class TickResult:
    overdue: int
    escalated: int


_MARK_OVERDUE_SQL = text("""
WITH due AS (
    SELECT id FROM event
    WHERE NOT overdue AND stage_due_at < :now AND (CAST(:only AS bigint[]) IS NULL OR id = ANY(:only))
      AND status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'returned', 'escalated', 'suspended',
                     'resolved')
    FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE event e SET overdue = true, updated_at = :now, rev = rev + 1
    FROM due WHERE e.id = due.id AND NOT e.overdue
    RETURNING e.id, e.status, e.level, e.category, e.stage_due_at, e.grid_id
), judged AS (
    SELECT m.*, p.on_overdue, p.escalate_by FROM marked m
    LEFT JOIN LATERAL (SELECT on_overdue, escalate_by FROM deadline_policy
                       WHERE stage = event_stage(m.status) AND category IN (m.category, '*')
                       ORDER BY category = '*' LIMIT 1) p ON true
), logged AS (
    INSERT INTO event_log (event_id, at, actor, actor_role, from_status, to_status, level, action, note, detail)
    SELECT id, :now, 'system', 'system', status, status, level, 'overdue', '超期',
           jsonb_build_object('stage_due_at', stage_due_at)
    FROM judged
)
SELECT id, status, level, on_overdue, escalate_by, grid_id FROM judged""")

_ESCALATE_SQL = text("""
WITH up AS (
    SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:was AS text[]), CAST(:levels AS text[])) AS u(id, was, level)
), moved AS (
    UPDATE event e SET status = 'escalated', level = up.level, overdue = false, handling_mode = NULL,
      joint_department_ids = NULL, stage_due_at = stage_deadline(e.category, 'accept', :now), updated_at = :now,
      rev = rev + 1
    FROM up WHERE e.id = up.id
    RETURNING e.id, up.was, up.level
)
INSERT INTO event_log (event_id, at, actor, actor_role, from_status, to_status, level, action, note)
SELECT id, :now, 'system', 'system', was, 'escalated', level, 'transition', '超期自动上报上级' FROM moved""")


def tick(conn: Connection, now: datetime | None = None, only: list[int] | None = None) -> TickResult:
    """Mark events past their stage deadline overdue and escalate those the policy escalates; idempotent.

    Concurrent ticks skip each other's locked rows, so each overdue event is handled exactly once.
    `only` limits the tick to some events (a drill, or a test that must not touch the rest).
    """
    now = _now(now)
    judged = conn.execute(_MARK_OVERDUE_SQL, {"now": now, "only": only}).all()
    ids, was, levels = [], [], []
    for event_id, status, level, on_overdue, escalate_by, grid_id in judged:
        if on_overdue != "escalate" or "escalated" not in TRANSITIONS[status] or grid_id is None:
            continue  # outside every grid there is no one up the ladder: it waits, flagged, for placement
        target = level_above(level, escalate_by or 1) or (HANDLING_LEVELS[-1] if level != HANDLING_LEVELS[-1]
                                                         else None)
        if target is not None:
            ids.append(event_id)
            was.append(status)
            levels.append(target)
    if ids:
        conn.execute(_ESCALATE_SQL, {"ids": ids, "was": was, "levels": levels, "now": now})
    return TickResult(overdue=len(judged), escalated=len(ids))
