"""One table from exception to HTTP status; every error body says what was wrong and where."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from psycopg import errors as pg
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from data.errors import ConfigError, LedgerError, LoadError, Refused
from data.selection import AreaTooLarge, BadSelection, InvalidArea
from layers.errors import BadFilter, BadTileRequest, LayerError, UnknownLayer

log = logging.getLogger(__name__)

STATUS = (
    (UnknownLayer, 404),
    (BadTileRequest, 400),
    (BadFilter, 400),
    (LoadError, 400),
    (InvalidArea, 422),
    (AreaTooLarge, 413),
    (BadSelection, 400),
    (ConfigError, 500),
    (LedgerError, 400),
    (LayerError, 400),
)

# what the database said, by the driver's error class: (status, reason shown to the caller)
DATABASE_STATUS = (
    (pg.QueryCanceled, 503, "the database took too long; try again"),
    (pg.LockNotAvailable, 503, "the data is being changed; try again"),
    (pg.DeadlockDetected, 409, "a concurrent change to the same records won; reload and try again"),
    (pg.SerializationFailure, 409, "a concurrent change to the same records won; reload and try again"),
    (pg.IntegrityError, 409, "the change conflicts with data already stored"),
    (pg.DataError, 400, "a value was not acceptable to the database"),
)


def error_body(status: int, reason: str, field: str | None = None, **extra):
    body = {"error": {"status": status, "reason": reason, **({"field": field} if field else {}), **extra}}
    return jsonify(body), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/open311/"):  # a path no Open311 route matched: still the spec's document
            from mapserver import open311

            return open311._error(exc)
        if isinstance(exc, RequestEntityTooLarge) and exc.description == RequestEntityTooLarge.description:
            limit = request.max_content_length
            return error_body(413, f"the request body is larger than the {limit:,} bytes this endpoint accepts"
                              if limit else "the request body is too large", "body")
        response, status = error_body(exc.code or 500, exc.description or exc.name)
        for name, value in exc.get_headers():  # Retry-After of a 429, Allow of a 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(LedgerError)
    @app.errorhandler(LayerError)
    def known_error(exc: LedgerError | LayerError):
        status = exc.status if isinstance(exc, Refused) else next(code for kind, code in STATUS
                                                                   if isinstance(exc, kind))
        location = getattr(exc, "location", None)
        extra = {"location": {"type": "Point", "coordinates": list(location)}} if location else {}
        extra.update(getattr(exc, "extra", {}))
        return error_body(status, str(exc), getattr(exc, "field", None), **extra)

    @app.errorhandler(PoolTimeout)
    def pool_exhausted(exc: PoolTimeout):
        log.warning("no free database connection: %s", exc)
        response, status = error_body(503, "the server is busy; try again")
        response.headers["Retry-After"] = "2"
        return response, status

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        for kind, status, reason in DATABASE_STATUS:
            if isinstance(exc.orig, kind):
                log.warning("%s: %s", reason, exc.orig)
                response, status = error_body(status, reason)
                if status == 503:
                    response.headers["Retry-After"] = "2"
                return response, status
        if isinstance(exc, OperationalError):  # connection refused, server restarting
            log.error("database unavailable: %s", exc.orig)
            response, status = error_body(503, "database unavailable")
            response.headers["Retry-After"] = "5"
            return response, status
        log.exception("database error")
        return error_body(500, "internal database error; it has been logged")
