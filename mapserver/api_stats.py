"""`/api/stats/events`: how incidents are changing, grouped as the analyst asks."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from data.event_stats import event_stats
from data.selection import EventSelection
from mapserver import caller, db, versions

bp = Blueprint("api_stats", __name__)


@bp.get("/api/stats/events")
def stats():
    snap = versions.snapshot()
    selection = EventSelection.parse(request.args, snap.categories, snap.departments)
    who = caller.current()
    return jsonify(event_stats(db.connection(), selection, by=request.args.get("by", "grid"),
                               # `level` already filters by handling level (grid … district), as in /api/events
                               level=request.args.get("grid_level", "community"),
                               period=request.args.get("period", "month"),
                               scope=None if who.sees_everything else who.scope))
