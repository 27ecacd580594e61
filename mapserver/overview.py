"""The overview page: every current grid in its tree with households, residents, places and open events."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from data import summary
from data.vocab import DEDICATED_FOR, LEVELS
from mapserver import caller, db

bp = Blueprint("overview", __name__)


@bp.get("/overview")
def page():
    conn, scope = db.connection(), caller.staff_only().scope_filter
    return render_template(
        "overview.html", grids=summary.grid_counts(conn, scope), totals=summary.totals(conn, scope),
        levels=LEVELS, dedicated=DEDICATED_FOR,
    )


@bp.get("/api/overview")
def as_json():
    conn, scope = db.connection(), caller.staff_only().scope_filter
    return jsonify(totals=summary.totals(conn, scope), grids=summary.grid_counts(conn, scope))
