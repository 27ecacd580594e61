"""A citizen reporter's name and contact: sealed when the report arrives, masked in the case file, opened
only by a logged reveal to the staff who call the reporter back.

Who may reveal (minimum necessary, PIPL art. 6 / GB/T 35273 §7): the grid worker and grid leader whose
grid the case is in (they make the call-back, 回访) and admins (the hotline desk files and answers 12345
orders). Commanders, analysts and department handlers work the case, not the caller: 403.
"""
from __future__ import annotations

from sqlalchemy import Connection, text

from data import pii, pii_audit
from data.actors import Actor
from data.errors import ConfigError, Forbidden, NotFound
from data.event_query import scope_clause
from data.pii import Keyring
from data.persons import check_purpose

FIELDS = ("reporter_name", "reporter_contact")
REVEAL_ROLES = frozenset({"admin", "grid_leader", "grid_worker"})
CASE_COLUMNS = ", e.reporter_name_masked AS reporter_name, e.reporter_contact_masked AS reporter_contact"

# the id is taken before the insert because the ciphertext is bound to its row (pii.context)
NEXT_ID_SQL = text("SELECT nextval(pg_get_serial_sequence('event', 'id'))")


def sealed_columns(conn: Connection, keys: Keyring | None, name: str | None, contact: str | None) -> dict:
    """The insert's parameters: the event id to use (None: the sequence's next) and each field sealed and masked."""
    clear = {"reporter_name": (name or "").strip() or None, "reporter_contact": (contact or "").strip() or None}
    columns: dict = {"id": None}
    if any(clear.values()):
        if keys is None:
            raise ConfigError("a reporter's name and contact are sealed at rest: the personal-data keys are needed")
        columns["id"] = conn.execute(NEXT_ID_SQL).scalar_one()
    for field, value in clear.items():
        columns[f"{field}_sealed"] = None if value is None else \
            pii.seal(keys, value, pii.context("event", field, columns["id"]))
        columns[f"{field}_masked"] = pii.MASKS[field](value)
    return columns


def reveal(conn: Connection, keys: Keyring, actor: Actor, event_id: int, purpose) -> dict:
    """The reporter's name and contact in clear, after the access-log row is written (same transaction)."""
    where, params = scope_clause(actor.scope_filter)
    row = conn.execute(text(  # existence first: outside the scope it is a 404 whatever the role or body
        f"SELECT e.reporter_name_sealed, e.reporter_contact_sealed FROM event e WHERE e.id = :id {where}"), {"id": event_id, **params}).first()
    if row is None:
        raise NotFound(f"no event {event_id} in your area")
    if actor.role not in REVEAL_ROLES:
        raise Forbidden("only the grid staff of the case and admins may call its reporter back")
    purpose = check_purpose(purpose)
    pii_audit.record(conn, actor, "reveal", "event", event_id, purpose, FIELDS)
    return {"id": event_id, **{field: None if sealed is None else
                               pii.unseal(keys, sealed, pii.context("event", field, event_id))
                               for field, sealed in zip(FIELDS, row)}}
