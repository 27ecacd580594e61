"""`POST /api/grids/{code}/split`: a drawn line turned into a split proposal (written only when applied)."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from data import grid_split
from mapserver import caller, db

bp = Blueprint("api_grid_split", __name__)


@bp.post("/api/grids/<code>/split")
def split(code: str):
    who = caller.staff_only()
    if not who.sees_grid(code):
        abort(404, description=f"no grid {code!r} visible to you")
    body = request.get_json(silent=False)
    return jsonify(grid_split.proposal(db.connection(), code, (body or {}).get("line")))


OPENAPI_PATHS = {
    "/api/grids/{code}/split": {"post": {
        "summary": "A split drawn as a line, as an edit proposal (nothing written): validate, preview, apply it",
        "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["line"], "properties": {"line": {"type": "object",
                                                                           "description": "GeoJSON LineString"}}}}}},
        "responses": {"200": {"description": "the edit: the grid keeps its largest piece, the others are new grids",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "400": {"description": "not a line, or it does not cross the grid"},
                      "403": {"description": "outside the caller's scope"},
                      "404": {"description": "no such current grid"}}}},
}
