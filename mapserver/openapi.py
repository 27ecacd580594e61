"""`/openapi.json`: the API described in OpenAPI 3.1, whose schemas the tests validate responses against."""
from __future__ import annotations

from flask import Blueprint, jsonify

from data.event_query import MAX_LIMIT, SORTS
from data.event_stats import GROUPS, PERIODS
from data.vocab import EVENT_SOURCES, EVENT_STATUSES, HANDLING_LEVELS, LEVEL_DEPTH
from layers import catalogue
from mapserver import api_coverage, api_grid_edits, api_grid_split, api_workflow, basemap, citizen, command, open311, stream
from mapserver import analyst_maps, api_analysis, auth, grid_editor
from mapserver import api_persons

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict, description: str, required: bool = False, explode: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description,
            **({"style": "form", "explode": True} if explode else {})}


ERRORS = {str(code): _json(_ref("Error"), reason) for code, reason in
          ((400, "bad input: the body names the field and the reason"),
           (413, "a drawn area with too many vertices or too much ground"),
           (422, "a drawn area that is not a valid polygon (self-intersecting, unclosed); `location` says where"),
           (503, "database unavailable; retry later"))}
NULLABLE_NUMBER = {"type": ["number", "null"]}
MANY = {"type": "array", "items": {"type": "string"}}

SELECTION_PARAMETERS = [
    _query("grid", MANY, "Grid codes; each includes its whole subtree.", explode=True),
    _query("bbox", {"type": "string", "pattern": r"^[^,]+,[^,]+,[^,]+,[^,]+$"}, "west,south,east,north"),
    _query("near", {"type": "string"}, "lon,lat: with radius, events within that many metres (on the ellipsoid)"),
    _query("radius", {"type": "number", "exclusiveMinimum": 0, "maximum": 50_000}, "metres, default 500"),
    _query("from", {"type": "string"}, "ISO 8601; without an offset, Beijing time"),
    _query("to", {"type": "string"}, "ISO 8601; without an offset, Beijing time"),
    _query("category", MANY, "event categories (several: repeat or comma-separate)", explode=True),
    _query("status", {"type": "array", "items": {"enum": list(EVENT_STATUSES)}}, "lifecycle states", explode=True),
    _query("source", {"type": "array", "items": {"enum": list(EVENT_SOURCES)}}, "intake channels", explode=True),
    _query("department", MANY, "department codes", explode=True),
    _query("level", {"type": "array", "items": {"enum": list(HANDLING_LEVELS)}}, "handling level", explode=True),
    _query("overdue", {"type": "boolean"}, "only overdue (true) or only not overdue (false)"),
    _query("q", {"type": "string", "maxLength": 200}, "text in title or description"),
    _query("crs", {"type": "string"}, "coordinates in and out: wgs84 (default), gcj02, bd09 or an EPSG code"),
]

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["status", "reason"],
        "properties": {"status": {"type": "integer"}, "reason": {"type": "string"}, "field": {"type": "string"},
                       "location": _ref("Point")}}}},
    "Point": {"type": "object", "required": ["type", "coordinates"], "properties": {
        "type": {"const": "Point"}, "coordinates": {"type": "array", "minItems": 2, "maxItems": 2,
                                                     "items": {"type": "number"}}}},
    "Event": {"type": "object", "required": ["type", "id", "geometry", "properties"], "properties": {
        "type": {"const": "Feature"}, "id": {"type": "integer"}, "geometry": _ref("Point"),
        "properties": {"type": "object", "required": ["id", "title", "category", "status", "reported_at", "grid"],
                       "properties": {
                           "id": {"type": "integer"}, "ref": {"type": ["string", "null"]}, "title": {"type": "string"},
                           "category": {"type": "string"}, "source": {"enum": list(EVENT_SOURCES)},
                           "status": {"enum": list(EVENT_STATUSES)}, "level": {"enum": list(HANDLING_LEVELS)},
                           "priority": {"type": "integer"}, "is_major": {"type": "boolean"},
                           "overdue": {"type": "boolean"}, "department": {"type": ["string", "null"]},
                           "reported_at": {"type": "string"}, "due_at": {"type": ["string", "null"]},
                           "resolved_at": {"type": ["string", "null"]}, "closed_at": {"type": ["string", "null"]},
                           "satisfaction": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
                           "grid": {"type": ["string", "null"]}, "reported_grid": {"type": ["string", "null"]}}}}},
    "EventPage": {"type": "object", "required": ["type", "features", "total", "next"], "properties": {
        "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": _ref("Event")},
        "total": {"type": "integer", "minimum": 0}, "next": {"type": ["string", "null"]},
        "cursor": {"type": "string"}}},
    "Measures": {"type": "object", "required": ["count", "open", "overdue"], "properties": {
        "count": {"type": "integer"}, "open": {"type": "integer"}, "overdue": {"type": "integer"},
        "resolved": {"type": "integer"}, "median_hours_to_resolve": NULLABLE_NUMBER,
        "p90_hours_to_resolve": NULLABLE_NUMBER, "share_resolved_in_time": NULLABLE_NUMBER,
        "mean_satisfaction": NULLABLE_NUMBER}},
    "Stats": {"type": "object", "required": ["by", "rows", "total"], "properties": {
        "by": {"enum": list(GROUPS)}, "rows": {"type": "array", "items": {"allOf": [
            _ref("Measures"), {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}]}},
        "total": _ref("Measures")}},
    "GridCounts": {"type": "object", "required": ["code", "name", "level", "households", "residents", "places",
                                                  "open_events"], "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}, "level": {"enum": list(LEVEL_DEPTH)},
        "kind": {"enum": ["regular", "dedicated"]}, "households": {"type": "integer"},
        "residents": {"type": "integer"}, "places": {"type": "integer"}, "open_events": {"type": "integer"},
        "overdue_events": {"type": "integer"}, "area_km2": {"type": "number"}, "version": {"type": "integer"}}},
    "GridNode": {"allOf": [_ref("GridCounts"), {"type": "object", "required": ["children"], "properties": {
        "children": {"type": "array", "items": _ref("GridNode")}}}]},
    "Grid": {"type": "object", "required": ["type", "id", "geometry", "properties"], "properties": {
        "type": {"const": "Feature"}, "id": {"type": "string"},
        "geometry": {"type": "object", "required": ["type", "coordinates"],
                     "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}}},
        "properties": {"allOf": [_ref("GridCounts"), {"type": "object", "required": ["parent", "children"],
                                                      "properties": {"parent": {"type": ["string", "null"]},
                                                                     "children": MANY}}]}}},
    "Health": {"type": "object", "required": ["status", "database"], "properties": {
        "status": {"enum": ["ok", "unavailable"]}, "database": {"type": "string"}, "postgis": {"type": "string"},
        "schema": {"type": ["string", "null"]}, "revision": {"type": ["string", "null"]},
        "reason": {"type": "string"}}},
    "Layers": {"type": "object", "required": ["layers"], "properties": {"layers": {"type": "array", "items": {
        "type": "object", "required": ["id", "title", "title_en", "minzoom", "maxzoom", "legend", "style"],
        "properties": {"id": {"enum": [layer.id for layer in catalogue.all_layers()]}, "title": {"type": "string"},
                       "title_en": {"type": "string"}, "minzoom": {"type": "integer"}, "maxzoom": {"type": "integer"},
                       "legend": {"type": "array", "minItems": 1}, "style": {"type": "object"}}}}}},
    "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"const": "FeatureCollection"}, "features": {"type": "array"}}},
    "TileJSON": {"type": "object", "required": ["tilejson", "tiles", "vector_layers"], "properties": {
        "tilejson": {"const": "3.0.0"}, "tiles": MANY, "vector_layers": {"type": "array", "minItems": 1}}},
}

