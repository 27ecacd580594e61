"""Vector tiles, TileJSON, the layer catalogue and "what is here" over HTTP."""
from __future__ import annotations

import gzip

import numpy as np
import orjson
import shapely
import shapely.geometry
from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import text

from data import crs as coordinates
from data.selection import BadSelection, EventSelection
from layers import catalogue
from layers.errors import BadFilter, UnknownLayer
from layers.identify import check_point, identify
from layers.datum import parse_datum
from layers.tiles import MAX_ZOOM, check_zoom, parse_tile, render
from mapserver import caller, db, versions

bp = Blueprint("tiles", __name__)

MVT = "application/vnd.mapbox-vector-tile"


@bp.get("/tiles/<layer_id>/<z>/<x>/<y>.pbf")
def tile(layer_id: str, z: str, x: str, y: str):
    layer = catalogue.get(layer_id)  # 404 before any database work
    address = parse_tile(z, x, y)  # 400 before any database work
    check_zoom(layer, address)
    datum = parse_datum(request.args.get("datum"))
    snap = versions.snapshot()  # from the worker's cache unless it is older than the TTL
    # the same selection as /api/events, so the map and the API count the same events; a drawn area
    # travels as GeoJSON text in `geometry`
    filters = None
    if layer.filters:
        raw = request.args.get("geometry")
        try:  # orjson: NaN, Infinity and nesting past 1,024 levels are errors, not a 500
            geometry = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise BadSelection("geometry must be GeoJSON", "geometry") from None
        filters = EventSelection.parse(request.args, snap.categories, snap.departments, geometry=geometry)
    who = caller.current()
    scope = who.scope_filter
    tag = versions.etag(catalogue.fingerprint(), layer.id, address, datum, who.role, scope,
                        filters.key() if filters else "",
                        *(snap.versions.get(t) for t in layer.reads))
    headers = {"ETag": f'W/"{tag}"', "Vary": "Accept-Encoding, X-Demo-User", "Cache-Control": "private, no-cache"}
    if request.if_none_match.contains_weak(tag):
        return Response(status=304, headers=headers)
    filter_sql, params = filters.where("e") if filters else ("", {})
    body = render(db.connection(), layer, address, who.role, filter_sql, params, scope=scope, datum=datum)
    if not body:
        return Response(status=204, headers=headers)
    response = Response(body, mimetype=MVT, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(gzip.compress(body, compresslevel=1))  # level 1: most of the saving, little CPU
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.get("/tiles/<layer_id>.json")
def tilejson(layer_id: str):
    layer = catalogue.get(layer_id)
    datum = parse_datum(request.args.get("datum"))
    bounds = db.connection().execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        "(SELECT ST_Extent(geom) AS e FROM grid WHERE valid_to IS NULL AND level = 'district') d")).one()
    role = caller.current().role
    # the datum travels in the tile URLs, so a client set up from this document lines up with its basemap
    template = url_for("tiles.tile", layer_id=layer.id, z=0, x=0, y=0, _external=True,
                       **({"datum": datum} if request.args.get("datum") else {}))
    return jsonify({
        "tilejson": "3.0.0",
        "name": layer.title,
        "description": f"{layer.title} {layer.title_en}. {layer.description}".strip(),
        "attribution": layer.attribution,
        "tiles": [template.replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf", 1)],
        "minzoom": layer.minzoom,
        "maxzoom": min(layer.maxzoom, MAX_ZOOM),
        "bounds": list(bounds) if bounds[0] is not None else [-180, -85.0511, 180, 85.0511],
        "vector_layers": [{
            "id": layer.id,
            "description": layer.title,
            "minzoom": layer.minzoom,
            "maxzoom": layer.maxzoom,
            "fields": {name: "see the catalogue at /layers" for name in layer.visible(role)},
        }],
    })


@bp.get("/layers")
def layers():
    return jsonify(layers=[{
        "id": layer.id,
        "title": layer.title,
        "title_en": layer.title_en,
        "geometry": layer.geometry,
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bands": [{"minzoom": b.minzoom, "maxzoom": b.maxzoom, "aggregate": b.aggregate, "columns": list(b.columns)}
                  for b in layer.bands],
        "filters": list(layer.filters),
        "style": layer.style,
        "legend": [vars(entry) for entry in layer.legend],
        "tilejson": url_for("tiles.tilejson", layer_id=layer.id),
    } for layer in catalogue.all_layers()])


def _number(name: str, default: float | None = None) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadFilter(f"{name} is required", name)
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadFilter(f"{name} must be a number, got {raw!r}", name) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadFilter(f"{name} must be a finite number", name)
    return value


@bp.get("/api/identify")
def identify_here():
    lon, lat, radius = _number("lon"), _number("lat"), _number("radius", 25.0)
    # each layer once, and no more layers than the catalogue has: one query per layer
    wanted = list(dict.fromkeys(w for w in request.args.get("layers", "").split(",") if w)) \
        or [l.id for l in catalogue.all_layers()]
    try:
        chosen = [catalogue.get(w) for w in wanted]
    except UnknownLayer as exc:
        raise BadFilter(str(exc), "layers") from None
    crs = _crs()
    if crs is not None:
        (lon,), (lat,) = coordinates.to_wgs84([lon], [lat], crs)
    check_point(lon, lat, radius)
    who = caller.current()
    scope = who.scope_filter
    features = [f for layer in chosen
                for f in identify(db.connection(), layer, lon, lat, who.role, radius, scope)]
    if crs is not None:
        for feature in features:
            feature["geometry"] = _geometry_in(feature["geometry"], crs)
    return jsonify(type="FeatureCollection", features=features)


def _crs():
    """`crs` for coordinates in and out (gcj02, bd09, an EPSG code), None for WGS 84."""
    raw = request.args.get("crs") or None
    try:
        return None if coordinates.resolve(raw) == coordinates.WGS84 else raw
    except coordinates.UnknownCRS as exc:
        raise BadFilter(str(exc), "crs") from None


def _geometry_in(geometry: dict, crs: str) -> dict:
    """A WGS 84 GeoJSON geometry with every vertex converted to `crs`."""
    moved = shapely.transform(shapely.geometry.shape(geometry),
                              lambda pts: np.column_stack(coordinates.from_wgs84(pts[:, 0], pts[:, 1], crs)))
    return shapely.geometry.mapping(moved)
