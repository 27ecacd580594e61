"""`GET /grids/{code}/edit`: a grid leader's boundary editor — the grid and its siblings on a folium map
(Leaflet.draw from local assets), live validation, preview, apply with If-Match, history and undo.

The page holds no rules: every check, count and write is the grid edit API's, so the page and a script
see the same answers. `?as=<demo user>` is passed on to every request the page makes.
"""
from __future__ import annotations

import folium
import folium.plugins
from flask import Blueprint, abort, render_template
from folium.elements import JSCSSMixin
from sqlalchemy import text

from data.actors import within
from mapserver import assets, caller, db, security

bp = Blueprint("grid_editor", __name__)

# the grid's parent (or the grid itself, at the top) frames the map: the siblings tile it
GRID_SQL = text("""
SELECT g.name, g.level, ST_XMin(f.geom), ST_YMin(f.geom), ST_XMax(f.geom), ST_YMax(f.geom)
FROM grid g
LEFT JOIN grid p ON p.code = :parent AND p.valid_to IS NULL
CROSS JOIN LATERAL (SELECT coalesce(p.geom, g.geom) AS geom) f
WHERE g.code = :code AND g.valid_to IS NULL
  AND (CAST(:scope AS ltree[]) IS NULL OR g.path <@ CAST(:scope AS ltree[]))
""")


class DrawAssets(JSCSSMixin):
    """Leaflet.draw's script and stylesheet without folium's Draw control: the page builds its own tools."""

    default_js = folium.plugins.Draw.default_js
    default_css = folium.plugins.Draw.default_css


@bp.get("/grids/<code>/edit")
def page(code: str):
    who = caller.staff_only()
    scope = list(who.scope_filter) if who.scope_filter is not None else None
    parent = code.rpartition(".")[0] or None  # a grid's parent is its code's prefix
    row = db.connection().execute(GRID_SQL, {"code": code, "parent": parent, "scope": scope}).first()
    if row is None:  # unknown, retired or outside the caller's scope look the same
        abort(404, description=f"no current grid {code!r} visible to you")
    name, level, west, south, east, north = row
    m = assets.local_map(location=[(south + north) / 2, (west + east) / 2], zoom_start=15)
    m.fit_bounds([[south, west], [north, east]], padding=(20, 20))
    draw = DrawAssets()
    assets.localize(draw)
    draw.add_to(m)

    assets.page_head(m, "grid_editor")
    root = m.get_root()
    root.html.add_child(folium.Element(render_template("grid_editor_panel.html", code=code, name=name,
                                                       level=level, who=who)), name="grid_editor_panel")
    # the siblings come from the parent's children, when the caller may read the parent
    parent_visible = parent is not None and (scope is None or within(parent, scope))
    config = {"code": code, "parent": parent if parent_visible else None, "as": caller.demo_as(),
              "urls": {"grids": "/api/grids/", "validate": "/api/grids/edits/validate",
                       "preview": "/api/grids/edits/preview", "apply": "/api/grids/edits"}}
    root.script.add_child(folium.Element(
        f"window.addEventListener('load', function () {{ MinqingGridEditor.start({m.get_name()}, "
        f"{security.js(config)}); }});"), name="grid_editor_start")
    root.title = f"民情地图 · 边界调整 · {name}"
    return security.map_page(root)


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
OPENAPI_PATHS = {
    "/grids/{code}/edit": {"get": {
        "summary": "A grid leader's boundary editor (HTML): move shared edges, split, merge, validate, preview, "
                   "apply, history and undo",
        "description": (
            "A folium page on local assets (Leaflet.draw). The grid and its siblings are drawn editable; a vertex "
            "shared by two siblings moves in both. Every change is checked by `POST /api/grids/edits/validate` "
            "and its problems drawn on the map (gaps red, overlaps orange, invalid points marked); the preview "
            "lists what would move; apply asks for confirmation and sends `If-Match` with the ETags read. "
            "`as` names a demo account for every request the page makes. Staff only; edits need a grid leader "
            "whose scope holds the grids (the API answers 403 otherwise)."),
        "parameters": [
            {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}, "description": "grid code"},
            {"name": "as", "in": "query", "schema": {"type": "string"}, "description": "demo account, as X-Demo-User"}],
        "responses": {
            "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
            "403": {"description": "citizens cannot edit grids", "content": _ERROR},
            "404": {"description": "no current grid with that code in the caller's scope", "content": _ERROR}}}},
}