LAYER_ID = {"name": "layer", "in": "path", "required": True, "schema": {"enum": [l.id for l in catalogue.all_layers()]}}


def _tile_coordinate(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}


AREA_PARAMETERS = [p for p in SELECTION_PARAMETERS if p["name"] in ("grid", "bbox", "near", "radius", "crs")]
PIN_PAGE = {"type": "object", "required": ["type", "features", "total"], "properties": {
    "type": {"const": "FeatureCollection"}, "total": {"type": "integer"}, "cursor": {"type": ["string", "null"]},
    "features": {"type": "array", "items": {"type": "object", "required": ["type", "id", "geometry", "properties"],
                                            "properties": {"geometry": _ref("Point")}}}}}
RESIDENTS = {"type": "object", "required": ["rows", "total"], "properties": {
    "rows": {"type": "array", "items": {"type": "object", "required": ["grid", "residents", "households"],
                                        "properties": {"grid": {"type": "string"}, "residents": {"type": "integer"},
                                                       "households": {"type": "integer"}}}},
    "total": {"type": "object"}}}


def search_body(parameters: list[dict], **more: dict) -> dict:
    """A drawn-area body: `geometry` plus the query parameters of the GET twin, as fields (nothing else)."""
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["geometry"], "properties": {
            "geometry": {"type": "object"}, **{p["name"]: {} for p in parameters}, **more}}}}}


AREA_BODY = search_body(AREA_PARAMETERS)


