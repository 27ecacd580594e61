"""`/analyst/hotspots` and `/analyst/coverage`: the folium maps of layers.analysis_maps as pages, for staff,
scoped to the caller, on this server's assets."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, request, url_for
from werkzeug.datastructures import MultiDict

from data import analysis_runs, coverage, coverage_reach, coverage_visits
from data import heat as kde
from data import hotspots as gi
from data.selection import BadSelection, EventSelection
from layers import analysis_maps
from mapserver import caller, db, security, versions

bp = Blueprint("analyst_maps", __name__)

HOTSPOT_KINDS = ("hotspots", "emerging", "heat")
SELECTION_KEYS = ("category", "source", "from", "to")  # what a stored run names


def _asset_base() -> str:
    """The /assets prefix as routed (behind a proxy's script root too); maps append package/file to it."""
    return url_for("assets.asset", path="x")[:-2]


@bp.get("/analyst/hotspots")
def hotspots():
    who = caller.staff_only()
    args = request.args
    kind = args.get("kind") or "hotspots"
    if kind not in HOTSPOT_KINDS:
        raise BadSelection(f"kind must be one of {', '.join(HOTSPOT_KINDS)}, got {kind!r}", "kind")
    resolution = gi.parse_resolution(args.get("resolution"))
    selection = EventSelection.parse(MultiDict([(k, v) for k in SELECTION_KEYS for v in args.getlist(k)]),
                                     versions.snapshot().categories)
    with db.writing() as conn:  # a run not yet stored is computed and stored for the next asker
        if kind == "hotspots":
            run = analysis_runs.hotspots(conn, selection, resolution, scope=who.scope_filter)
        elif kind == "emerging":
            run = analysis_runs.emerging(conn, selection, resolution, scope=who.scope_filter)
        else:
            run = analysis_runs.heat(conn, selection, scope=who.scope_filter)
        cells = analysis_runs.cells(conn, run.id)
    what = "、".join(selection.category) or "全部类别"
    unit = (f"H3 分辨率 {resolution}" if kind != "heat"
            else f"{kde.DEFAULT_CELL_M:g} 米栅格、{kde.DEFAULT_BANDWIDTH_M:g} 米带宽")
    note = f"{run.n_events} 件事件（{what}）；{unit}；计算于 {run.computed_at[:16]}"
    m = analysis_maps.hotspot_map(cells, kind, note=note, asset_base=_asset_base())
    return security.map_page(m.get_root())


@bp.get("/analyst/coverage")
def coverage_page():
    who = caller.staff_only()
    kind = request.args.get("kind") or "visits"
    if kind not in coverage.KINDS:
        raise coverage.BadCoverage(f"kind must be one of {', '.join(coverage.KINDS)}, got {kind!r}", "kind")
    facility = request.args.get("facility") or "clinic"
    coverage_reach.check_facility(facility)
    settings = current_app.extensions["minqing.settings"]
    conn, scope = db.connection(), who.scope_filter
    result = {
        "grid": lambda: coverage.grid_coverage(conn, scope=scope),
        "visits": lambda: coverage_visits.visit_coverage(conn, datetime.now(timezone.utc), role=who.role, scope=scope),
        "reach": lambda: coverage_reach.service_reach(conn, settings.walk_speed_m_per_min, facility=facility,
                                                      scope=scope),
        "staff": lambda: coverage.staff_load(conn, settings.household_band, scope),
        "party": lambda: coverage.party_coverage(conn, scope),
    }[kind]()
    m = analysis_maps.coverage_map(conn, result, facility, scope, asset_base=_asset_base())
    return security.map_page(m.get_root())


def _page(summary: str, parameters: list[dict]) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {"get": {"summary": summary, "parameters": parameters, "responses": {
        "200": {"description": "page", "content": {"text/html": {}}},
        "400": {"description": "bad input: the body names the field", **error},
        "403": {"description": "citizens", **error}}}}


OPENAPI_PATHS = {
    "/analyst/hotspots": _page(
        "Hot spots as a map (HTML): Gi* classes at 90/95/99 % (FDR), emerging trends or the heat surface", [
            {"name": "kind", "in": "query", "schema": {"enum": list(HOTSPOT_KINDS)}, "description": "default hotspots"},
            {"name": "category", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
             "style": "form", "explode": True, "description": "event categories"},
            {"name": "source", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
             "style": "form", "explode": True, "description": "intake channels"},
            {"name": "from", "in": "query", "schema": {"type": "string"}, "description": "ISO 8601"},
            {"name": "to", "in": "query", "schema": {"type": "string"}, "description": "ISO 8601"},
            {"name": "resolution", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 15},
             "description": f"H3 resolution, default {gi.DEFAULT_RESOLUTION}"}]),
    "/analyst/coverage": _page(
        "Coverage of the caller's cells as a map (HTML): gaps, visits, 15-minute reach, staff load, party", [
            {"name": "kind", "in": "query", "schema": {"enum": list(coverage.KINDS)}, "description": "default visits"},
            {"name": "facility", "in": "query", "schema": {"enum": list(coverage_reach.FACILITIES)},
             "description": "kind=reach: the facility kind drawn, default clinic"}]),
}
