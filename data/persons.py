"""One resident as staff may see them: masked by default; the full ID number or phone only through
`reveal`, which writes its access-log row in the caller's transaction first.

Who may do what (minimum necessary, PIPL art. 6 / GB/T 35273 §7):
- person-level roles (admin, grid leader, grid worker, in scope) see a resident's record, masked;
- only grid leaders and grid workers may reveal, and only in their scope: they visit, call and verify
  residents. Admins run the system and need no resident's full number; commanders, analysts and
  department handlers work with cases and counts.
"""
from __future__ import annotations

from sqlalchemy import Connection, text

from data import idcard, pii, pii_audit, pii_store
from data.actors import Actor
from data.errors import Forbidden, NotFound, Refused
from data.event_query import grid_scope_clause
from data.pii import Keyring
from data.vocab import PERSON_LEVEL_ROLES

REVEAL_ROLES = frozenset({"grid_leader", "grid_worker"})
REVEALABLE = pii_store.FIELDS["person"]
PURPOSE_MIN, PURPOSE_MAX = 4, 500

RECORD_SQL = """
SELECT p.id, p.name, p.gender, p.relation, p.tags, p.is_key_person, p.id_number_masked AS id_number,
       p.phone_masked AS phone, hh.ref AS household, hh.unit, h.address, g.code AS grid
FROM person p JOIN household hh ON hh.id = p.household_id JOIN house h ON h.id = hh.house_id
LEFT JOIN grid g ON g.id = h.grid_id
WHERE {where} {scope}
ORDER BY p.id
"""


def _person_level(actor: Actor) -> None:
    if actor.role not in PERSON_LEVEL_ROLES:
        raise Forbidden("residents are shown to your role only as counts")


def _records(conn: Connection, actor: Actor, where: str, params: dict) -> list[dict]:
    scope_sql, scope_params = grid_scope_clause(actor.scope_filter, "h")
    return [dict(r) for r in conn.execute(text(RECORD_SQL.format(where=where, scope=scope_sql)),
                                          {**params, **scope_params}).mappings()]


def record(conn: Connection, actor: Actor, person_id: int) -> dict:
    """The masked record; 404 when the person is not in the caller's scope (no hint that they exist)."""
    _person_level(actor)
    rows = _records(conn, actor, "p.id = :id", {"id": person_id})
    if not rows:
        raise NotFound(f"no resident {person_id} in your area")
    return rows[0]


def check_purpose(purpose) -> str:
    if not isinstance(purpose, str) or not PURPOSE_MIN <= len(purpose.strip()) <= PURPOSE_MAX:
        raise Refused(f"purpose must say why, in {PURPOSE_MIN} to {PURPOSE_MAX} characters", "purpose")
    return purpose.strip()


def reveal(conn: Connection, keys: Keyring, actor: Actor, person_id: int, purpose: str,
           fields: tuple[str, ...] = REVEALABLE) -> dict:
    """The full values asked for, after the access-log row is written (same transaction: no row, no reveal)."""
    if actor.role not in REVEAL_ROLES:
        raise Forbidden("only grid leaders and grid workers may see full ID numbers and phone numbers")
    scope_sql, scope_params = grid_scope_clause(actor.scope_filter, "h")
    row = conn.execute(text(  # existence first: outside the scope it is a 404 whatever the body says
        f"SELECT {', '.join(f'p.{f}_sealed' for f in REVEALABLE)} FROM person p "
        f"JOIN household hh ON hh.id = p.household_id JOIN house h ON h.id = hh.house_id "
        f"WHERE p.id = :id {scope_sql}"), {"id": person_id, **scope_params}).first()
    if row is None:
        raise NotFound(f"no resident {person_id} in your area")
    if not fields or any(f not in REVEALABLE for f in fields):
        raise Refused(f"fields must be some of {', '.join(REVEALABLE)}", "fields")
    purpose = check_purpose(purpose)
    pii_audit.record(conn, actor, "reveal", "person", person_id, purpose, fields)
    sealed = dict(zip(REVEALABLE, row))
    return {"id": person_id, **{f: None if sealed[f] is None else
                                pii.unseal(keys, sealed[f], pii.context("person", f, person_id)) for f in fields}}


def lookup(conn: Connection, keys: Keyring, actor: Actor, id_number, purpose) -> list[dict]:
    """Residents in scope with exactly this ID number (masked), found by its keyed hash; the search is logged."""
    _person_level(actor)
    if not isinstance(id_number, str) or idcard.problem(id_number.strip().upper()):
        raise Refused(idcard.problem(id_number.strip().upper()) if isinstance(id_number, str)
                      else "id_number must be a string", "id_number")
    purpose = check_purpose(purpose)
    pii_audit.record(conn, actor, "lookup", "person", None, purpose, ("id_number",),
                     {"id_number": pii.mask_id_number(id_number.strip().upper())})
    return _records(conn, actor, "p.id_number_hmac = :h",
                    {"h": pii.lookup_hash(keys, "id_number", id_number)})
