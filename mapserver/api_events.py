"""`/api/events`: which incidents happened here, then, of this kind — a page at a time, as GeoJSON."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request, url_for
from werkzeug.datastructures import MultiDict

from data import crs as coordinates
from data import event_query
from data.selection import BadSelection, EventSelection, unknown_grids
from mapserver import caller, db, versions

bp = Blueprint("api_events", __name__)


def page_size(raw) -> int:
    """The page size from a query string: an integer, checked for range by the query itself."""
    try:
        return int(raw) if raw not in (None, "") else 100
    except (TypeError, ValueError):
        raise BadSelection(f"limit must be an integer, got {raw!r}", "limit") from None


def point_feature(row: dict, crs: str | None) -> dict:
    """A row with lon/lat as a GeoJSON Point feature, coordinates in the caller's `crs`."""
    (lon,), (lat,) = coordinates.from_wgs84([row.pop("lon")], [row.pop("lat")], crs)
    properties = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    return {"type": "Feature", "id": row["id"], "geometry": {"type": "Point", "coordinates": [round(lon, 7),
            round(lat, 7)]}, "properties": properties}


def selection_from(args, geometry: dict | None = None) -> EventSelection:
    """The one way a request becomes an EventSelection: vocabularies checked, and grid codes that
    name no current grid refused (a typo must not look like an empty answer)."""
    snap = versions.snapshot()
    selection = EventSelection.parse(args, snap.categories, snap.departments, geometry=geometry)
    unknown = unknown_grids(db.connection(), selection.grids)
    if unknown:
        raise BadSelection(f"unknown grid {', '.join(map(repr, unknown))}", "grid")
    return selection


def _answer(args: MultiDict, geometry: dict | None):
    selection = selection_from(args, geometry)
    who = caller.staff_only()
    result = event_query.page(db.connection(), selection, scope=who.scope_filter,
                              sort=args.get("sort") or "-reported_at", limit=page_size(args.get("limit")),
                              cursor=args.get("cursor") or None)
    crs = args.get("crs") or None
    body = {"type": "FeatureCollection", "total": result.total,
            "features": [point_feature(row, crs) for row in result.rows], "next": None}
    if result.next_cursor:
        body["cursor"] = result.next_cursor
        if geometry is None:
            query = args.copy()
            query["cursor"] = result.next_cursor
            body["next"] = url_for("api_events.events", **query.to_dict(flat=False))
    return jsonify(body)


@bp.get("/api/events")
def events():
    return _answer(request.args, None)


def search_args(body) -> tuple[MultiDict, dict]:
    """A search body as query-style arguments plus the drawn geometry (shared with the export)."""
    if not isinstance(body, dict):
        raise BadSelection("the body must be a JSON object", "body")
    geometry = body.get("geometry")
    if geometry is None:
        raise BadSelection("geometry is required (a GeoJSON Polygon or MultiPolygon)", "geometry")
    args = MultiDict()
    for key, value in body.items():
        if key == "geometry":
            continue
        for item in value if isinstance(value, list) else [value]:
            args.add(key, item if isinstance(item, str) else ("true" if item is True else "false" if item is False
                                                               else str(item)))
    return args, geometry


@bp.post("/api/events/search")
def search():
    """The same filters in a JSON body, plus `geometry`: a drawn Polygon or MultiPolygon (holes allowed)."""
    args, geometry = search_args(request.get_json(silent=False))
    return _answer(args, geometry)
