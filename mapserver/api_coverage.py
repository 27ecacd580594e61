"""`/api/analysis/coverage`: grid, visit, service-reach, staff and party coverage of the caller's cells."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request

from data import coverage, coverage_reach, coverage_visits
from data.coverage import KINDS, BadCoverage
from data.coverage_reach import FACILITIES, MAX_MINUTES
from data.coverage_visits import MAX_DAYS
from mapserver import caller, db

bp = Blueprint("api_coverage", __name__)


def _integer(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise BadCoverage(f"{name} must be a whole number, got {raw!r}", name)
    return int(raw)


@bp.get("/api/analysis/coverage")
def analysis_coverage():
    who = caller.staff_only()
    kind = request.args.get("kind", "")
    if kind not in KINDS:
        raise BadCoverage(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", "kind")
    settings = current_app.extensions["minqing.settings"]
    conn, scope = db.connection(), who.scope_filter
    if kind == "grid":
        return jsonify(coverage.grid_coverage(conn, scope=scope))
    if kind == "visits":
        days = coverage_visits.check_days(_integer("days", 90))
        return jsonify(coverage_visits.visit_coverage(conn, datetime.now(timezone.utc), days, who.role, scope))
    if kind == "reach":
        minutes = coverage_reach.check_minutes(_integer("minutes", 15))
        facility = coverage_reach.check_facility(request.args.get("facility"))
        return jsonify(coverage_reach.service_reach(conn, settings.walk_speed_m_per_min, minutes,
                                                    facility[0] if len(facility) == 1 else None, scope))
    if kind == "staff":
        return jsonify(coverage.staff_load(conn, settings.household_band, scope))
    return jsonify(coverage.party_coverage(conn, scope))


_CELL = {"type": "object", "required": ["code", "name"], "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "households": {"type": "integer"},
    "visited": {"type": "integer"}, "share": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "residents": {"type": "integer"}, "workers": {"type": "integer"}, "per_worker": {"type": ["number", "null"]},
    "load": {"enum": list(coverage.LOADS)}, "party_branches": {"type": "integer"}, "covered": {"type": "boolean"},
    **{f"share_{k}": {"type": ["number", "null"], "minimum": 0, "maximum": 1} for k in FACILITIES}}}
_PIECE = {"type": "object", "required": ["area_m2", "geometry"], "properties": {
    "area_m2": {"type": "number", "minimum": 0}, "geometry": {"type": "object"},
    "cells": {"type": "array", "items": {"type": "string"}}}}
_RESULT = {"type": "object", "required": ["kind"], "properties": {
    "kind": {"enum": list(KINDS)}, "cells": {"oneOf": [{"type": "array", "items": _CELL}, {"type": "integer"}]},
    "totals": {"type": "object"}, "srid": {"type": ["integer", "null"]}, "area_m2": {"type": "number"},
    "gap_m2": {"type": "number", "minimum": 0}, "overlap_m2": {"type": "number", "minimum": 0},
    "gaps": {"type": "array", "items": _PIECE}, "overlaps": {"type": "array", "items": _PIECE},
    "days": {"type": "integer"}, "as_of": {"type": "string"}, "method": {"type": "string"},
    "unvisited_key_households": {"type": "array", "items": {"type": "object", "required": ["grid", "household_id"]}},
    "band": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": name == "kind", "schema": schema, "description": description}


OPENAPI_PATHS = {
    "/api/analysis/coverage": {"get": {
        "summary": "Coverage of the caller's cells: grid gaps/overlaps (m²), visits, 15-minute reach, staff load, "
                   "party branches",
        "description": (
            "grid: area covered by no current cell and overlaps between cells, in m² in the district's UTM zone. "
            "visits: per cell the share of households visited in the last `days` days; the unvisited key "
            "households (elderly living alone, key persons) only for roles that may see people. reach: per cell "
            "the share of residents within `minutes` of walking (configured m/min, straight line) of each "
            "facility kind. staff: households per full-time grid worker against the configured band. party: "
            "cells with and without a party branch. Empty cells give null shares, never NaN."),
        "parameters": [
            _query("kind", {"enum": list(KINDS)}, "which coverage"),
            _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}, "kind=visits: window, default 90"),
            _query("facility", {"enum": list(FACILITIES)}, "kind=reach: one facility kind (default all)"),
            _query("minutes", {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES},
                   "kind=reach: walking minutes, default 15")],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _RESULT}}},
            "400": {"description": "bad input: the body names the field",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "403": {"description": "citizens", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}}}},
}
