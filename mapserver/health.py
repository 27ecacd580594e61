"""`/healthz`: is the app up, can it reach PostGIS, and is the schema at the migration head?

Public, so it says which part is wrong in fixed words; the driver's error (host, port, user) goes to the log.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from data.migrate import head_revision, revision_of
from mapserver import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def _unavailable(**body):
    response = jsonify(status="unavailable", **body)
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


@bp.get("/healthz")
def healthz():
    try:
        with db.engine().connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
            revision = revision_of(conn)
    except DBAPIError as exc:
        log.warning("healthz: database unreachable: %s", str(exc.orig).strip())
        return _unavailable(database="unreachable", reason="the database cannot be reached")
    if revision != head_revision():  # serving an old schema would fail later, request by request
        return _unavailable(database="ok", postgis=postgis, schema="behind", revision=revision,
                            reason="the database schema is not at the migration head; run `minqing db upgrade`")
    return jsonify(status="ok", database="ok", postgis=postgis, schema=revision)


def warn_if_behind(app: Flask) -> None:
    """At start-up: say so in the log when the database is below the migration head (or unreachable)."""
    try:
        with db.engine().connect() as conn:
            revision = revision_of(conn)
    except DBAPIError as exc:
        app.logger.warning("database unreachable at start-up: %s", str(exc.orig).strip())
        return
    head = head_revision()
    if revision != head:
        app.logger.warning("database schema is at %s, the code expects %s: run `minqing db upgrade`", revision, head)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    with app.app_context():
        warn_if_behind(app)
