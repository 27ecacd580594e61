"""Coverage of the district by its cells (gaps, overlaps), by full-time grid workers and by party branches.

Each analysis is one SQL template over the caller's current cells: the API fills it for a whole scope,
the catalogue layer of the same name for one tile (`{in_view:…}` keeps the cells the tile shows). Areas
and distances are measured in the UTM zone of the district's centroid, chosen from the data: within a
zone the scale error is under 0.04 %, far below what a grid boundary is drawn to.
"""
from __future__ import annotations

import re

from sqlalchemy import Connection, text

from data.errors import Refused

KINDS = ("grid", "visits", "reach", "staff", "party")
MIN_PIECE_M2 = 0.01  # a gap or overlap smaller than this is floating-point noise of the transform

# WGS 84 / UTM north (326xx) or south (327xx) zone of the centroid of the current top-level grids
METRIC_SRID = """(SELECT CASE WHEN ST_Y(c) >= 0 THEN 32600 ELSE 32700 END
                       + least(60, floor((ST_X(c) + 180) / 6)::int + 1)
                  FROM (SELECT ST_Centroid(ST_Collect(geom)) AS c FROM grid
                        WHERE valid_to IS NULL AND level = 'district') d)"""

# the caller's current cells; the layer adds the tile's bbox through {in_view:…}
CELLS = """SELECT g.id, g.code, g.name, g.geom FROM grid g {env}
WHERE g.valid_to IS NULL AND g.level = 'cell' {in_view:g.geom} {in_scope_grid:g.path}"""

_PIN_SCOPE = re.compile(r"\{in_scope_pin:([a-z_.]+)\}")
_GRID_SCOPE = re.compile(r"\{in_scope_grid:([a-z_.]+)\}")
_IN_VIEW = re.compile(r"\{in_view:([a-z_.]+)\}")


class BadCoverage(Refused):
    """A coverage parameter out of range; the body names the field."""


def for_scope(sql: str, scope: tuple[str, ...] | None) -> str:
    """A template filled for a whole scope (no tile): scope tests on :scope, no bbox."""
    sql = _IN_VIEW.sub("", sql.replace("{env}", ""))
    if scope is None:
        return _GRID_SCOPE.sub("", _PIN_SCOPE.sub("", sql))
    sql = _PIN_SCOPE.sub(lambda m: f" AND EXISTS (SELECT 1 FROM grid s WHERE s.id = {m.group(1)}"
                                   " AND s.path <@ CAST(:scope AS ltree[]))", sql)
    return _GRID_SCOPE.sub(lambda m: f" AND {m.group(1)} <@ CAST(:scope AS ltree[])", sql)


def for_tile(sql: str) -> str:
    """A template for a catalogue band: cells touching the tile; scope placeholders left to the renderer."""
    return _IN_VIEW.sub(lambda m: f" AND {m.group(1)} && env.bbox", sql.replace("{env}", ", env"))


def run(conn: Connection, sql: str, scope: tuple[str, ...] | None, **params) -> list[dict]:
    if scope is not None:
        params["scope"] = list(scope)
    return [dict(r._mapping) for r in conn.execute(text(for_scope(sql, scope)), params)]


def metric_srid(conn: Connection) -> int | None:
    return conn.execute(text(f"SELECT {METRIC_SRID}")).scalar_one()


# The reference area is the union of the scope's top grids (the district for an unrestricted caller); gaps
# are the part no cell covers, overlaps the pairs of cells whose interiors meet (DE-9IM 2********).
GRID_SQL = f"""
WITH srid AS (SELECT {METRIC_SRID} AS srid),
roots AS (
  SELECT r.geom FROM grid r
  WHERE r.valid_to IS NULL {{in_scope_grid:r.path}}
    AND NOT EXISTS (SELECT 1 FROM grid p WHERE p.valid_to IS NULL AND p.path @> r.path AND p.path <> r.path
                    {{in_scope_grid:p.path}})
), reference AS (
  SELECT ST_Transform({{clip}}, srid.srid) AS m FROM (SELECT ST_Union(geom) AS geom FROM roots) u, srid {{env}}
  WHERE u.geom IS NOT NULL
), cells AS (
  SELECT c.code, ST_Transform(c.geom, srid.srid) AS m FROM ({CELLS}) c, srid
), pieces AS (
  SELECT 'gap' AS kind, NULL::text AS cells,
         (ST_Dump(CASE WHEN u.m IS NULL THEN reference.m ELSE ST_Difference(reference.m, u.m) END)).geom AS m
  FROM reference, (SELECT ST_Union(m) AS m FROM cells) u
  UNION ALL
  SELECT 'overlap', a.code || ',' || b.code, (ST_Dump(ST_CollectionExtract(ST_Intersection(a.m, b.m), 3))).geom
  FROM cells a JOIN cells b ON a.code < b.code AND a.m && b.m AND ST_Relate(a.m, b.m, '2********')
  UNION ALL
  SELECT 'checked', NULL, m FROM reference  -- the area checked, so a map with no gaps says so
)
SELECT kind, cells, round(ST_Area(m)::numeric, 2)::float8 AS area_m2, ST_Transform(m, 4326) AS geom
FROM pieces WHERE ST_Area(m) >= {MIN_PIECE_M2}
"""
GRID_TOTALS_SQL = f"""
WITH srid AS (SELECT {METRIC_SRID} AS srid)
SELECT srid.srid, round(ST_Area(ST_Transform(ST_Union(r.geom), srid.srid))::numeric, 2)::float8 AS area_m2,
       (SELECT count(*) FROM ({CELLS}) c) AS cells
FROM grid r, srid
WHERE r.valid_to IS NULL {{in_scope_grid:r.path}}
  AND NOT EXISTS (SELECT 1 FROM grid p WHERE p.valid_to IS NULL AND p.path @> r.path AND p.path <> r.path
                  {{in_scope_grid:p.path}})
GROUP BY srid.srid
"""


