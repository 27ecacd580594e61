"""Writing an applied edit's grid versions, and re-deriving the pins where shapes changed.

A changed grid keeps its row, and so its id: the old version is first copied to a closed row (history
is never overwritten) and the row then takes the new shape and version. Pins that stay in the grid
are not rewritten, so an edge move costs the pins along the edge, not every pin of the grids it
touches. Retired grids are closed; new grids (and revived codes) are inserted. The grid triggers
stand aside for the transaction (`minqing.grid_refresh`) and `grid_edit_refresh` (migration 0008)
rebuilds the changed leaf pieces once and moves exactly the pins in the changed area.
"""
from __future__ import annotations

import json

import shapely
from sqlalchemy import Connection, text

KEEP_ROW_SQL = text("""
WITH i AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i(id bigint, version int, hex text, name text)),
old AS (SELECT g.* FROM grid g JOIN i ON g.id = i.id),
kept AS (
  UPDATE grid g SET geom = ST_Multi(ST_SetSRID(ST_GeomFromWKB(decode(i.hex, 'hex')), 4326)), version = i.version,
                    name = coalesce(i.name, g.name), valid_from = now(), changed_by = :who, change_note = :note
  FROM i WHERE g.id = i.id
  RETURNING g.id)
INSERT INTO grid (code, name, level, kind, dedicated_for, geom, leader, household_target, version, valid_from,
                  valid_to, changed_by, change_note)
SELECT code, name, level, kind, dedicated_for, geom, leader, household_target, version, valid_from, now(),
       changed_by, change_note
FROM old WHERE id IN (SELECT id FROM kept)
""")

INSERT_SQL = text("""
INSERT INTO grid (code, name, level, kind, dedicated_for, geom, leader, household_target, version,
                  changed_by, change_note)
SELECT i.code, coalesce(i.name, last.name, p.name || ' ' || split_part(i.code, '.', nlevel(i.code::ltree))),
       coalesce(last.level, CASE nlevel(p.path) WHEN 1 THEN 'street' WHEN 2 THEN 'community' ELSE 'cell' END),
       coalesce(last.kind, 'regular'), last.dedicated_for,
       ST_Multi(ST_SetSRID(ST_GeomFromWKB(decode(i.hex, 'hex')), 4326)), last.leader, last.household_target,
       i.version, :who, :note
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i(code text, version int, hex text, name text)
JOIN grid p ON p.code = :parent AND p.valid_to IS NULL
LEFT JOIN LATERAL (SELECT * FROM grid l WHERE l.code = i.code ORDER BY version DESC LIMIT 1) last ON true
RETURNING id
""")


def write(conn: Connection, plan, names: dict[str, str | None], retire: list[int], area: bytes,
          who: str, note: str) -> tuple[dict[str, int], list]:
    """Write the plan's shapes as new versions; returns code -> new version and the pins that moved."""
    versions = dict(conn.execute(text("SELECT code, max(version) FROM grid WHERE code = ANY(:c) GROUP BY code"),
                                 {"c": list(plan.codes.values())}).all())
    kept, inserted = [], []
    for label, shape in plan.shapes.items():
        code = plan.codes[label]
        row = {"version": versions.get(code, 0) + 1, "hex": shapely.to_wkb(shape).hex(), "name": names.get(label)}
        if code in plan.current:
            kept.append(row | {"id": plan.current[code]["id"]})
        else:
            inserted.append(row | {"code": code})
    conn.execute(text("SELECT set_config('minqing.grid_refresh', 'edit', true)"))
    conn.execute(text("UPDATE grid SET valid_to = now() WHERE id = ANY(:ids)"), {"ids": retire})
    if kept:
        conn.execute(KEEP_ROW_SQL, {"rows": json.dumps(kept), "who": who, "note": note})
    new_ids = conn.execute(INSERT_SQL, {"rows": json.dumps(inserted), "who": who, "note": note,
                                        "parent": plan.parent}).scalars().all() if inserted else []
    moved = conn.execute(text("SELECT * FROM grid_edit_refresh(:ids, ST_SetSRID(ST_GeomFromWKB(:area), 4326))"),
                         {"ids": [r["id"] for r in kept] + retire + list(new_ids), "area": area}).all()
    conn.execute(text("SELECT set_config('minqing.grid_refresh', '', true)"))
    return {plan.codes[label]: versions.get(plan.codes[label], 0) + 1 for label in plan.shapes}, moved
