"""Any layer as a Mapbox Vector Tile, built in PostGIS with only a database connection."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from data.actors import CaseScope
from layers import datum as datums
from layers.catalogue import Layer
from layers.errors import BadTileRequest

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
_INTEGER = re.compile(r"^[0-9]{1,8}$")

# env: `tile`, where the band's rows truly are, in Web Mercator and, for index-friendly filtering in the
# tables' own SRID, `bbox`, that plus its buffer in WGS 84 (a Mercator tile is a lon/lat rectangle, so the
# transform is exact); `clip`, the tile the MVT is cut to. They differ only in another datum: there `tile`
# is the clip mapped back to true positions and each geometry is moved forward before it is cut.
TILE_SQL = """
WITH env AS (
  SELECT {tile} AS tile, ST_TileEnvelope(:z, :x, :y) AS clip,
         ST_Transform({margin}, 4326) AS bbox
), src AS (
  {band}
), mvt AS (
  SELECT ST_AsMVTGeom({moved}, env.clip, {extent}, {buffer}, true) AS geom{columns}
  FROM src, env, LATERAL ST_Transform(src.geom, 3857) AS true_place(place){cell}
)
SELECT ST_AsMVT(mvt.*, '{layer}', {extent}, 'geom') FROM mvt WHERE geom IS NOT NULL
"""
TILE = "ST_TileEnvelope(:z, :x, :y)"
MARGIN = "ST_TileEnvelope(:z, :x, :y, margin => {margin})"


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int


def parse_tile(z: str | int, x: str | int, y: str | int) -> TileAddress:
    """Integers with 0 <= x, y < 2^z and z <= MAX_ZOOM, checked before any database work."""
    parts = {}
    for name, value in (("z", z), ("x", x), ("y", y)):
        if isinstance(value, int):
            parts[name] = value
        elif isinstance(value, str) and _INTEGER.match(value):
            parts[name] = int(value)
        else:
            raise BadTileRequest(f"{name} must be a non-negative integer, got {value!r}", name)
    if parts["z"] > MAX_ZOOM:
        raise BadTileRequest(f"z must be between 0 and {MAX_ZOOM}, got {parts['z']}", "z")
    size = 1 << parts["z"]
    for name in ("x", "y"):
        if parts[name] >= size:
            raise BadTileRequest(f"{name} must be between 0 and {size - 1} at zoom {parts['z']}, got {parts[name]}",
                                 name)
    return TileAddress(**parts)


def check_zoom(layer: Layer, tile: TileAddress) -> None:
    if layer.band(tile.z) is None:
        raise BadTileRequest(f"layer {layer.id} is served at zooms {layer.minzoom}–{layer.maxzoom}, not {tile.z}", "z")


_CASE_SCOPE = re.compile(r"\{in_department:([a-z_]+)\}")
_RUN_SCOPE = re.compile(r"\{run_scope:([a-z_]+)\}")
# an analysis run (data/analysis_runs.py) shows to the scope it was computed for: the same grid codes (in
# any order) and department, or for an unrestricted caller a run computed over everything
_RUN_FOR = (" AND {r}.params->'scope' <> 'null'::jsonb AND (SELECT array_agg(x ORDER BY x) FROM"
            " jsonb_array_elements_text({r}.params->'scope') x) = (SELECT array_agg(x ORDER BY x) FROM"
            " unnest(CAST(:scope AS text[])) x) AND ({r}.params->>'department')::bigint IS NOT DISTINCT FROM"
            " CAST(:scope_department AS bigint)")
_PIN_SCOPE = re.compile(r"\{in_scope_pin:([a-z_.]+)\}")
_GRID_SCOPE = re.compile(r"\{in_scope_grid:([a-z_.]+)\}")


def scoped(sql: str, scope: tuple[str, ...] | None) -> str:
    """Fill the band's scope placeholders: nothing for an unrestricted caller, else a subtree test.

    `{in_scope_pin:p.grid_id}` keeps rows pinned in the caller's grids, `{in_scope_grid:g.path}` keeps
    grids inside them; the codes travel as the bound parameter :scope, never as SQL text.
    """
    if scope is None:
        sql = _RUN_SCOPE.sub(lambda m: f" AND {m.group(1)}.params->'scope' = 'null'::jsonb", sql)
        return _GRID_SCOPE.sub("", _PIN_SCOPE.sub("", _CASE_SCOPE.sub("", sql)))
    sql = _RUN_SCOPE.sub(lambda m: _RUN_FOR.format(r=m.group(1)), sql)
    # `{in_department:e}` on an event row: a department's scope reads only the cases dispatched to it
    sql = _CASE_SCOPE.sub(lambda m: (f" AND (CAST(:scope_department AS bigint) IS NULL OR {m.group(1)}.department_id"
                                     f" = :scope_department OR :scope_department = ANY({m.group(1)}.joint_department_ids))"),
                          sql)
    sql = _PIN_SCOPE.sub(lambda m: " AND EXISTS (SELECT 1 FROM grid s WHERE s.id = " + m.group(1)
                         + " AND s.path <@ CAST(:scope AS ltree[]))", sql)
    return _GRID_SCOPE.sub(lambda m: " AND " + m.group(1) + " <@ CAST(:scope AS ltree[])", sql)


def scope_values(scope: tuple[str, ...] | None) -> dict:
    """The bound parameters of a restricted band: its grid codes and, for a department, its id (-1: none)."""
    if scope is None:
        return {}
    department = (scope.department_id if scope.department_id is not None else -1) \
        if isinstance(scope, CaseScope) else None
    return {"scope": list(scope), "scope_department": department}


def band_sql(band, filter_sql: str = "", restricted: bool = False) -> str:
    """A band's SQL with its placeholders filled: scope test (if restricted) and filter clauses."""
    return scoped(band.sql, () if restricted else None).replace("{filters}", filter_sql)