def _pin_paths() -> dict:
    paths = {}
    for kind in ("houses", "places", "things", "organizations"):
        parameters = AREA_PARAMETERS + [
            _query("kind", MANY, f"{kind} of these kinds", explode=True),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size, default 100"),
            _query("cursor", {"type": "string"}, "from the previous page")]
        paths[f"/api/{kind}"] = {"get": {"summary": f"{kind.capitalize()} in an area, a page at a time",
                                         "parameters": parameters,
                                         "responses": {"200": _json(PIN_PAGE), **ERRORS}}}
        paths[f"/api/{kind}/search"] = {"post": {"summary": f"{kind.capitalize()} within a drawn area",
                                                 "requestBody": search_body(parameters),
                                                 "responses": {"200": _json(PIN_PAGE), **ERRORS}}}
    paths["/api/residents"] = {"get": {
        "summary": "Residents per finest grid in an area: counts only; sensitive tags for person-level roles",
        "parameters": AREA_PARAMETERS, "responses": {"200": _json(RESIDENTS), **ERRORS}}}
    paths["/api/residents/search"] = {"post": {"summary": "Residents per grid within a drawn area",
                                               "requestBody": AREA_BODY,
                                               "responses": {"200": _json(RESIDENTS), **ERRORS}}}
    return paths


PATHS = {
    "/healthz": {"get": {"summary": "Is the app up and can it reach PostGIS?", "responses": {
        "200": _json(_ref("Health")), "503": _json(_ref("Health"), "database unreachable, or schema `behind` the migration head")}}},
    "/api/events": {"get": {
        "summary": "Events matching the filters, newest first, a page at a time (GeoJSON)",
        "parameters": SELECTION_PARAMETERS + [
            _query("sort", {"enum": list(SORTS)}, "order; ties by id"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size, default 100"),
            _query("cursor", {"type": "string"}, "from the previous page: stable when events arrive")],
        "responses": {"200": _json(_ref("EventPage")), **ERRORS}}},
    "/api/events/search": {"post": {
        "summary": "The same, within a drawn Polygon or MultiPolygon (holes allowed) given as `geometry`",
        "requestBody": search_body(SELECTION_PARAMETERS, sort={"enum": list(SORTS)}, limit={"type": "integer"},
                                   cursor={"type": "string"}),
        "responses": {"200": _json(_ref("EventPage")), **ERRORS}}},
    "/api/events/export": {"get": {
        "summary": "The same selection as a download, streamed: GeoJSON (RFC 7946), CSV with lon/lat, GeoPackage",
        "parameters": SELECTION_PARAMETERS + [_query("format", {"enum": ["geojson", "csv", "gpkg"]},
                                                     "default geojson")],
        "responses": {"200": {"description": "the file; its name says what it holds", "content": {
            "application/geo+json": {}, "text/csv": {}, "application/geopackage+sqlite3": {}}}, **ERRORS}}},
    "/api/events/search/export": {"post": {
        "summary": "A drawn-area search as a download (body as for /api/events/search, plus `format`)",
        "requestBody": search_body(SELECTION_PARAMETERS, format={"enum": ["geojson", "csv", "gpkg"]}),
        "responses": {"200": {"description": "the file", "content": {
            "application/geo+json": {}, "text/csv": {}, "application/geopackage+sqlite3": {}}}, **ERRORS}}},
    "/api/stats/events": {"get": {
        "summary": "Counts, open and overdue, resolution times, share in time and satisfaction, grouped",
        "parameters": SELECTION_PARAMETERS + [
            _query("by", {"enum": list(GROUPS)}, "grouping, default grid"),
            _query("grid_level", {"enum": list(LEVEL_DEPTH)}, "with by=grid: the level to group at"),
            _query("period", {"enum": list(PERIODS)}, "with by=period: day, week (Monday) or month")],
        "responses": {"200": _json(_ref("Stats")), **ERRORS}}},
    "/api/stats/events/search": {"post": {
        "summary": "The same statistics within a drawn area (body as for /api/events/search, plus by/period)",
        "requestBody": search_body(SELECTION_PARAMETERS, by={"enum": list(GROUPS)},
                                   grid_level={"enum": list(LEVEL_DEPTH)}, period={"enum": list(PERIODS)}),
        "responses": {"200": _json(_ref("Stats")), **ERRORS}}},
    "/analyst": {"get": {"summary": "The analyst's page: draw, filter, count, table, chart, export (HTML)",
                         "responses": {"200": {"description": "page", "content": {"text/html": {}}},
                                       "403": _json(_ref("Error"), "citizens")}}},
    "/api/grids": {"get": {"summary": "The grid tree with the counts of each subtree",
                           "responses": {"200": _json({"type": "object", "required": ["grids"], "properties": {
                               "grids": {"type": "array", "items": _ref("GridNode")}}})}}},
    "/api/grids/{code}": {"get": {
        "summary": "One current grid: polygon, counts, children; ETag is its version",
        "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("Grid")), "304": {"description": "unchanged since the ETag"},
                      "404": _json(_ref("Error"), "no such current grid visible to the caller")}}},
    "/api/identify": {"get": {
        "summary": "Features of some layers under a point (grids covering it, pins within radius)",
        "parameters": [_query("lon", {"type": "number"}, "longitude", True),
                       _query("lat", {"type": "number"}, "latitude", True),
                       _query("layers", {"type": "string"}, "comma-separated layer ids; default all"),
                       _query("radius", {"type": "number", "exclusiveMinimum": 0, "maximum": 500}, "metres"),
                       _query("crs", {"type": "string"}, "lon/lat in and out: wgs84 (default), gcj02, bd09, EPSG")],
        "responses": {"200": _json(_ref("FeatureCollection")), **ERRORS}}},
    "/overview": {"get": {"summary": "The overview page: every grid with its counts (HTML, Chinese labels)",
                          "responses": {"200": {"description": "page", "content": {"text/html": {}}}}}},
    "/": {"get": {"summary": "The start page (today: a redirect to /overview)",
                  "responses": {"302": {"description": "to the start page"}}}},
    "/api/overview": {"get": {"summary": "Totals and every grid with its counts, as on the overview page",
                              "responses": {"200": _json({"type": "object", "required": ["totals", "grids"],
                                                          "properties": {"totals": {"type": "object"},
                                                                         "grids": {"type": "array", "items":
                                                                                   _ref("GridCounts")}}})}}},
    "/assets/{path}": {"get": {
        "summary": "Front-end files (Leaflet and plugins) installed from npm and served here: pages need no CDN",
        "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "package/file, e.g. leaflet/dist/leaflet.js"}],
        "responses": {"200": {"description": "the file"}, "404": _json(_ref("Error"), "not one of our packages")}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}},
    "/layers": {"get": {"summary": "The layer catalogue: titles, zoom bands, styles, legends",
                        "responses": {"200": _json(_ref("Layers"))}}},
    "/tiles/{layer}.json": {"get": {"summary": "TileJSON 3.0.0 for one layer", "parameters": [LAYER_ID],
                                    "responses": {"200": _json(_ref("TileJSON")),
                                                  "404": _json(_ref("Error"), "unknown layer")}}},
    "/tiles/{layer}/{z}/{x}/{y}.pbf": {"get": {
        "summary": "A Mapbox Vector Tile: counts when zoomed out, single features up close",
        "parameters": [LAYER_ID, _tile_coordinate("z"), _tile_coordinate("x"), _tile_coordinate("y"),
                       *[p for p in SELECTION_PARAMETERS if p["name"] in ("category", "status", "source", "from", "to",
                                                                           "grid", "department", "level", "overdue",
                                                                           "q")],
            _query("datum", {"enum": ["wgs84", "cgcs2000", "gcj02"]},
                   "the basemap's datum: gcj02 shifts features to line up with AMap/Tencent tiles")],
        "responses": {"200": {"description": "the tile", "content": {"application/vnd.mapbox-vector-tile": {
            "schema": {"type": "string", "format": "binary"}}}},
            "204": {"description": "nothing here"}, "304": {"description": "unchanged since the ETag"},
            "404": _json(_ref("Error"), "unknown layer"), **ERRORS}}},
}

