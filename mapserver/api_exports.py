"""Exports of any event query: the same selection as /api/events, streamed as a download."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, request, stream_with_context

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
    engine = db.engine()
    # every export is logged before a byte leaves: case files can carry names and addresses in their text
    with db.writing() as conn:
        pii_audit.record(conn, who, "export", "event", None, request.args.get("purpose") or "event export",
                         detail={"format": fmt, "file": exports.file_name(selection, fmt),
                                 "query": request.args.to_dict(flat=False)})

    def body():
        # its own connection: the response outlives the view, and a server-side cursor needs a transaction
        if fmt == "gpkg":  # built on disk first, so the connection is back in the pool before the download
            with engine.connect() as conn:
                path = exports.write_geopackage(event_query.stream(conn, selection, scope))
            yield from exports.stream_file(path)
            return
        with engine.connect() as conn:
            yield from exports.WRITERS[fmt](event_query.stream(conn, selection, scope))

    response = Response(stream_with_context(body()), mimetype=exports.FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{exports.file_name(selection, fmt)}"'
    return response


@bp.get("/api/events/export")
def export():
    return _download(selection_from(request.args), request.args.get("format", "geojson"))


@bp.post("/api/events/search/export")
def export_search():
    args, geometry = search_args(request.get_json(silent=False))
    return _download(selection_from(args, geometry), args.get("format", "geojson"))
