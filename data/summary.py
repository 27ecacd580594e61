"""The ledger at a glance: every current grid with its counts, for overview pages and notebooks."""
from __future__ import annotations

from sqlalchemy import Connection, text

# Counts roll up the code tree: a grid counts every pin in its subtree (path <@), not only its own leaf.
GRID_COUNTS_SQL = text("""
WITH leaf AS (
  SELECT g.id, g.path FROM grid g WHERE g.valid_to IS NULL
), per_leaf AS (
  SELECT l.id,
    (SELECT count(*) FROM house h WHERE h.grid_id = l.id) AS houses,
    (SELECT count(*) FROM household hh JOIN house h ON h.id = hh.house_id WHERE h.grid_id = l.id) AS households,
    (SELECT count(*) FROM person p JOIN household hh ON hh.id = p.household_id JOIN house h ON h.id = hh.house_id
      WHERE h.grid_id = l.id) AS residents,
    (SELECT count(*) FROM place x WHERE x.grid_id = l.id) AS places,
    (SELECT count(*) FROM event e WHERE e.grid_id = l.id
      AND e.status NOT IN ('resolved', 'verified', 'closed', 'rejected')) AS open_events,
    (SELECT count(*) FROM event e WHERE e.grid_id = l.id AND e.overdue) AS overdue_events
  FROM leaf l
)
SELECT g.code, g.name, g.level, g.kind, g.dedicated_for, g.version,
       round((ST_Area(g.geom::geography) / 1e6)::numeric, 3)::float8 AS area_km2,
       coalesce(sum(c.houses), 0)::bigint AS houses, coalesce(sum(c.households), 0)::bigint AS households,
       coalesce(sum(c.residents), 0)::bigint AS residents, coalesce(sum(c.places), 0)::bigint AS places,
       coalesce(sum(c.open_events), 0)::bigint AS open_events, coalesce(sum(c.overdue_events), 0)::bigint AS overdue_events
FROM grid g
JOIN grid d ON d.valid_to IS NULL AND d.path <@ g.path
JOIN per_leaf c ON c.id = d.id
WHERE g.valid_to IS NULL
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


def grid_counts(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(GRID_COUNTS_SQL)]


def totals(conn: Connection) -> dict:
    return dict(conn.execute(TOTALS_SQL).one()._mapping)


# Tables whose every column is determined by the generator's inputs (app_user.created_at is not).
CHECKSUM_TABLES = ("grid", "house", "household", "person", "place", "thing", "organization", "staff",
                   "department", "event", "event_log", "visit", "demo_hotspot")


def ledger_checksum(conn: Connection) -> dict[str, str]:
    """An md5 per table over every row in id order: equal checksums mean identical ledgers."""
    out = {}
    for table in CHECKSUM_TABLES:
        key = "code, version" if table == "grid" else "id"
        out[table] = conn.execute(text(
            f"SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY {key}), '')) FROM {table} t"
        )).scalar_one()
    out["app_user"] = conn.execute(text(
        "SELECT md5(coalesce(string_agg(concat_ws('|', username, role, scope::text), '' ORDER BY username), ''))"
        " FROM app_user")).scalar_one()
    return out
