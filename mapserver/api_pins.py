"""Houses, places, things and organizations in an area (`/api/houses` …); residents as counts only."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from data import pin_query
from data.selection import AreaSelection
from mapserver import caller, db
from mapserver.api_events import page_size, point_feature, search_args

bp = Blueprint("api_pins", __name__)



def _pins(kind: str, args, geometry):
    who = caller.staff_only()
    area = AreaSelection.parse(args, geometry)
    result = pin_query.page(db.connection(), kind, area, args, scope=who.scope_filter,
                            limit=page_size(args.get("limit")), cursor=args.get("cursor") or None)
    crs = args.get("crs") or None
    return jsonify({"type": "FeatureCollection", "total": result.total, "cursor": result.next_cursor,
                    "features": [point_feature(row, crs) for row in result.rows]})


def _register(kind: str) -> None:
    bp.add_url_rule(f"/api/{kind}", f"{kind}_list", lambda: _pins(kind, request.args, None), methods=["GET"])
    bp.add_url_rule(f"/api/{kind}/search", f"{kind}_search",
                    lambda: _pins(kind, *search_args(request.get_json(silent=False))), methods=["POST"])


for _kind in pin_query.PINS:
    _register(_kind)


def _residents(args, geometry):
    who = caller.staff_only()
    area = AreaSelection.parse(args, geometry)
    return jsonify(pin_query.residents(db.connection(), area, who.role, scope=who.scope_filter))


@bp.get("/api/residents")
def residents():
    """Residents per finest grid within the area: counts, with sensitive tags only for person-level roles."""
    return _residents(request.args, None)


@bp.post("/api/residents/search")
def residents_search():
    return _residents(*search_args(request.get_json(silent=False)))
