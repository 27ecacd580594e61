"""`/api/analysis/hotspots`: Gi* hot and cold spots for a filter, stored and reused per parameters and data version."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.datastructures import MultiDict

from data import analysis_runs
from data import hotspots as gi
from data.selection import EventSelection
from mapserver import caller, db, versions

bp = Blueprint("api_analysis", __name__)

SELECTION_KEYS = ("category", "source", "from", "to")  # what a stored run names; other filters would miss the cache


def _feature(cell: dict) -> dict:
    properties = {k: cell[k] for k in ("cell", "count", "z", "p", "cls")}
    properties["class"] = gi.CLASS_LABELS[cell["cls"]]
    return {"type": "Feature", "id": cell["cell"], "geometry": cell["geometry"], "properties": properties}


@bp.get("/api/analysis/hotspots")
def hotspots():
    args = request.args
    resolution = gi.parse_resolution(args.get("resolution"))
    permutations = gi.parse_permutations(args.get("permutations"))
    unit = gi.parse_unit(args.get("unit"))
    picked = MultiDict([(k, v) for k in SELECTION_KEYS for v in args.getlist(k)])
    selection = EventSelection.parse(picked, versions.snapshot().categories)
    who = caller.current()
    with db.writing() as conn:
        run = analysis_runs.hotspots(conn, selection, resolution, permutations, unit, scope=who.scope_filter,
                                     refresh=args.get("refresh") == "true")
        cells = analysis_runs.cells(conn, run.id)
    return jsonify({"type": "FeatureCollection", "features": [_feature(c) for c in cells],
                    "run": {"id": run.id, "computed_at": run.computed_at, "data_version": run.data_version,
                            "n_events": run.n_events, "reused": run.reused, "params": run.params}})


_QUERY = [
    {"name": "category", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form",
     "explode": True, "description": "event categories"},
    {"name": "source", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form",
     "explode": True, "description": "intake channels"},
    {"name": "from", "in": "query", "schema": {"type": "string"}, "description": "ISO 8601; Beijing time if no offset"},
    {"name": "to", "in": "query", "schema": {"type": "string"}, "description": "ISO 8601; Beijing time if no offset"},
    {"name": "resolution", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 15},
     "description": f"H3 resolution (default {gi.DEFAULT_RESOLUTION})"},
    {"name": "permutations", "in": "query", "schema": {"type": "integer", "minimum": 99,
                                                        "maximum": gi.MAX_PERMUTATIONS},
     "description": f"conditional permutations for the pseudo p-values (default {gi.DEFAULT_PERMUTATIONS})"},
    {"name": "unit", "in": "query", "schema": {"enum": list(gi.UNITS)}, "description": "h3 hexagons or grid cells"},
    {"name": "refresh", "in": "query", "schema": {"type": "boolean"}, "description": "compute even if stored"},
]

OPENAPI_PATHS = {
    "/api/analysis/hotspots": {"get": {
        "summary": "Getis-Ord Gi* hot and cold spots of event counts (H3 hexagons or grid cells), FDR-corrected",
        "description": (
            "Gi* (esda, 999 permutations, fixed seed) of the selection's counts in excess of all events' spatial "
            "distribution, on H3 cells covering the caller's area; classes −3…3 are cold/hot at 99/95/90 % after "
            "a Benjamini–Hochberg correction. A run is stored and reused while its parameters and the events' data "
            "version match (`run.reused`). An empty selection gives an empty FeatureCollection."),
        "parameters": _QUERY,
        "responses": {
            "200": {"description": "hexagons with count, z, p, cls and class", "content": {"application/json": {
                "schema": {"type": "object", "required": ["type", "features", "run"], "properties": {
                    "type": {"const": "FeatureCollection"},
                    "features": {"type": "array", "items": {"type": "object", "required": ["type", "properties"],
                                                            "properties": {"properties": {
                                                                "type": "object",
                                                                "required": ["cell", "count", "z", "p", "cls"],
                                                                "properties": {
                                                                    "cell": {"type": "string"},
                                                                    "count": {"type": "number"},
                                                                    "z": {"type": ["number", "null"]},
                                                                    "p": {"type": ["number", "null"]},
                                                                    "cls": {"type": "integer", "minimum": -3,
                                                                            "maximum": 3},
                                                                    "class": {"type": "string"}}}}}},
                    "run": {"type": "object", "required": ["id", "computed_at", "data_version", "reused"],
                            "properties": {"id": {"type": "integer"}, "computed_at": {"type": "string"},
                                           "data_version": {"type": "integer"}, "n_events": {"type": "integer"},
                                           "reused": {"type": "boolean"}, "params": {"type": "object"}}}}}}}},
            "400": {"description": "bad input: the body names the field and the reason", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
}
