"""`/api/grids`: the grid tree with counts, and one grid with its polygon and version (ETag)."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import text

from data import summary
from mapserver import caller, db, versions

bp = Blueprint("api_grids", __name__)
COUNTED = ("grid", "house", "household", "person", "place", "event")

GRID_SQL = text("""
SELECT g.code, g.version, g.valid_from, g.leader, g.household_target, ST_AsGeoJSON(g.geom, 7) AS geometry,
       array(SELECT k.code FROM grid k WHERE k.valid_to IS NULL AND k.path ~ (g.code || '.*{1}')::lquery
             ORDER BY k.code) AS children
FROM grid g
WHERE g.code = :code AND g.valid_to IS NULL
""")



def _tree(rows: list[dict]) -> list[dict]:
    """Nest the flat, code-ordered rows: a grid's parent is its code's prefix."""
    by_code, roots = {}, []
    for row in rows:
        node = {**row, "children": []}
        by_code[row["code"]] = node
        parent = by_code.get(row["code"].rpartition(".")[0])
        (parent["children"] if parent else roots).append(node)
    return roots


@bp.get("/api/grids")
def grids():
    return jsonify(grids=_tree(summary.grid_counts(db.connection(), scope=caller.current().scope_filter)))


@bp.get("/api/grids/<code>")
def grid(code: str):
    conn = db.connection()
    counts = summary.grid_counts(conn, scope=caller.current().scope_filter, code=code)
    if not counts:  # unknown, retired, or outside the caller's scope: all look the same from outside
        abort(404, description=f"no current grid {code!r} visible to you")
    row = conn.execute(GRID_SQL, {"code": code}).one()._mapping
    # the version is what an edit checks (If-Match); the counts in the body move with the pins
    counts_version = versions.etag(*(versions.snapshot().versions.get(t) for t in COUNTED))
    etag = f"{code}@{row['version']}.{counts_version}"
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    parent = code.rpartition(".")[0] or None
    response = jsonify({
        "type": "Feature", "id": code, "geometry": json.loads(row["geometry"]),
        "properties": {**counts[0], "parent": parent, "children": list(row["children"]),
                       "valid_from": row["valid_from"].isoformat(), "leader": row["leader"],
                       "household_target": row["household_target"]},
    })
    response.headers["ETag"] = f'"{etag}"'
    return response
