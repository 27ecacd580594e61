"""`/analyst`: draw an area or pick grids, set filters, see the count, a sortable table, a monthly chart
and export links — a folium page on local assets, talking to the same API as everyone else."""
from __future__ import annotations

import html

import folium
import folium.plugins
from flask import Blueprint, render_template
from sqlalchemy import text

from data.vocab import EVENT_SOURCES, EVENT_STATUSES
from layers import catalogue
from layers.geojson import feature_collection
from mapserver import assets, caller, db, security

bp = Blueprint("analyst", __name__)

DISTRICT_SQL = text("""
SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)),
       ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
FROM grid WHERE level = 'district' AND valid_to IS NULL ORDER BY code LIMIT 1
""")


@bp.get("/analyst")
def page():
    who = caller.staff_only()
    conn = db.connection()
    district = conn.execute(DISTRICT_SQL).first()
    lon, lat, *bounds = district if district else (103.75, 36.06, 103.7, 36.0, 103.8, 36.1)
    m = assets.local_map(location=[lat, lon], zoom_start=12)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    cells = feature_collection(conn, catalogue.get("cells"), tuple(bounds), z=12, role=who.role,
                               scope=who.scope_filter) if district else None
    if cells and cells["features"]:
        for f in cells["features"]:  # folium's tooltip writes values as HTML; a grid's name is user text
            f["properties"]["name"] = html.escape(f["properties"].get("name") or "")
        folium.GeoJson(cells, name="网格 cells", style_function=lambda f: {
            "color": "#5d6d7e", "weight": 1, "fillOpacity": 0.03,
            "dashArray": "4 3" if f["properties"].get("kind") == "dedicated" else None},
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["网格", "编码"])).add_to(m)
    draw = folium.plugins.Draw(
        draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                      "polygon": {"allowIntersection": False}, "rectangle": True},
        edit_options={"edit": False})
    assets.localize(draw)
    draw.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)

    root = m.get_root()
    assets.page_head(m, "analyst")
    categories = conn.execute(text("SELECT code, name FROM event_category ORDER BY code")).all()
    communities = conn.execute(text(
        "SELECT code, name FROM grid WHERE valid_to IS NULL AND level IN ('street', 'community') "
        "AND (CAST(:scope AS ltree[]) IS NULL OR path <@ CAST(:scope AS ltree[])) ORDER BY code"),
        {"scope": list(who.scope_filter) if who.scope_filter is not None else None}).all()
    root.html.add_child(folium.Element(render_template(
        "analyst_panel.html", categories=categories, statuses=EVENT_STATUSES, sources=EVENT_SOURCES,
        grids=communities)), name="analyst_panel")
    labels = {"category": dict(categories), "status": {k: zh for k, (zh, _) in EVENT_STATUSES.items()}}
    root.script.add_child(folium.Element(
        f"window.addEventListener('load', function () {{ MinqingAnalyst.start({m.get_name()}, "
        f"{security.js(labels)}); }});"), name="analyst_start")
    root.title = "民情地图 · 事件分析"
    return security.map_page(root)
