"""`/api/grids/edits` and a grid's history and undo: boundary edits over HTTP (docs/grid_edits.md)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request

from data import grid_edits
from data.errors import Forbidden
from mapserver import caller, db

bp = Blueprint("api_grid_edits", __name__)


def if_match() -> dict[str, int] | None:
    """`If-Match: "code@version.x", …` -> {code: version}; only code@version counts, the rest moves with pins."""
    raw = request.headers.get("If-Match")
    if raw is None or not raw.strip():
        return None
    out = {}
    for tag in raw.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        code, at, rest = tag.partition("@")
        number = rest.split(".", 1)[0]
        if at and number.isdigit():
            out[code] = int(number)
    return out


def _band() -> tuple[int, int]:
    return current_app.extensions["minqing.settings"].household_band


def _reader_edit() -> grid_edits.Edit:
    """Validate and preview write nothing, but show counts: staff, inside their scope."""
    who = caller.staff_only()
    edit = grid_edits.Edit.parse(request.get_json(silent=True))
    outside = [e.code for e in edit.entries if e.code and not who.sees_grid(e.code)]
    if outside:
        raise Forbidden(f"outside your scope: {', '.join(outside)}", "grids")
    return edit


def _etags(result: dict) -> dict:
    for g in result["grids"]:
        g["etag"] = f"{g['code']}@{g['version']}" if g["version"] else None
    return result


@bp.post("/api/grids/edits/validate")
def validate():
    plan = grid_edits.validate(db.connection(), _reader_edit(), _band())
    return jsonify(ok=plan.ok, parent=plan.parent, problems=plan.as_json(),
                   limits={**grid_edits.LIMITS, "household_band": list(_band())})


@bp.post("/api/grids/edits/preview")
def preview():
    plan = grid_edits.validate(db.connection(), _reader_edit(), _band())
    return jsonify(ok=plan.ok, parent=plan.parent, problems=plan.as_json(), grids=plan.rows if plan.ok else [])


@bp.post("/api/grids/edits")
def apply():
    who = caller.current()
    edit = grid_edits.Edit.parse(request.get_json(silent=True))
    with db.writing() as conn:
        result = grid_edits.apply(conn, edit, who, if_match(), _band())
    return jsonify(_etags(result))


@bp.get("/api/grids/<code>/history")
def history(code: str):
    who = caller.staff_only()
    if not who.sees_grid(code):
        abort(404, description=f"no grid {code!r} visible to you")
    return jsonify(grid_edits.history(db.connection(), code))


@bp.post("/api/grids/<code>/undo")
def undo(code: str):
    who = caller.staff_only()
    if not who.sees_grid(code):
        abort(404, description=f"no grid {code!r} visible to you")
    body = request.get_json(silent=True) or {}
    note = body.get("note") if isinstance(body, dict) and isinstance(body.get("note"), str) else ""
    with db.writing() as conn:
        result = grid_edits.undo(conn, code, who, if_match(), note[:grid_edits.MAX_NOTE], _band())
    return jsonify(_etags(result))


_GEOMETRY = {"type": ["object", "null"]}
_PROBLEM = {"type": "object", "required": ["code", "severity", "message", "grid", "location"], "properties": {
    "code": {"type": "string"}, "severity": {"enum": ["error", "warning"]}, "message": {"type": "string"},
    "grid": {"type": ["string", "null"]}, "location": _GEOMETRY}}
_COUNTS = {"type": "object", "properties": {k: {"type": "integer", "minimum": 0} for k in (
    "houses", "households", "residents", "places", "things", "organizations", "open_events")}}
_ROW = {"type": "object", "required": ["code", "action", "moving_in", "moving_out", "households_after"],
        "properties": {"code": {"type": "string"}, "key": {"type": ["string", "null"]},
                       "action": {"enum": ["change", "create", "retire"]}, "version": {"type": ["integer", "null"]},
                       "moving_in": _COUNTS, "moving_out": _COUNTS, "households_before": {"type": "integer"},
                       "households_after": {"type": "integer"}}}
_EDIT = {"type": "object", "required": ["grids"], "properties": {
    "note": {"type": "string", "maxLength": grid_edits.MAX_NOTE},
    "grids": {"type": "array", "minItems": 1, "maxItems": grid_edits.MAX_GRIDS, "items": {
        "type": "object", "properties": {"code": {"type": "string"}, "key": {"type": "string"},
                                         "version": {"type": "integer"}, "geometry": _GEOMETRY,
                                         "retire": {"type": "boolean"}, "name": {
                                             "type": "string", "minLength": 1, "maxLength": grid_edits.MAX_NAME,
                                             "pattern": f"^{grid_edits.NAME_CHARS}*$"}}}}}}
_APPLIED = {"type": "object", "required": ["parent", "grids", "moved", "audit_id"], "properties": {
    "parent": {"type": "string"}, "audit_id": {"type": "integer"}, "moved": {"type": "array", "items": _ROW},
    "reassigned": {"type": "object", "additionalProperties": {"type": "integer"},
                   "description": "pins whose grid changed, per table (closed events and visits included)"},
    "problems": {"type": "array", "items": _PROBLEM},
    "grids": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "key": {"type": ["string", "null"]}, "action": {"type": "string"},
        "version": {"type": ["integer", "null"]}, "etag": {"type": ["string", "null"]}}}}}}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = {"$ref": "#/components/schemas/Error"}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "the ETags of every existing grid in the edit, as GET /api/grids/{code} gives them"}
_WRITE_ERRORS = {"403": _json(_ERR, "the caller may not edit these grids"),
                 "409": _json(_ERR, "a later edit or a concurrent change won"),
                 "412": _json(_ERR, "a grid changed since it was read"), "428": _json(_ERR, "If-Match missing"),
                 "422": _json(_ERR, "the edit has errors; `problems` lists them")}
_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}

OPENAPI_PATHS = {
    "/api/grids/edits/validate": {"post": {
        "summary": "Check a boundary edit: every problem with its code and location; nothing is written",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _EDIT}}},
        "responses": {"200": _json({"type": "object", "required": ["ok", "problems"], "properties": {
            "ok": {"type": "boolean"}, "parent": {"type": ["string", "null"]},
            "problems": {"type": "array", "items": _PROBLEM}, "limits": {"type": "object"}}}),
            "400": _json(_ERR, "malformed edit")}}},
    "/api/grids/edits/preview": {"post": {
        "summary": "What an edit would move, per grid; nothing is written",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _EDIT}}},
        "responses": {"200": _json({"type": "object", "required": ["ok", "problems", "grids"], "properties": {
            "ok": {"type": "boolean"}, "parent": {"type": ["string", "null"]},
            "problems": {"type": "array", "items": _PROBLEM}, "grids": {"type": "array", "items": _ROW}}}),
            "400": _json(_ERR, "malformed edit")}}},
    "/api/grids/edits": {"post": {
        "summary": "Apply a boundary edit as new grid versions, in one transaction",
        "parameters": [_IF_MATCH],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _EDIT}}},
        "responses": {"200": _json(_APPLIED), **_WRITE_ERRORS}}},
    "/api/grids/{code}/history": {"get": {
        "summary": "Every version of a grid, newest first, with who, when and why", "parameters": [_CODE],
        "responses": {"200": _json({"type": "object", "required": ["code", "versions"], "properties": {
            "code": {"type": "string"}, "versions": {"type": "array", "items": {"type": "object"}}}}),
            "404": _json(_ERR, "unknown grid or outside the caller's scope")}}},
    "/api/grids/{code}/undo": {"post": {
        "summary": "Undo the latest edit touching this grid, as a new validated edit",
        "parameters": [_CODE, {**_IF_MATCH, "description": "the ETag of the grid"}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "note": {"type": "string", "maxLength": grid_edits.MAX_NOTE}}}}}},
        "responses": {"200": _json(_APPLIED), "404": _json(_ERR, "never edited"), **_WRITE_ERRORS}}},
}