def json_properties(layer: Layer, role: str, columns) -> str:
    """`json_build_object` arguments for these source columns (names from the catalogue, never users)."""
    return ", ".join(f"'{c}', {layer.value_sql(c, role)}" for c in columns) or "'layer', NULL"


def tile_sql(layer: Layer, z: int, role: str, filter_sql: str = "", restricted: bool = False,
             datum: str = "wgs84") -> str:
    """The statement for one layer, zoom band, role, filter shape and datum: the same inputs give the same
    text, so the driver prepares it once per connection and every later tile skips planning."""
    band = layer.band(z)
    columns = "".join(f', {layer.value_sql(c, role)} AS "{c}"' for c in layer.visible(role, z))
    tile, margin, moved, cell = TILE, MARGIN.format(margin=BUFFER / EXTENT), "true_place.place", ""
    if datum in datums.SHIFTED:
        tile, margin = datums.BACKWARD.format(g=tile), datums.BACKWARD.format(g=margin)
        moved, cell = (sql.replace("{g}", "true_place.place") for sql in (datums.FORWARD, datums.CELL))
    return TILE_SQL.format(band=band_sql(band, filter_sql, restricted), columns=columns, layer=layer.id,
                           extent=EXTENT, buffer=BUFFER, tile=tile, margin=margin, moved=moved, cell=cell)


def render(conn: Connection, layer: Layer, tile: TileAddress, role: str, filter_sql: str = "",
           params: dict | None = None, scope: tuple[str, ...] | None = None, datum: str = "wgs84") -> bytes:
    """MVT bytes (b'' for an empty tile); `scope` None means everything, else the visible grid codes;
    `datum` gcj02 draws every feature where a GCJ-02 basemap (AMap, Tencent) shows its place."""
    check_zoom(layer, tile)
    datum = datums.parse_datum(datum)
    statement = text(tile_sql(layer, tile.z, role, filter_sql, restricted=scope is not None, datum=datum))
    values = {"z": tile.z, "x": tile.x, "y": tile.y, **datums.params(tile.z, tile.x, tile.y, datum), **(params or {})}
    values.update(scope_values(scope))
    return bytes(conn.execute(statement, values).scalar_one() or b"")