PATHS.update(_pin_paths())
for _channel in (analyst_maps, api_coverage, api_grid_edits, api_grid_split, api_analysis, api_workflow, basemap, citizen, open311, stream, command,
                 grid_editor, auth, api_persons):
    PATHS.update(_channel.OPENAPI_PATHS)
for _path, _item in PATHS.items():  # what mapserver.auth lets through without a login says so
    if _path.startswith(auth.PUBLIC_PATHS):
        for _operation in _item.values():
            _operation.setdefault("security", [])
        continue
    for _method, _operation in _item.items():  # and what it answers a caller it does not let through
        _responses = _operation.setdefault("responses", {})
        _responses.setdefault("401", _json(_ref("Error"), "no login, or a token unknown, expired or revoked"))
        _responses.setdefault("403", _json(_ref("Error"), "a citizen account: citizens report by QR code"))
        if _method == "get" and not _path.startswith(auth.API_PREFIXES):
            _responses.setdefault("302", {"description": "a page asked for without a login: to the login form"})
PATHS["/api/events"].update(api_workflow.REPORT_DOC)

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Minqing Map (民情地图) API", "version": "0.1.0",
             "description": "Grid-based grassroots governance: the ledger, its layers and analysts' queries. "
                            "Coordinates are WGS 84 unless `crs` says otherwise."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": auth.SECURITY_SCHEMES},
    "security": [{"bearer": []}, {"session": []}],
}


@bp.get("/openapi.json")
def openapi():
    return jsonify(DOCUMENT)
