"""`/healthz`: is the app up and can it reach PostGIS?"""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from data.migrate import revision_of
from mapserver import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with db.engine().connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
            revision = revision_of(conn)
    except DBAPIError as exc:
        response = jsonify(status="unavailable", database="unreachable", reason=str(exc.orig).strip()[:200])
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    return jsonify(status="ok", database="ok", postgis=postgis, schema=revision)
