"""Any layer as an RFC 7946 FeatureCollection for a bounding box and zoom, from the band's own SQL.

For notebooks and exports that want features rather than tiles: the same statement that draws the
tile at zoom `z`, with the box standing in for the tile.
"""
from __future__ import annotations

import json

from sqlalchemy import Connection, text

from layers.catalogue import Layer
from layers.errors import BadFilter, BadTileRequest
from layers.tiles import band_sql, json_properties, scope_values

GEOJSON_SQL = """
WITH env AS (
  SELECT ST_Transform(b, 3857) AS tile, b AS bbox FROM ST_MakeEnvelope(:west, :south, :east, :north, 4326) AS b
), src AS (
  {band}
)
SELECT json_build_object({properties}) AS properties, ST_AsGeoJSON(src.geom, 7)::json AS geometry FROM src
"""


def feature_collection(conn: Connection, layer: Layer, bbox: tuple[float, float, float, float], z: int,
                       role: str = "admin", filter_sql: str = "", params: dict | None = None,
                       scope: tuple[str, ...] | None = None) -> dict:
    """Features of `layer` inside `bbox` (west, south, east, north in WGS 84) as drawn at zoom `z`."""
    west, south, east, north = bbox
    if not (-180 <= west < east <= 180 and -85.06 <= south < north <= 85.06):
        raise BadFilter(f"bbox must be west,south,east,north within WGS 84 bounds, got {bbox}", "bbox")
    band = layer.band(z)
    if band is None:
        raise BadTileRequest(f"layer {layer.id} is served at zooms {layer.minzoom}–{layer.maxzoom}, not {z}", "z")
    sql = GEOJSON_SQL.format(band=band_sql(band, filter_sql, restricted=scope is not None),
                             properties=json_properties(layer, role, layer.visible(role, z)))
    values = {"west": west, "south": south, "east": east, "north": north, "z": z, **(params or {})}
    values.update(scope_values(scope))
    rows = conn.execute(text(sql), values).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": r.properties or {},
         "geometry": r.geometry if isinstance(r.geometry, dict) else json.loads(r.geometry)} for r in rows]}
