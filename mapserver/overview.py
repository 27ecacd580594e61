"""The overview page: every current grid in its tree with households, residents, places and open events."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from data import summary
from data.vocab import DEDICATED_FOR, LEVELS
from mapserver import db

bp = Blueprint("overview", __name__)


@bp.get("/overview")
def page():
    conn = db.connection()
    return render_template(
        "overview.html", grids=summary.grid_counts(conn), totals=summary.totals(conn),
        levels=LEVELS, dedicated=DEDICATED_FOR,
    )


@bp.get("/api/overview")
def as_json():
    conn = db.connection()
    return jsonify(totals=summary.totals(conn), grids=summary.grid_counts(conn))
