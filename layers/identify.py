"""What is here: the features of some layers under a point, with the attributes the role may see.

Reuses each layer's own closest-zoom SQL with a small box around the point as its `env`, so a
click answers from the same statement that drew the tile (Leaflet.VectorGrid's own click events
are broken with Leaflet >= 1.8, hence a server lookup).
"""
from __future__ import annotations

import json

from sqlalchemy import Connection, text

from layers.catalogue import Layer
from layers.errors import BadFilter
from layers.tiles import band_sql, json_properties, scope_values

MAX_RADIUS_M = 500.0
MAX_FEATURES = 20

IDENTIFY_SQL = """
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom),
env AS (
  SELECT ST_Expand(ST_Transform(pt.geom, 3857), :reach) AS tile,
         ST_Transform(ST_Expand(ST_Transform(pt.geom, 3857), :reach), 4326) AS bbox
  FROM pt
), src AS (
  {band}
)
SELECT json_build_object({properties}) AS properties, ST_AsGeoJSON(src.geom, 7)::json AS geometry
FROM src, pt
WHERE {hit}
ORDER BY ST_Distance(src.geom::geography, pt.geom::geography)
LIMIT {limit}
"""


def check_point(lon: float, lat: float, radius: float) -> None:
    if not (-180 <= lon <= 180):
        raise BadFilter(f"lon must be between -180 and 180, got {lon}", "lon")
    if not (-90 <= lat <= 90):
        raise BadFilter(f"lat must be between -90 and 90, got {lat}", "lat")
    if not (0 < radius <= MAX_RADIUS_M):
        raise BadFilter(f"radius must be in (0, {MAX_RADIUS_M:g}] metres, got {radius}", "radius")


def identify(conn: Connection, layer: Layer, lon: float, lat: float, role: str, radius: float = 25.0,
             scope: tuple[str, ...] | None = None) -> list[dict]:
    """GeoJSON features of `layer` at the point (polygons covering it, points within `radius` metres)."""
    check_point(lon, lat, radius)
    band = max(layer.bands, key=lambda b: b.maxzoom)
    columns = [c for c in band.columns if c in layer.visible(role)]
    hit = ("ST_Covers(src.geom, pt.geom)" if layer.geometry == "polygon"
           else "ST_DWithin(src.geom::geography, pt.geom::geography, :radius)")
    sql = IDENTIFY_SQL.format(band=band_sql(band, restricted=scope is not None),
                              properties=json_properties(layer, role, columns), hit=hit, limit=MAX_FEATURES)
    # Web Mercator metres stretch by 1/cos(lat): reach far enough that the true radius fits in the box
    values = {"lon": lon, "lat": lat, "radius": radius, "reach": radius * 2.5}
    values.update(scope_values(scope))
    rows = conn.execute(text(sql), values).all()
    return [{"type": "Feature", "properties": {"layer": layer.id, **(r.properties or {})},
             "geometry": r.geometry if isinstance(r.geometry, dict) else json.loads(r.geometry)} for r in rows]
