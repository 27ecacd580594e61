"""One event as a case file: its fields, its history and its photos, as staff in scope may see them.

The reporter's name and contact are left out for everyone but admins (they are for call-backs only), and
so is the tracking number, which lets its holder verify and rate as the reporter.
"""
from __future__ import annotations

from sqlalchemy import Connection, text

from data.errors import NotFound
from data.event_query import COLUMNS, FROM_EVENTS, scope_clause

CASE_COLUMNS = COLUMNS + """, e.description, e.address, e.media_url, e.handling_mode,
  (SELECT array_agg(jd.code ORDER BY jd.code) FROM department jd WHERE jd.id = ANY(e.joint_department_ids))
    AS joint_departments,
  e.stage_due_at, e.review_at, e.extensions, e.supervised, e.possible_duplicate_of, e.merged_into, e.updated_at,
  e.rev, e.outside_grid, e.external_id"""
PRIVATE_COLUMNS = ", e.tracking_no, e.reporter_name, e.reporter_contact"  # the number lets its holder act as the reporter


def one(conn: Connection, event_id: int, scope: tuple[str, ...] | None, private: bool = False) -> dict:
    """The case file of one event the caller may see (404 otherwise: no hint that it exists)."""
    where, params = scope_clause(scope)
    row = conn.execute(text(f"SELECT {CASE_COLUMNS}{PRIVATE_COLUMNS if private else ''} {FROM_EVENTS} "
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