def grid_coverage(conn: Connection, scope: tuple[str, ...] | None = None) -> dict:
    """Area of the scope not covered by any current cell, and overlaps between cells, in m² (both should be 0)."""
    totals = run(conn, GRID_TOTALS_SQL, scope)
    pieces = run(conn, "SELECT kind, cells, area_m2, ST_AsGeoJSON(geom, 7)::json AS geometry FROM ("
                 + GRID_SQL.replace("{clip}", "u.geom") + ") p WHERE kind <> 'checked' ORDER BY kind, area_m2 DESC", scope)
    head = totals[0] if totals else {"srid": None, "area_m2": 0.0, "cells": 0}
    gaps = [p for p in pieces if p["kind"] == "gap"]
    overlaps = [{**p, "cells": p["cells"].split(",")} for p in pieces if p["kind"] == "overlap"]
    return {"kind": "grid", "srid": head["srid"], "area_m2": head["area_m2"], "cells": head["cells"],
            "gap_m2": round(sum(p["area_m2"] for p in gaps), 2),
            "overlap_m2": round(sum(p["area_m2"] for p in overlaps), 2),
            "gaps": [{"area_m2": p["area_m2"], "geometry": p["geometry"]} for p in gaps],
            "overlaps": [{"cells": p["cells"], "area_m2": p["area_m2"], "geometry": p["geometry"]} for p in overlaps]}


# households per active full-time worker (staff.role 'worker') of the cell, against the configured band
STAFF_SQL = f"""
WITH cells AS ({CELLS}), counted AS (
  SELECT c.code, c.name, c.geom,
         (SELECT count(*) FROM house h JOIN household x ON x.house_id = h.id WHERE h.grid_id = c.id) AS households,
         (SELECT count(*) FROM staff s WHERE s.grid_code = c.code AND s.role = 'worker' AND s.active) AS workers
  FROM cells c
)
SELECT code, name, households, workers,
       CASE WHEN workers > 0 THEN round(households::numeric / workers, 1)::float8 END AS per_worker,
       CASE WHEN workers = 0 THEN 'unstaffed' WHEN households < {{low}} * workers THEN 'under'
            WHEN households > {{high}} * workers THEN 'over' ELSE 'within' END AS load, geom
FROM counted
"""
LOADS = ("under", "within", "over", "unstaffed")


def staff_load(conn: Connection, band: tuple[int, int] = (300, 500), scope: tuple[str, ...] | None = None) -> dict:
    low, high = band
    rows = run(conn, "SELECT code, name, households, workers, per_worker, load FROM ("
               + STAFF_SQL.replace("{low}", ":low").replace("{high}", ":high") + ") t ORDER BY code",
               scope, low=low, high=high)
    return {"kind": "staff", "band": [low, high], "cells": rows,
            "totals": {"cells": len(rows), "households": sum(r["households"] for r in rows),
                       "workers": sum(r["workers"] for r in rows),
                       **{load: sum(r["load"] == load for r in rows) for load in LOADS}}}


# a party branch counts for the cell it is pinned in (organization.grid_id, the database's own assignment)
PARTY_SQL = f"""
WITH cells AS ({CELLS})
SELECT c.code, c.name,
       (SELECT count(*) FROM organization o WHERE o.grid_id = c.id AND o.kind = 'party_branch') AS party_branches,
       c.geom
FROM cells c
"""


def party_coverage(conn: Connection, scope: tuple[str, ...] | None = None) -> dict:
    rows = run(conn, "SELECT code, name, party_branches, party_branches > 0 AS covered FROM ("
               + PARTY_SQL + ") t ORDER BY code", scope)
    return {"kind": "party", "cells": rows,
            "totals": {"cells": len(rows), "covered": sum(r["covered"] for r in rows),
                       "without_branch": [r["code"] for r in rows if not r["covered"]]}}
