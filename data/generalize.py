"""Grid polygons simplified per zoom band as one coverage, so neighbours keep their shared edges.

PostGIS 3.3 has no ST_CoverageSimplify; shapely's coverage_simplify (GEOS >= 3.12) does this.
Whoever changes grids calls `refresh` in the same transaction (the demo load, the grid loader,
boundary edits), so tiles never mix old and new shapes.
"""
from __future__ import annotations

from types import MappingProxyType

import shapely
from sqlalchemy import Connection, text

# band -> (max zoom it serves, tolerance in degrees ≈ two 4096-extent tile pixels at that zoom, 36°N)
BANDS = MappingProxyType({0: (10, 0.00017), 1: (13, 0.00002)})
FINEST_BAND_ZOOM = 14  # from here on tiles use the stored geometry itself



LEVELS = ("district", "street", "community", "cell")


def refresh(conn: Connection, levels: tuple[str, ...] = LEVELS) -> int:
    """Rebuild the generalised shapes of every current grid at `levels` (a boundary edit changes one
    level), and drop those of closed grids; returns rows written."""
    conn.execute(text("DELETE FROM grid_shape s USING grid g WHERE g.id = s.grid_id "
                      "AND (g.level = ANY(:levels) OR g.valid_to IS NOT NULL)"), {"levels": list(levels)})
    written = 0
    for level in levels:
        rows = conn.execute(text(
            "SELECT id, ST_AsBinary(geom) FROM grid WHERE valid_to IS NULL AND level = :level ORDER BY code"),
            {"level": level}).all()
        if not rows:
            continue
        ids = [r[0] for r in rows]
        geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
        for band, (_, tolerance) in BANDS.items():
            simple = shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
            simple = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in simple]
            conn.execute(text(
                "INSERT INTO grid_shape (grid_id, band, geom) "
                "SELECT unnest(CAST(:ids AS bigint[])), :band, "
                "ST_SetSRID(ST_GeomFromWKB(unnest(CAST(:wkb AS bytea[]))), 4326)"),
                {"ids": ids, "band": band, "wkb": [shapely.to_wkb(g) for g in simple]})
            written += len(ids)
    return written
