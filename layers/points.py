"""SQL shared by point layers: exact per-cell aggregates, snapped clusters, and single points.

Aggregate and cluster rows are placed in exactly one tile (half-open tile bounds in Web Mercator),
and count every matching row of their cell or cluster, so counts summed over the tiles covering an
area equal a plain count over that area: complete at every zoom, and small.
"""
from __future__ import annotations

from layers.catalogue import Band

# one point per current leaf grid, at a point inside it, counting the grid's rows that match: one
# grouped scan joined to the placed grids (a per-grid subquery was 40x slower at city scale)
PER_CELL = """
WITH hit AS (
  SELECT g.id, ST_PointOnSurface(g.geom) AS geom, g.code, g.name
  FROM grid g, env
  WHERE g.valid_to IS NULL AND g.geom && env.bbox {in_scope_grid:g.path}
    AND EXISTS (SELECT 1 FROM grid_leaf_piece l WHERE l.grid_id = g.id)
), placed AS (
  SELECT hit.* FROM hit, env, LATERAL ST_Transform(hit.geom, 3857) AS m
  WHERE ST_X(m) >= ST_XMin(env.tile) AND ST_X(m) < ST_XMax(env.tile)
    AND ST_Y(m) >= ST_YMin(env.tile) AND ST_Y(m) < ST_YMax(env.tile)
), agg AS (
  {aggregate}
)
SELECT placed.code, placed.name, agg.*, placed.geom
FROM placed JOIN agg ON agg.grid_id = placed.id
"""

# rows of the exact tile (half-open) snapped to a square of `pixels` tile pixels, counted per square
CLUSTERED = """
WITH m AS (
  SELECT {columns}, ST_Transform({alias}.geom, 3857) AS g3857
  FROM {table} {alias}, env
  WHERE {alias}.geom && env.bbox {where} {in_scope_pin:{alias}.grid_id}
), inside AS (
  SELECT m.* FROM m, env
  WHERE ST_X(g3857) >= ST_XMin(env.tile) AND ST_X(g3857) < ST_XMax(env.tile)
    AND ST_Y(g3857) >= ST_YMin(env.tile) AND ST_Y(g3857) < ST_YMax(env.tile)
), cell AS (
  SELECT inside.*, floor((ST_X(g3857) - ST_XMin(env.tile)) / ((ST_XMax(env.tile) - ST_XMin(env.tile)) / {cells}))
           AS i,
         floor((ST_Y(g3857) - ST_YMin(env.tile)) / ((ST_YMax(env.tile) - ST_YMin(env.tile)) / {cells})) AS j
  FROM inside, env
)
SELECT {summary},
       ST_Transform(ST_SetSRID(ST_MakePoint(
         ST_XMin(env.tile) + (i + 0.5) * (ST_XMax(env.tile) - ST_XMin(env.tile)) / {cells},
         ST_YMin(env.tile) + (j + 0.5) * (ST_YMax(env.tile) - ST_YMin(env.tile)) / {cells}), 3857), 4326) AS geom
FROM cell, env
GROUP BY i, j, env.tile
"""


def per_cell_band(minzoom: int, maxzoom: int, aggregate: str, columns: tuple[str, ...]) -> Band:
    """`aggregate` selects `grid_id` and counts (one named `count`) for rows WHERE grid_id IN
    (SELECT id FROM placed), GROUP BY grid_id."""
    return Band(minzoom, maxzoom, PER_CELL.replace("{aggregate}", aggregate), ("code", "name", *columns),
                aggregate=True)


def clustered_band(minzoom: int, maxzoom: int, table: str, alias: str, row_columns: str, summary: str,
                   columns: tuple[str, ...], cells: int = 64, where: str = "{filters}") -> Band:
    """`{filters}` (and any other placeholder in `where`) stays in the SQL for the tile renderer to fill."""
    sql = (CLUSTERED.replace("{columns}", row_columns).replace("{table}", table).replace("{alias}", alias)
           .replace("{where}", where).replace("{summary}", summary).replace("{cells}", str(cells)))
    return Band(minzoom, maxzoom, sql, columns, aggregate=True)


def pinned_layer_bands(table: str, columns_sql: str, columns: tuple[str, ...], points_from: int,
                       count_sql: str = "count(*) AS count", count_columns: tuple[str, ...] = ("count",),
                       minzoom: int = 8) -> tuple[Band, ...]:
    """Per-grid counts below `points_from`, single pins from there on, for a table pinned to grids."""
    per_cell = per_cell_band(minzoom, points_from - 1,
                             f"SELECT p.grid_id, {count_sql} FROM {table} p "
                             "WHERE p.grid_id IN (SELECT id FROM placed) GROUP BY p.grid_id", count_columns)
    points = Band(points_from, 22, f"SELECT {columns_sql}, p.geom FROM {table} p, env "
                                   "WHERE p.geom && env.bbox {in_scope_pin:p.grid_id}", columns)
    return per_cell, points
