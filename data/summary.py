"""The ledger at a glance: every current grid with its counts, for overview pages and notebooks."""
from __future__ import annotations

from sqlalchemy import Connection, text

from data.event_query import scope_clause
from data.pii_store import SEALED

# Counts roll up the code tree: a grid counts every pin in its subtree (path <@), not only its own leaf.
# One grouped scan per table (events through the covering index), then a join down the tree.
GRID_COUNTS_SQL = text("""
WITH houses AS (
  SELECT h.grid_id, count(*) AS houses, coalesce(sum(s.households), 0) AS households,
         coalesce(sum(s.residents), 0) AS residents
  FROM house h LEFT JOIN house_residents s ON s.house_id = h.id GROUP BY h.grid_id
), places AS (
  SELECT grid_id, count(*) AS places FROM place GROUP BY grid_id
), events AS (
  SELECT grid_id, count(*) FILTER (WHERE status NOT IN ('resolved', 'verified', 'closed', 'rejected')) AS open_events,
         count(*) FILTER (WHERE overdue) AS overdue_events
  FROM event e WHERE TRUE {event_scope} GROUP BY grid_id
)
SELECT g.code, g.name, g.level, g.kind, g.dedicated_for, g.version,
       round((ST_Area(g.geom::geography) / 1e6)::numeric, 3)::float8 AS area_km2,
       coalesce(sum(h.houses), 0)::bigint AS houses, coalesce(sum(h.households), 0)::bigint AS households,
       coalesce(sum(h.residents), 0)::bigint AS residents, coalesce(sum(p.places), 0)::bigint AS places,
       coalesce(sum(e.open_events), 0)::bigint AS open_events,
       coalesce(sum(e.overdue_events), 0)::bigint AS overdue_events
FROM grid g
JOIN grid d ON d.valid_to IS NULL AND d.path <@ g.path
LEFT JOIN houses h ON h.grid_id = d.id
LEFT JOIN places p ON p.grid_id = d.id
LEFT JOIN events e ON e.grid_id = d.id
WHERE g.valid_to IS NULL {scope}
GROUP BY g.id
ORDER BY g.code
""")

TOTALS_SQL = text("""
SELECT (SELECT count(*) FROM grid WHERE valid_to IS NULL) AS grids,
       (SELECT count(*) FROM house) AS houses, (SELECT count(*) FROM household) AS households,
       (SELECT count(*) FROM person) AS residents, (SELECT count(*) FROM place) AS places,
       (SELECT count(*) FROM thing) AS things, (SELECT count(*) FROM organization) AS organizations,
       (SELECT count(*) FROM event) AS events, (SELECT count(*) FROM visit) AS visits,
       (SELECT count(*) FROM house WHERE grid_id IS NULL) + (SELECT count(*) FROM place WHERE grid_id IS NULL)
       + (SELECT count(*) FROM thing WHERE grid_id IS NULL)
       + (SELECT count(*) FROM organization WHERE grid_id IS NULL)
       + (SELECT count(*) FROM event WHERE grid_id IS NULL) AS pins_outside_grids
""")

SCOPED_TOTALS_SQL = """
WITH sc AS (SELECT id FROM grid WHERE path <@ CAST(:scope AS ltree[]))
SELECT (SELECT count(*) FROM grid WHERE valid_to IS NULL AND path <@ CAST(:scope AS ltree[])) AS grids,
       (SELECT count(*) FROM house WHERE grid_id IN (SELECT id FROM sc)) AS houses,
       (SELECT count(*) FROM household hh JOIN house h ON h.id = hh.house_id
        WHERE h.grid_id IN (SELECT id FROM sc)) AS households,
       (SELECT count(*) FROM person p JOIN household hh ON hh.id = p.household_id JOIN house h ON h.id = hh.house_id
        WHERE h.grid_id IN (SELECT id FROM sc)) AS residents,
       (SELECT count(*) FROM place WHERE grid_id IN (SELECT id FROM sc)) AS places,
       (SELECT count(*) FROM thing WHERE grid_id IN (SELECT id FROM sc)) AS things,
       (SELECT count(*) FROM organization WHERE grid_id IN (SELECT id FROM sc)) AS organizations,
       (SELECT count(*) FROM event e WHERE TRUE {event_scope}) AS events,
       (SELECT count(*) FROM visit WHERE grid_id IN (SELECT id FROM sc)) AS visits,
       0 AS pins_outside_grids
"""


def grid_counts(conn: Connection, scope: tuple[str, ...] | None = None, code: str | None = None) -> list[dict]:
    """Every current grid (in `scope`'s subtrees, or `code` alone) with the counts of its subtree."""
    clauses, (event_scope, params) = [], scope_clause(scope)  # a department counts only its own cases
    if scope is not None:
        clauses.append("g.path <@ CAST(:scope AS ltree[])")
    if code is not None:
        clauses.append("g.code = :code")
        params["code"] = code
    sql = (GRID_COUNTS_SQL.text.replace("{scope}", "".join(f" AND {c}" for c in clauses))
           .replace("{event_scope}", event_scope))
    return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def totals(conn: Connection, scope: tuple[str, ...] | None = None) -> dict:
    """Whole-ledger counts, or for a scope only what is pinned in its subtrees (pins outside every grid: 0)."""
    if scope is None:
        return dict(conn.execute(TOTALS_SQL).one()._mapping)
    event_scope, params = scope_clause(scope)
    return dict(conn.execute(text(SCOPED_TOTALS_SQL.replace("{event_scope}", event_scope)), params).one()._mapping)


# Tables whose every column is determined by the generator's inputs (app_user.created_at is not).
CHECKSUM_TABLES = ("grid", "house", "household", "person", "place", "thing", "organization", "staff",
                   "department", "event", "event_log", "visit", "demo_hotspot")


def ledger_checksum(conn: Connection) -> dict[str, str]:
    """An md5 per table over every row in id order: equal checksums mean identical ledgers."""
    out = {}
    for table in CHECKSUM_TABLES:
        key = "code, version" if table == "grid" else "id"
        # a sealed value differs on every load (random nonce); its lookup hash and mask stand for it
        row = (f"(to_jsonb(t) - ARRAY{[f + '_sealed' for f in SEALED[table]]}::text[])::text" if table in SEALED
               else "t::text")
        out[table] = conn.execute(text(
            f"SELECT md5(coalesce(string_agg(md5({row}), '' ORDER BY {key}), '')) FROM {table} t"
        )).scalar_one()
    out["app_user"] = conn.execute(text(
        "SELECT md5(coalesce(string_agg(concat_ws('|', username, role, scope::text), '' ORDER BY username), ''))"
        " FROM app_user")).scalar_one()
    return out
