"""One event as a case file: its fields, its history and its photos, as staff in scope may see them.

The reporter's name and contact are masked (`张*`, `138****5678`) and shown only to the roles that may reveal
them for a call-back (data/reporter_contact.py); the tracking number, which lets its holder verify and rate
as the reporter, only to admins.
"""
from __future__ import annotations

from sqlalchemy import Connection, text

from data.errors import NotFound
from data.event_query import COLUMNS, FROM_EVENTS, scope_clause
from data.reporter_contact import CASE_COLUMNS as REPORTER_COLUMNS

CASE_COLUMNS = COLUMNS + """, e.description, e.address, e.media_url, e.handling_mode,
  (SELECT array_agg(jd.code ORDER BY jd.code) FROM department jd WHERE jd.id = ANY(e.joint_department_ids))
    AS joint_departments,
  e.stage_due_at, e.review_at, e.extensions, e.supervised, e.possible_duplicate_of, e.merged_into, e.updated_at,
  e.rev, e.outside_grid, e.external_id"""
PRIVATE_COLUMNS = ", e.tracking_no"  # the number lets its holder act as the reporter


def one(conn: Connection, event_id: int, scope: tuple[str, ...] | None, private: bool = False,
        reporter: bool = False) -> dict:
    """The case file of one event the caller may see (404 otherwise: no hint that it exists); `reporter` adds
    the masked reporter, `private` the tracking number."""
    where, params = scope_clause(scope)
    extra = (PRIVATE_COLUMNS if private else "") + (REPORTER_COLUMNS if reporter else "")
    row = conn.execute(text(f"SELECT {CASE_COLUMNS}{extra} {FROM_EVENTS} "
                            f"WHERE e.id = :id {where}"), {"id": event_id, **params}).mappings().first()
    if row is None:
        raise NotFound(f"no event {event_id} in your area")
    record = dict(row)
    record["history"] = [dict(r) for r in conn.execute(text(
        "SELECT at, actor, actor_role, action, from_status, to_status, level, note, detail FROM event_log "
        "WHERE event_id = :id ORDER BY at, id"), {"id": event_id}).mappings()]
    record["photos"] = list(conn.execute(text("SELECT id FROM event_photo WHERE event_id = :id ORDER BY id"),
                                         {"id": event_id}).scalars())
    return record
