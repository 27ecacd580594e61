"""The personal-data access log: who revealed, looked up or exported personal data, when and why.

Append-only against the application itself: the table and its schema belong to `minqing_audit`, a
role that cannot log in; the application's role may only read the rows and add one through
`pii_audit.record()` (SECURITY DEFINER). Creating that role needs a superuser, so scripts/setup.sh
installs this SQL (`python -m data.pii_audit OWNER APP`) into the ledger's database and into the
template every test database is cloned from. Where nobody ran it (a managed server), migration 0010
installs the same table owned by the application role, with triggers refusing changes: weaker (an
owner can drop a trigger), and `is_protected()` says so.
"""
from __future__ import annotations

import json
import sys
from typing import Sequence

from sqlalchemy import Connection, text

from data.actors import Actor

SCHEMA = "pii_audit"
OWNER = "minqing_audit"
ACTIONS = ("reveal", "lookup", "export")

_TABLE_SQL = """
CREATE SCHEMA IF NOT EXISTS pii_audit AUTHORIZATION {owner};
CREATE TABLE IF NOT EXISTS pii_audit.access (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    db_user text NOT NULL DEFAULT session_user,
    username text NOT NULL,
    role text NOT NULL,
    action text NOT NULL CHECK (action IN ('reveal', 'lookup', 'export')),
    object_type text NOT NULL,
    object_id text,
    fields text[] NOT NULL DEFAULT '{{}}',
    purpose text NOT NULL CHECK (length(btrim(purpose)) > 0),
    detail jsonb NOT NULL DEFAULT '{{}}'
);
ALTER TABLE pii_audit.access OWNER TO {owner};
CREATE INDEX IF NOT EXISTS access_at ON pii_audit.access (at);
CREATE INDEX IF NOT EXISTS access_object ON pii_audit.access (object_type, object_id);

CREATE OR REPLACE FUNCTION pii_audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the personal-data access log is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
ALTER FUNCTION pii_audit.refuse_change() OWNER TO {owner};
DROP TRIGGER IF EXISTS append_only ON pii_audit.access;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON pii_audit.access
  FOR EACH ROW EXECUTE FUNCTION pii_audit.refuse_change();
DROP TRIGGER IF EXISTS append_only_truncate ON pii_audit.access;
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON pii_audit.access
  FOR EACH STATEMENT EXECUTE FUNCTION pii_audit.refuse_change();

CREATE OR REPLACE FUNCTION pii_audit.record(p_username text, p_role text, p_action text, p_object_type text,
                                            p_object_id text, p_fields text[], p_purpose text, p_detail jsonb)
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO pii_audit.access (username, role, action, object_type, object_id, fields, purpose, detail)
  VALUES (p_username, p_role, p_action, p_object_type, p_object_id, coalesce(p_fields, '{{}}'), p_purpose,
          coalesce(p_detail, '{{}}'))
  RETURNING id
$$;
ALTER FUNCTION pii_audit.record(text, text, text, text, text, text[], text, jsonb) OWNER TO {owner};
REVOKE ALL ON FUNCTION pii_audit.record(text, text, text, text, text, text[], text, jsonb) FROM PUBLIC;
REVOKE ALL ON pii_audit.access FROM PUBLIC;
"""

_GRANTS_SQL = """
GRANT USAGE ON SCHEMA pii_audit TO {app};
GRANT SELECT ON pii_audit.access TO {app};
GRANT EXECUTE ON FUNCTION pii_audit.record(text, text, text, text, text, text[], text, jsonb) TO {app};
"""

_ROLE_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN
    CREATE ROLE {owner} NOLOGIN;
  END IF;
END $$;
"""


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain role name: {name!r}")
    return name


def install_sql(owner: str, app: str) -> str:
    """The SQL a superuser runs (owner = a NOLOGIN role), or the fallback runs as the app (owner = app)."""
    owner, app = _ident(owner), _ident(app)
    role = _ROLE_SQL.format(owner=owner) if owner != app else ""
    grants = _GRANTS_SQL.format(app=app) if owner != app else ""
    return role + _TABLE_SQL.format(owner=owner) + grants


def installed(conn: Connection) -> bool:
    return conn.execute(text("SELECT to_regclass('pii_audit.access') IS NOT NULL")).scalar_one()


def is_protected(conn: Connection) -> bool:
    """True when the log belongs to a role other than ours: we cannot alter or drop it."""
    return conn.execute(text(
        "SELECT c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) FROM pg_class c "
        "WHERE c.oid = to_regclass('pii_audit.access')")).scalar() or False


def record(conn: Connection, actor: Actor, action: str, object_type: str, object_id: str | int | None,
           purpose: str, fields: Sequence[str] = (), detail: dict | None = None) -> int:
    """One row in the log, inside the caller's transaction: the reveal and its record commit together."""
    return conn.execute(text(
        "SELECT pii_audit.record(:u, :r, :a, :t, :o, CAST(:f AS text[]), :p, CAST(:d AS jsonb))"),
        {"u": actor.username, "r": actor.role, "a": action, "t": object_type,
         "o": None if object_id is None else str(object_id), "f": list(fields), "p": purpose,
         "d": json.dumps(detail or {}, ensure_ascii=False, default=str)}).scalar_one()


def entries(conn: Connection, object_type: str | None = None, object_id: str | int | None = None,
            since_id: int = 0, limit: int = 100) -> list[dict]:
    """Newest first: what was accessed, by whom, why."""
    where, params = ["id > :since"], {"since": since_id, "limit": limit}
    if object_type is not None:
        where.append("object_type = :t")
        params["t"] = object_type
    if object_id is not None:
        where.append("object_id = :o")
        params["o"] = str(object_id)
    return [dict(r) for r in conn.execute(text(
        f"SELECT id, at, db_user, username, role, action, object_type, object_id, fields, purpose, detail "
        f"FROM pii_audit.access WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :limit"), params).mappings()]


if __name__ == "__main__":  # scripts/setup.sh: python -m data.pii_audit OWNER APP | psql (as a superuser)
    print(install_sql(sys.argv[1], sys.argv[2]))
