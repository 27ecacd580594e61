"""Visit coverage (六必查六必访): the share of each cell's households visited lately, and the key households not.

A key household has an elderly person living alone (tag elderly_alone) or a key person (is_key_person or a
behaviour tag). Who they are is person-level data: the list goes only to roles in PERSON_LEVEL_ROLES;
everyone else gets the per-cell counts.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from data import small_counts
from data.coverage import CELLS, BadCoverage, run
from data.vocab import KEY_PERSON_TAGS, PERSON_LEVEL_ROLES

MAX_DAYS = 730
KEY_TAGS = "ARRAY[" + ", ".join(f"'{t}'" for t in sorted(KEY_PERSON_TAGS)) + "]::text[]"

# one row per household of the caller's cells; {since} and {until} bound the visits that count
HOUSEHOLDS = f"""
WITH cells AS ({CELLS}), hh AS (
  SELECT c.id AS cell_id, x.id, x.ref, x.unit, h.address,
         EXISTS (SELECT 1 FROM visit v WHERE v.household_id = x.id
                 AND v.visited_at > {{since}} AND v.visited_at <= {{until}}) AS visited,
         EXISTS (SELECT 1 FROM person p WHERE p.household_id = x.id AND 'elderly_alone' = ANY (p.tags))
           AS elderly_alone,
         EXISTS (SELECT 1 FROM person p WHERE p.household_id = x.id
                 AND (p.is_key_person OR p.tags && {KEY_TAGS})) AS key_person
  FROM cells c JOIN house h ON h.grid_id = c.id JOIN household x ON x.house_id = h.id
)"""

VISITS_SQL = HOUSEHOLDS + """
SELECT c.code, c.name, count(hh.id) AS households, count(hh.id) FILTER (WHERE hh.visited) AS visited,
       CASE WHEN count(hh.id) > 0
            THEN round(count(hh.id) FILTER (WHERE hh.visited)::numeric / count(hh.id), 4)::float8 END AS share,
       count(hh.id) FILTER (WHERE NOT hh.visited AND (hh.elderly_alone OR hh.key_person)) AS unvisited_key,
       count(hh.id) FILTER (WHERE NOT hh.visited AND hh.elderly_alone) AS unvisited_elderly_alone,
       count(hh.id) FILTER (WHERE NOT hh.visited AND hh.key_person) AS unvisited_key_person, c.geom
FROM cells c LEFT JOIN hh ON hh.cell_id = c.id
GROUP BY c.id, c.code, c.name, c.geom
"""

UNVISITED_SQL = HOUSEHOLDS + """
SELECT c.code AS grid, hh.id AS household_id, hh.ref, hh.address, hh.unit, hh.elderly_alone, hh.key_person,
       (SELECT max(v.visited_at) FROM visit v WHERE v.household_id = hh.id) AS last_visit,
       (SELECT array_agg(DISTINCT t ORDER BY t) FROM person p, unnest(p.tags) t
        WHERE p.household_id = hh.id AND (t = 'elderly_alone' OR t = ANY (""" + KEY_TAGS + """))) AS tags
FROM hh JOIN cells c ON c.id = hh.cell_id
WHERE NOT hh.visited AND (hh.elderly_alone OR hh.key_person)
ORDER BY c.code, hh.address, hh.unit NULLS FIRST, hh.id
"""


def check_days(days) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BadCoverage(f"days must be an integer from 1 to {MAX_DAYS}, got {days!r}", "days")
    return days


def visit_coverage(conn: Connection, as_of: datetime, days: int = 90, role: str = "analyst",
                   scope: tuple[str, ...] | None = None) -> dict:
    """Per cell: households, visited in the `days` before `as_of`, share (null for a cell with none)."""
    check_days(days)
    window = {"since": "CAST(:as_of AS timestamptz) - make_interval(days => :days)",
              "until": "CAST(:as_of AS timestamptz)"}
    fill = lambda sql: sql.replace("{since}", window["since"]).replace("{until}", window["until"])  # noqa: E731
    params = {"as_of": as_of, "days": days}
    rows = run(conn, "SELECT code, name, households, visited, share, unvisited_key, unvisited_elderly_alone, "
               "unvisited_key_person FROM (" + fill(VISITS_SQL) + ") t ORDER BY code", scope, **params)
    households, visited = sum(r["households"] for r in rows), sum(r["visited"] for r in rows)
    out = {"kind": "visits", "days": days, "as_of": as_of.isoformat(), "cells": rows,
           "totals": {"cells": len(rows), "households": households, "visited": visited,
                      "share": round(visited / households, 4) if households else None,
                      "unvisited_key": sum(r["unvisited_key"] for r in rows)}}
    if role not in PERSON_LEVEL_ROLES:  # like the residents layer: key-person counts only for person-level roles
        for r in rows:
            del r["unvisited_key"], r["unvisited_key_person"]
        del out["totals"]["unvisited_key"]
        small_counts.suppress(rows, ("unvisited_elderly_alone",))  # 1-4 people living alone can be named
    else:
        out["unvisited_key_households"] = [
            {**r, "last_visit": r["last_visit"].isoformat() if r["last_visit"] else None, "tags": r["tags"] or []}
            for r in run(conn, fill(UNVISITED_SQL), scope, **params)]
    return out
