"""`/api/basemap`: the configured basemap, and the datum pages should ask overlays in to line up with it."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from data.settings import BASEMAP_DATUMS

bp = Blueprint("basemap", __name__)


@bp.get("/api/basemap")
def basemap():
    settings = current_app.extensions["minqing.settings"]
    # CGCS2000 and WGS 84 differ by centimetres: only a GCJ-02 basemap needs shifted overlays
    overlay = "gcj02" if settings.basemap_datum == "gcj02" else "wgs84"
    return jsonify(url=settings.basemap_url or None, attribution=settings.basemap_attribution,
                   datum=settings.basemap_datum, maxzoom=settings.basemap_maxzoom,
                   tiles_datum=overlay, api_crs=overlay)


OPENAPI_PATHS = {
    "/api/basemap": {"get": {
        "summary": "The basemap pages draw under the layers, and the datum to request overlays in",
        "description": (
            "`url` is an XYZ or WMTS-KVP template with {z} {x} {y} (null: no external basemap, the grid layers "
            "are the base, so pages work offline). With a GCJ-02 basemap (AMap, Tencent) ask tiles with "
            "`?datum=` `tiles_datum` and coordinates with `?crs=` `api_crs` so overlays line up."),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
            "type": "object", "required": ["url", "attribution", "datum", "maxzoom", "tiles_datum", "api_crs"],
            "properties": {
                "url": {"type": ["string", "null"]}, "attribution": {"type": "string"},
                "datum": {"enum": list(BASEMAP_DATUMS)}, "maxzoom": {"type": "integer", "minimum": 0, "maximum": 22},
                "tiles_datum": {"enum": ["wgs84", "gcj02"]}, "api_crs": {"enum": ["wgs84", "gcj02"]}}}}}}}}},
}
