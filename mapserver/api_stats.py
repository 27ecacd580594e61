"""`/api/stats/events`: how incidents are changing, grouped as the analyst asks."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from data.event_stats import event_stats
from mapserver import caller, db
from mapserver.api_events import search_args, selection_from

bp = Blueprint("api_stats", __name__)


def _stats(args, geometry):
    selection = selection_from(args, geometry)
    who = caller.current()
    return jsonify(event_stats(db.connection(), selection, by=args.get("by", "grid"),
                               # `level` already filters by handling level (grid … district), as in /api/events
                               level=args.get("grid_level", "community"),
                               period=args.get("period", "month"),
                               scope=who.scope_filter))


@bp.get("/api/stats/events")
def stats():
    return _stats(request.args, None)


@bp.post("/api/stats/events/search")
def stats_search():
    """The same statistics within a drawn area (body as for /api/events/search)."""
    return _stats(*search_args(request.get_json(silent=False)))
