"""Exports of any event query: the same selection as /api/events, streamed as a download."""
from __future__ import annotations

import os
from datetime import timedelta

from flask import Blueprint, Response, request
from werkzeug.wsgi import wrap_file

from data import event_query, exports, pii_audit
from data.selection import BadSelection, EventSelection
from mapserver import caller, db, ratelimit
from mapserver.api_events import search_args, selection_from

bp = Blueprint("api_exports", __name__)


def _download(selection: EventSelection, fmt: str) -> Response:
    if fmt not in exports.FORMATS:
        raise BadSelection(f"format must be one of {', '.join(exports.FORMATS)}", "format")
    who = caller.staff_only()
    with db.writing() as conn:  # its own transaction, so refused and failed exports count too
        ratelimit.enforce(conn, f"export:{who.username}", db.settings().exports_per_hour, timedelta(hours=1),
                          "exports")
    scope = who.scope_filter
    # every export is logged before a byte leaves: case files can carry names and addresses in their text
    with db.writing() as conn:
        pii_audit.record(conn, who, "export", "event", None, request.args.get("purpose") or "event export",
                         detail={"format": fmt, "file": exports.file_name(selection, fmt),
                                 "query": request.args.to_dict(flat=False)})

    # on disk first, in the request's own transaction: the view returns, its connection goes back to the pool,
    # and only then does the file travel, however slowly the client reads it
    stored = exports.spooled(fmt, event_query.stream(db.connection(), selection, scope))
    size = os.fstat(stored.fileno()).st_size
    response = Response(wrap_file(request.environ, stored, 1 << 20), mimetype=exports.FORMATS[fmt],
                        direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = f'attachment; filename="{exports.file_name(selection, fmt)}"'
    return response


@bp.get("/api/events/export")
def export():
    return _download(selection_from(request.args), request.args.get("format", "geojson"))


@bp.post("/api/events/search/export")
def export_search():
    args, geometry = search_args(request.get_json(silent=False))
    return _download(selection_from(args, geometry), args.get("format", "geojson"))
