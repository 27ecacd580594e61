"""One table from exception to HTTP status; every error body says what was wrong and where."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from data.errors import ConfigError, LedgerError, LoadError
from layers.errors import BadFilter, BadTileRequest, LayerError, UnknownLayer

log = logging.getLogger(__name__)

STATUS = (
    (UnknownLayer, 404),
    (BadTileRequest, 400),
    (BadFilter, 400),
    (LoadError, 400),
    (ConfigError, 500),
    (LedgerError, 400),
    (LayerError, 400),
)


def error_body(status: int, reason: str, field: str | None = None, **extra):
    body = {"error": {"status": status, "reason": reason, **({"field": field} if field else {}), **extra}}
    return jsonify(body), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_body(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(LedgerError)
    @app.errorhandler(LayerError)
    def known_error(exc: LedgerError | LayerError):
        status = next(code for kind, code in STATUS if isinstance(exc, kind))
        return error_body(status, str(exc), getattr(exc, "field", None))

    @app.errorhandler(OperationalError)
    def database_down(exc: DBAPIError):
        log.error("database unavailable: %s", exc.orig)
        response, status = error_body(503, "database unavailable")
        response.headers["Retry-After"] = "5"
        return response, status
